"""The prepare stage's contact sheet: which examples it picks and the grid it draws."""

from __future__ import annotations

import numpy as np
from PIL import Image

from s2igan.data.contact_sheet import contact_sheet, pick_examples


def test_pick_examples_one_per_class_alternating_splits(image_manifest):
    picked = pick_examples(image_manifest, 4)
    assert list(picked["split"]) == ["test", "train", "test", "train"]
    # at most one image per class within a split, first image of each class
    assert list(picked["image_id"]) == ["im4", "im0", "im5", "im1"]
    assert len(pick_examples(image_manifest, 50)) == 5   # 2 test + 3 train classes


def test_contact_sheet_grid_and_preview(image_manifest, tmp_path):
    out = contact_sheet(image_manifest, tmp_path / "sheet.png", n=4, tile=32, columns=2)
    with Image.open(out) as sheet:
        assert sheet.size[0] == 2 * (32 + 8) + 8
        cells = np.asarray(sheet.convert("RGB"))
    assert not (cells[8:40, 8:40] == 255).all()            # an image in the first cell
    preview = contact_sheet(image_manifest, tmp_path / "p.png", n=1, tile=32, preview_px=4)
    with Image.open(preview) as sheet:
        tile = np.asarray(sheet.convert("RGB"))[8:40, 8:40]
    assert len(np.unique(tile.reshape(-1, 3), axis=0)) <= 16  # 4x4 pixels, upscaled
    assert not list(tmp_path.glob(".*.tmp"))
