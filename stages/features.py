"""Stage `features`: pooled ImageNet-backbone features of every manifest image, per split,
plus the real test images' FID statistics (Sec. III-B image encoder input; Eq. 19).

usage: python stages/features.py PREPARED_DIR OUT_DIR REPORT_DIR
params: features
"""

from pathlib import Path

from s2igan.config import from_dict, load_params
from s2igan.features.extract import FeaturesConfig, extract_all
from s2igan.io import atomic_dir
from s2igan.stage import run_stage
from s2igan.tracking import StageRun, stage_params


def main(prepared_dir: str, out_dir: str, report_dir: str) -> None:
    all_params = load_params()
    params = all_params["features"]
    cfg = from_dict(FeaturesConfig, params, "features")
    with StageRun("features", params=stage_params(all_params, "features"),
                  metrics_path=Path(report_dir) / "metrics.json") as run:
        with atomic_dir(out_dir) as tmp:
            metrics = extract_all(Path(prepared_dir) / "manifest.parquet", tmp, cfg)
        run.log_metrics(metrics)


if __name__ == "__main__":
    run_stage(main, __doc__)
