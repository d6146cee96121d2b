"""Stage `fbank`: 40 log-mel filterbanks (25 ms Hamming, 10 ms shift; Sec. III-B) per caption.

Usage: python stages/fbank.py data/prepared data/speech data/fbank reports/fbank
"""

from pathlib import Path

from s2igan.config import from_dict, load_params
from s2igan.data import manifest
from s2igan.speech.fbank import FbankConfig, run_fbank
from s2igan.speech.skips import BadInputPolicy
from s2igan.stage import run_stage
from s2igan.tracking import StageRun, stage_params


def main(prepared: str, speech_dir: str, fbank_dir: str, report_dir: str) -> None:
    all_params = load_params()
    params = all_params["fbank"]
    cfg = from_dict(FbankConfig, params, "fbank")
    frame = manifest.read(Path(prepared) / "manifest.parquet")
    policy = BadInputPolicy(cfg.on_bad_input)
    with StageRun("fbank", params=stage_params(all_params, "fbank"),
                  metrics_path=Path(report_dir) / "metrics.json") as run:
        metrics = run_fbank(frame, speech_dir, fbank_dir, cfg, policy)
        run.log_metrics(metrics)
    policy.write(Path(report_dir) / "skipped.json")
    print(f"fbank: {metrics['fbank/truncated']} truncated, {metrics['fbank/skipped']} skipped, "
          f"{metrics['fbank/x_real_time']}x real time")


if __name__ == "__main__":
    run_stage(main, __doc__)
