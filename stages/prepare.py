"""Stage `prepare`: make the caption manifest (and, for SynthBirds, render the images).

usage: python stages/prepare.py OUT_DIR REPORT_DIR
params: data
"""

from pathlib import Path

from s2igan.config import from_dict, load_params
from s2igan.data import manifest
from s2igan.data.contact_sheet import contact_sheet
from s2igan.data.synthbirds import SynthBirdsConfig, generate
from s2igan.io import BadInputError, atomic_dir
from s2igan.stage import run_stage
from s2igan.tracking import StageRun, stage_params


def main(out_dir: str, report_dir: str) -> None:
    all_params = load_params()
    params = all_params["data"]
    out, reports = Path(out_dir), Path(report_dir)
    with StageRun("prepare", params=stage_params(all_params, "data"),
                  metrics_path=reports / "metrics.json") as run:
        with atomic_dir(out) as tmp:
            if params["name"] == "synthbirds":
                cfg = from_dict(SynthBirdsConfig, params.get("synthbirds"), "data.synthbirds")
                # Images are written under the temporary dir but recorded under their final path.
                frame = generate(cfg, tmp, seed=int(params["seed"]))
                frame["image_path"] = frame["image_path"].str.replace(str(tmp), str(out), regex=False)
            else:
                from s2igan.data.adapters import load_dataset

                if not params.get("root"):
                    raise BadInputError("params.yaml", f"data.root must be set for {params['name']!r}")
                frame = load_dataset(params["name"], Path(params["root"]))
            manifest.write(frame, tmp / "manifest.parquet")
        sheet = reports / "contact_sheet.png"
        contact_sheet(frame, sheet, n=int(params.get("contact_sheet_images", 12)))
        run.log_artifact(sheet)
        images = manifest.images(frame)
        run.log_metrics({
            "captions": len(frame),
            "images": len(images),
            "classes": int(frame["class_id"].nunique()),
            **{f"{split}/images": int((images["split"] == split).sum())
               for split in sorted(images["split"].unique())},
        })


if __name__ == "__main__":
    run_stage(main, __doc__)
