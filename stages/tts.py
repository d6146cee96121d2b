"""Stage `tts`: spoken captions from the text captions (real speech is indexed, not synthesised).

Usage: python stages/tts.py data/prepared data/speech reports/tts
"""

import os
from pathlib import Path

from s2igan.config import from_dict, load_params
from s2igan.data import manifest
from s2igan.speech.synth import TTSConfig, run_tts
from s2igan.stage import run_stage
from s2igan.tracking import StageRun, stage_params


def main(prepared: str, speech_dir: str, report_dir: str) -> None:
    all_params = load_params()
    params = all_params["tts"]
    cfg = from_dict(TTSConfig, params, "tts")
    frame = manifest.read(Path(prepared) / "manifest.parquet")
    with StageRun("tts", params=stage_params(all_params, "tts"),
                  metrics_path=Path(report_dir) / "metrics.json") as run:
        metrics = run_tts(frame, speech_dir, report_dir, cfg, tts_home=os.environ.get("TTS_HOME"))
        run.log_metrics(metrics)
        for wav in sorted((Path(report_dir) / "examples").glob("*.wav")):
            run.log_artifact(wav, "tts_examples")
    print(f"tts: {metrics['tts/captions']} captions, {metrics['tts/unique_syntheses']} syntheses, "
          f"{metrics['tts/x_real_time']}x real time")


if __name__ == "__main__":
    run_stage(main, __doc__)
