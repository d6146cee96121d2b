"""Stage `prepare`: make the caption manifest (and, for SynthBirds, render the images).

usage: python stages/prepare.py OUT_DIR REPORT_DIR
params: data
"""

from pathlib import Path

from s2igan.config import from_dict, load_params
from s2igan.data.prepare import DataConfig, prepare
from s2igan.stage import run_stage
from s2igan.tracking import StageRun, stage_params


def main(out_dir: str, report_dir: str) -> None:
    params = load_params()
    cfg = from_dict(DataConfig, params.get("data"), "data")
    sheet = Path(report_dir) / "contact_sheet.png"
    with StageRun("prepare", params=stage_params(params, "data"),
                  metrics_path=Path(report_dir) / "metrics.json") as run:
        metrics = prepare(cfg, out_dir, sheet)
        run.log_artifact(sheet)
        run.log_metrics(metrics)


if __name__ == "__main__":
    run_stage(main, __doc__)
