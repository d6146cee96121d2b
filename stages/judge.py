"""Stage `judge`: classifiers that score generated images (Sec. IV-A): the IS classifier over the
dataset's classes and, for SynthBirds, the per-attribute judge, trained on real images at the
generator's final resolution.

usage: python stages/judge.py PREPARED MODEL_DIR REPORT_DIR
params: judge, dg.image_sizes
"""

from pathlib import Path

from s2igan.config import from_dict, load_params
from s2igan.data import manifest as mf
from s2igan.evaluate.judge import JudgeConfig, build_judges
from s2igan.stage import run_stage
from s2igan.tracking import StageRun, stage_params


def main(prepared: str, model_dir: str, report_dir: str) -> None:
    params = load_params()
    cfg = from_dict(JudgeConfig, params.get("judge"), "judge")
    image_size = int(params["dg"]["image_sizes"][-1])
    with StageRun("judge", params=stage_params(params, "judge", "dg.image_sizes"),
                  metrics_path=Path(report_dir) / "metrics.json") as run:
        judges, metrics = build_judges(mf.read(Path(prepared) / "manifest.parquet"), cfg,
                                       image_size)
        judges.save(Path(model_dir) / "judge.pt", cfg)
        run.log_metrics(metrics)


if __name__ == "__main__":
    run_stage(main, __doc__)
