"""The ``prepare`` stage's work: one dataset (SynthBirds drawn here, a paper dataset read by its
adapter, or your own data listed in one manifest file) -> the caption manifest, a contact sheet
and the dataset's counts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from s2igan.config import at_least, one_of
from s2igan.data import manifest
from s2igan.data.adapters import ADAPTERS, load_dataset
from s2igan.data.contact_sheet import contact_sheet
from s2igan.data.synthbirds import SynthBirdsConfig, generate
from s2igan.io import BadInputError, atomic_dir, atomic_path, write_json


@dataclass(frozen=True)
class DataConfig:
    """params.yaml section ``data``."""

    name: str = "synthbirds"         # synthbirds | cub | oxford | flickr8k | places | manifest
    root: Path | None = None         # a real dataset's root (original layout; manifest: its folder)
    seed: int = 0                    # SynthBirds draw; manifest: the split when it has none
    synthbirds: SynthBirdsConfig = field(default_factory=SynthBirdsConfig)
    contact_sheet_images: int = 12   # images on reports/data/contact_sheet.png (an output: >= 1)

    def __post_init__(self) -> None:
        one_of("data.name", self.name, ("synthbirds", *ADAPTERS))
        at_least("data.contact_sheet_images", self.contact_sheet_images, 1)


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
    return load_dataset(cfg.name, cfg.root, seed=cfg.seed)


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


def sources(frame: pd.DataFrame) -> dict[str, str]:
    """sha256 of every image and recording a real dataset's manifest names, by path.

    Written into ``out_dir/sources.json``, so ``data/prepared`` changes when a file under
    ``data.root`` changes even where the manifest does not (a re-recorded clip, an edited
    photo): DVC then re-runs the stages that read those files (``tts``/``fbank``, ``features``),
    which depend on ``data/prepared``, not on ``data.root``.
    """
    paths = sorted({*frame["image_path"], *frame["audio_path"].dropna()})
    digests = {}
    for path in paths:
        with open(path, "rb") as fh:
            digests[path] = hashlib.file_digest(fh, "sha256").hexdigest()
    return digests


def prepare(cfg: DataConfig, out_dir: str | Path, sheet_png: str | Path) -> dict[str, int]:
    """Write ``out_dir/manifest.parquet`` (and the SynthBirds images, or a real dataset's
    ``sources.json``, see :func:`sources`) and the contact sheet ``sheet_png``; returns
    :func:`summary` of the manifest.

    All or nothing: both outputs are written under temporary names first (the sheet from the
    images still in the temporary folder), and renamed into place only when both are complete,
    the folder first, then the sheet. A failure on the way (a bad image, the sheet) leaves the
    previous ``out_dir`` and ``sheet_png`` as they were.
    """
    out_dir = Path(out_dir)
    with atomic_path(sheet_png) as sheet_tmp, atomic_dir(out_dir) as tmp:
        frame = load_frame(cfg, out_dir, tmp)
        manifest.write(frame, tmp / "manifest.parquet")
        if cfg.name != "synthbirds":   # (SynthBirds' images are in out_dir itself)
            write_json(tmp / "sources.json", sources(frame))
        staged = frame.copy()
        staged["image_path"] = staged["image_path"].map(lambda p: _staged(p, out_dir, tmp))
        contact_sheet(staged, sheet_tmp, n=cfg.contact_sheet_images)
    return summary(frame)


def _staged(path: str, out_dir: Path, tmp: Path) -> str:
    """Where an image recorded under ``out_dir`` is before ``tmp`` is renamed to ``out_dir``."""
    try:
        return str(tmp / Path(path).relative_to(out_dir))
    except ValueError:   # a real dataset's image, outside out_dir
        return path
