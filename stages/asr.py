"""Stage `asr`: the two-stage baseline's speech recogniser (Li et al. Table II): pocketsphinx
transcripts of the spoken captions of ``asr.splits``, cached for the `embed` stage, with their
word error rate against the text captions (``<split>/wer``). Does nothing (an empty cache)
unless ``sen.kind: text`` with ``sen.text.source: asr``.

usage: python stages/asr.py PREPARED_DIR SPEECH_DIR TRANSCRIPTS_DIR REPORT_DIR
params: asr, sen.kind, sen.text.source
"""

from pathlib import Path

from s2igan.asr.recognize import ASRConfig, run_asr
from s2igan.config import from_dict, load_params
from s2igan.data import manifest
from s2igan.sen.config import SENConfig
from s2igan.speech.skips import BadInputPolicy
from s2igan.stage import run_stage
from s2igan.tracking import StageRun, stage_params


def main(prepared_dir: str, speech_dir: str, transcripts_dir: str, report_dir: str) -> None:
    all_params = load_params()
    cfg = from_dict(ASRConfig, all_params.get("asr"), "asr")
    sen = from_dict(SENConfig, all_params["sen"], "sen")
    active = sen.kind == "text" and sen.text.source == "asr"
    frame = manifest.read(Path(prepared_dir) / "manifest.parquet")
    policy = BadInputPolicy(cfg.on_bad_input)
    with StageRun("asr", params=stage_params(all_params, "asr", "sen.kind", "sen.text.source"), metrics_path=Path(report_dir) / "metrics.json") as run:
        metrics = run_asr(frame, speech_dir, transcripts_dir, cfg, active, policy)
        run.log_metrics(metrics)
    policy.write(Path(report_dir) / "skipped.json")
    if active:
        print(f"asr: {metrics['asr/clips']} clips in {metrics['time/asr_seconds']} s "
              f"({metrics['asr/x_real_time']}x real time); "
              + ", ".join(f"{k}={v}" for k, v in metrics.items() if k.endswith("/wer")))
    else:
        print("asr: nothing to transcribe (sen.kind is not text with sen.text.source: asr)")


if __name__ == "__main__":
    run_stage(main, __doc__)
