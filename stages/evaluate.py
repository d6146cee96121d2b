"""Stage `evaluate`: IS (Eq. 18), FID (Eq. 19), mAP (Eq. 20-21) / R@50, SynthBirds attribute
accuracy, inference time and figures of the trained S2IGAN on the test captions (Sec. IV-A).

usage: python stages/evaluate.py PREPARED EMBEDDINGS FEATURES RDG_DIR JUDGE_DIR SEN_DIR REPORT_DIR
params: evaluate, tts.backend, fbank, features.weights
"""

from pathlib import Path

from s2igan.config import from_dict, load_params
from s2igan.evaluate.run import EvalConfig, evaluate, summary_line
from s2igan.speech.frontend import FbankConfig, SpeechFrontend
from s2igan.stage import run_stage
from s2igan.tracking import StageRun, stage_params


def main(prepared, embeddings, features, rdg_dir, judge_dir, sen_dir, report_dir) -> None:
    params = load_params()
    cfg = from_dict(EvalConfig, params.get("evaluate"), "evaluate")
    frontend = SpeechFrontend(fbank=from_dict(FbankConfig, params.get("fbank"), "fbank"),
                              tts_backend=params["tts"]["backend"], voice=cfg.voice,
                              workers=cfg.tts_workers)
    report = Path(report_dir)
    with StageRun("evaluate", params=stage_params(params, "evaluate", "tts.backend", "fbank",
                                                   "features.weights"),
                  metrics_path=report / "metrics.json") as run:
        metrics, figures = evaluate(Path(prepared), Path(embeddings), Path(features),
                                    Path(rdg_dir), Path(judge_dir), Path(sen_dir), report, cfg,
                                    frontend, backbone_weights=params["features"]["weights"])
        run.log_metrics(metrics)
        for fig in figures:
            run.log_artifact(fig)
    print(summary_line(metrics, report))


if __name__ == "__main__":
    run_stage(main, __doc__)
