"""Manifest images as arrays: the one loader, the one bounding-box crop, uint8 <-> float.

Every image a stage reads goes through :func:`load_image`: RGB, cropped around its bounding box
when the manifest has one, resized to ``size x size`` (PIL, antialiased).

* Crop (CUB, as the official S2IGAN/StackGAN code): a square of half-side
  ``r = int(0.75 * max(w, h))`` centred on the box centre (side 1.5x the box's longer side),
  clipped to the image.
* Resize: bicubic for the generator's scales (training, judges, evaluation); the ``features``
  stage asks for bilinear at the backbone's input size.
* Range: uint8 on disk and in memory; :func:`to_float` maps to the networks' ``[-1, 1]``
  (``x / 127.5 - 1``) and :func:`to_uint8` back.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm import tqdm

from s2igan.io import BadInputError

Box = tuple[float, float, float, float]


def parse_bbox(box: str | list | tuple | None) -> Box | None:
    """``"[x, y, w, h]"`` (the manifest's JSON) or a sequence -> tuple; ``"[]"``/empty -> None."""
    if box is None or (isinstance(box, str) and not box.strip()):
        return None
    values = json.loads(box) if isinstance(box, str) else box
    if len(values) == 0:
        return None
    if len(values) != 4:
        raise ValueError(f"bbox must be [x, y, w, h], got {box!r}")
    return tuple(float(v) for v in values)  # type: ignore[return-value]


def crop_box(width: int, height: int, bbox: Box) -> tuple[int, int, int, int]:
    """Pixel box ``(x1, y1, x2, y2)`` of the official bird crop for an image of this size."""
    x, y, w, h = bbox
    r = int(max(w, h) * 0.75)
    cx, cy = int((2 * x + w) / 2), int((2 * y + h) / 2)
    return max(0, cx - r), max(0, cy - r), min(width, cx + r), min(height, cy + r)


def load_image(path: str | Path, size: int, bbox: str | list | None = None,
               resample: Image.Resampling = Image.Resampling.BICUBIC) -> np.ndarray:
    """(size, size, 3) uint8 RGB of one image file, cropped to ``bbox`` when given."""
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            box = parse_bbox(bbox)
            if box is not None:
                img = img.crop(crop_box(img.width, img.height, box))
            return np.array(img.resize((size, size), resample), dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise BadInputError(path, f"not a readable image ({exc})") from None


def load_images(table: pd.DataFrame, sizes: tuple[int, ...], desc: str = "load images"
                ) -> list[torch.Tensor]:
    """Every image of ``table`` (``image_path``, optional ``bbox``) at every size, bicubic:
    a list of (N, 3, S, S) uint8 tensors, one per size."""
    out = [np.empty((len(table), s, s, 3), np.uint8) for s in sizes]
    bboxes = table["bbox"] if "bbox" in table else [None] * len(table)
    for i, (path, bbox) in enumerate(tqdm(zip(table["image_path"], bboxes), total=len(table),
                                          desc=desc, unit="img")):
        for k, s in enumerate(sizes):
            out[k][i] = load_image(path, s, bbox)
    return [torch.from_numpy(a).permute(0, 3, 1, 2).contiguous() for a in out]


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, S, S) -> float in [-1, 1]."""
    return images.float().div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] (..., 3, S, S) -> uint8."""
    return images.detach().float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)
