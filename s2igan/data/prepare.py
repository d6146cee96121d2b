"""The ``prepare`` stage's work: one dataset (SynthBirds drawn here, or a paper dataset read by
its adapter) -> the caption manifest, a contact sheet and the dataset's counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from s2igan.config import at_least, one_of
from s2igan.data import manifest
from s2igan.data.adapters import ADAPTERS, load_dataset
from s2igan.data.contact_sheet import contact_sheet
from s2igan.data.synthbirds import SynthBirdsConfig, generate
from s2igan.io import BadInputError, atomic_dir


@dataclass(frozen=True)
class DataConfig:
    """params.yaml section ``data``."""

    name: str = "synthbirds"         # synthbirds | cub | oxford | flickr8k | places
    root: Path | None = None         # a real dataset's root in its original layout
    seed: int = 0                    # SynthBirds draw
    synthbirds: SynthBirdsConfig = field(default_factory=SynthBirdsConfig)
    contact_sheet_images: int = 12

    def __post_init__(self) -> None:
        one_of("data.name", self.name, ("synthbirds", *ADAPTERS))
        at_least("data.contact_sheet_images", self.contact_sheet_images, 0)


def load_frame(cfg: DataConfig, out_dir: Path, work_dir: Path) -> pd.DataFrame:
    """The dataset's manifest frame; SynthBirds images are written under ``work_dir`` but
    recorded under ``out_dir``, where ``work_dir`` is moved once complete."""
    if cfg.name == "synthbirds":
        frame = generate(cfg.synthbirds, work_dir, seed=cfg.seed)
        frame["image_path"] = frame["image_path"].str.replace(str(work_dir), str(out_dir),
                                                              regex=False)
        return frame
    if not cfg.root:
        raise BadInputError("params.yaml", f"data.root must be set for {cfg.name!r}")
    return load_dataset(cfg.name, cfg.root)


def summary(frame: pd.DataFrame) -> dict[str, int]:
    """Counts of captions, images and classes, and images per split."""
    images = manifest.images(frame)
    return {
        "captions": len(frame),
        "images": len(images),
        "classes": int(frame["class_id"].nunique()),
        **{f"{split}/images": int((images["split"] == split).sum())
           for split in sorted(images["split"].unique())},
    }


def prepare(cfg: DataConfig, out_dir: str | Path, sheet_png: str | Path) -> dict[str, int]:
    """Write ``out_dir/manifest.parquet`` (and the SynthBirds images) atomically and the contact
    sheet ``sheet_png``; returns :func:`summary` of the manifest."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        frame = load_frame(cfg, out_dir, tmp)
        manifest.write(frame, tmp / "manifest.parquet")
    contact_sheet(frame, sheet_png, n=cfg.contact_sheet_images)
    return summary(frame)
