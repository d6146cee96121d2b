"""Loading one manifest image for the backbone: bounding-box crop (CUB), resize, scale to [-1, 1].

CUB images are cropped around the bird as the official S2IGAN/StackGAN code does: a square of
half-side ``r = int(0.75 * max(w, h))`` centred on the box centre (so the side is 1.5x the box's
longer side), clipped to the image.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from s2igan.io import BadInputError


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``"[x, y, w, h]"`` -> tuple, ``"[]"``/empty -> None."""
    if text is None or not str(text).strip():
        return None
    box = json.loads(text)
    if not box:
        return None
    if len(box) != 4:
        raise ValueError(f"bbox must be [x, y, w, h], got {text!r}")
    return tuple(float(v) for v in box)  # type: ignore[return-value]


def crop_box(width: int, height: int, bbox: tuple[float, float, float, float]) -> tuple[int, ...]:
    """Pixel box ``(x1, y1, x2, y2)`` of the official bird crop for an image of this size."""
    x, y, w, h = bbox
    r = int(max(w, h) * 0.75)
    cx, cy = int((2 * x + w) / 2), int((2 * y + h) / 2)
    return max(0, cx - r), max(0, cy - r), min(width, cx + r), min(height, cy + r)


def load_image(path: str | Path, size: int, bbox_text: str | None = None) -> torch.Tensor:
    """Image ``(3, size, size)`` float32 in ``[-1, 1]`` (RGB, cropped when a bbox is given)."""
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            bbox = parse_bbox(bbox_text)
            if bbox is not None:
                img = img.crop(crop_box(img.width, img.height, bbox))
            if img.size != (size, size):
                img = img.resize((size, size), Image.BILINEAR, reducing_gap=None)
            arr = np.asarray(img, dtype=np.float32)  # (S, S, 3)
    except (OSError, ValueError) as exc:
        raise BadInputError(path, f"cannot read image ({exc})") from None
    return torch.from_numpy(arr).permute(2, 0, 1) / 127.5 - 1.0
