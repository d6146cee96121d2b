"""Stage `judge`: classifiers that score generated images (Sec. IV-A): the IS classifier over the
dataset's classes and, for SynthBirds, the per-attribute judge, trained on real images at the
generator's final resolution.

usage: python stages/judge.py PREPARED MODEL_DIR REPORT_DIR
params: evaluate (judge_*), dg.image_sizes
"""

from pathlib import Path

from s2igan.config import load_params
from s2igan.data import manifest as mf
from s2igan.metrics.judge import JudgeConfig, build_judges
from s2igan.stage import run_stage
from s2igan.tracking import StageRun, stage_params


def main(prepared: str, model_dir: str, report_dir: str) -> None:
    params = load_params()
    ev = params.get("evaluate", {})
    cfg = JudgeConfig(image_size=int(params["dg"]["image_sizes"][-1]),
                      epochs=int(ev.get("judge_epochs", 20)),
                      batch_size=int(ev.get("batch_size", 64)),
                      lr=float(ev.get("judge_lr", 0.002)), width=int(ev.get("judge_width", 16)),
                      seed=int(ev.get("seed", 0)))
    with StageRun("judge", params=stage_params(params, "evaluate", "dg.image_sizes"),
                  metrics_path=Path(report_dir) / "metrics.json") as run:
        judges, metrics = build_judges(mf.read(Path(prepared) / "manifest.parquet"), cfg)
        judges.save(Path(model_dir) / "judge.pt", cfg)
        run.log_metrics(metrics)


if __name__ == "__main__":
    run_stage(main, __doc__)
