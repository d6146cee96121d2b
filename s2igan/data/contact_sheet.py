"""Contact sheet: a grid of example images, each with its class, split and first caption."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from s2igan.data import manifest
from s2igan.io import atomic_path


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def pick_examples(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """First image of ``n`` different classes, alternating between splits (test first); a
    dataset without classes (class_id -1: Flickr8k, your own scene data) gives its first images."""
    imgs = manifest.images(frame)
    by_split = [g[(g["class_id"] < 0) | ~g["class_id"].duplicated()]
                for g in (imgs[imgs["split"] == s] for s in ("test", "train", "val"))]
    queues = [list(g.index) for g in by_split if len(g)]
    picked: list[int] = []
    while len(picked) < n and any(queues):
        for q in queues:
            if q and len(picked) < n:
                picked.append(q.pop(0))
    return imgs.loc[picked]


def contact_sheet(frame: pd.DataFrame, out_png: str | Path, n: int = 12, tile: int = 192,
                  preview_px: int | None = None, columns: int | None = None) -> Path:
    """Write a PNG grid of ``n`` example images with their first caption wrapped underneath.

    ``preview_px`` shows each image as it looks downsampled to that many pixels (e.g. 32, the
    generator's first stage), upscaled back to ``tile`` with nearest-neighbour.
    """
    examples = pick_examples(frame, n)
    columns = columns or min(len(examples), max(1, math.ceil(math.sqrt(len(examples) * 1.5))))
    rows = math.ceil(len(examples) / columns)
    font, small = _font(14), _font(12)
    chars = max(12, int(tile / 7.2))
    text_h = 6 * 17 + 36
    pad = 8
    sheet = Image.new("RGB", (columns * (tile + pad) + pad, rows * (tile + text_h + pad) + pad),
                      "white")
    draw = ImageDraw.Draw(sheet)
    for i, (_, row) in enumerate(examples.iterrows()):
        x = pad + (i % columns) * (tile + pad)
        y = pad + (i // columns) * (tile + text_h + pad)
        with Image.open(row["image_path"]) as img:
            img = img.convert("RGB")
            if preview_px:
                img = img.resize((preview_px, preview_px), Image.LANCZOS)
                img = img.resize((tile, tile), Image.NEAREST)
            else:
                img = img.resize((tile, tile), Image.LANCZOS)
        sheet.paste(img, (x, y))
        label = f"{row['split']}: {row['class_name']}".replace("_", " ")
        for k, line in enumerate(textwrap.wrap(label, int(chars * 1.2))[:2]):
            draw.text((x, y + tile + 3 + 14 * k), line, fill=(90, 90, 90), font=small)
        caption = row["text"] if isinstance(row["text"], str) else "(spoken caption)"
        for k, line in enumerate(textwrap.wrap(caption, chars)[:6]):
            draw.text((x, y + tile + 34 + 17 * k), line, fill=(0, 0, 0), font=font)
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        sheet.save(tmp, format="PNG")
    return out_png
