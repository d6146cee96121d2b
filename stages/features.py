"""Stage `features`: pooled ImageNet-backbone features of every manifest image, per split,
plus the real test images' FID statistics (Sec. III-B image encoder input; Eq. 19).

usage: python stages/features.py PREPARED_DIR OUT_DIR REPORT_DIR
params: features
"""

import signal
import sys
from pathlib import Path

from s2igan.config import from_dict, load_params
from s2igan.features.extract import FeaturesConfig, extract_all
from s2igan.io import BadInputError, atomic_dir
from s2igan.tracking import StageRun


def main(prepared_dir: str, out_dir: str, report_dir: str) -> None:
    params = load_params()["features"]
    cfg = from_dict(FeaturesConfig, params, "features")
    with StageRun("features", params=params,
                  metrics_path=Path(report_dir) / "metrics.json") as run:
        with atomic_dir(out_dir) as tmp:
            metrics = extract_all(Path(prepared_dir) / "manifest.parquet", tmp, cfg)
        run.log_metrics(metrics)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    # SIGTERM (e.g. a cancelled `dvc repro`) unwinds normally, so temp outputs are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main(*sys.argv[1:])
    except BadInputError as err:
        sys.exit(f"features: bad input: {err}")
