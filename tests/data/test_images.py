"""The one image loader: the official bird crop, resize to S x S, uint8 <-> [-1, 1]."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from s2igan.data.images import crop_box, load_image, load_images, parse_bbox, to_float, to_uint8
from s2igan.io import BadInputError


def test_cub_crop_follows_the_official_box():
    # box 40x20 at (10, 30): r = 30, centre (30, 40) -> [0, 10, 60, 70] clipped to the image
    assert crop_box(200, 100, (10, 30, 40, 20)) == (0, 10, 60, 70)
    assert crop_box(50, 50, (10, 10, 30, 30)) == (3, 3, 47, 47)
    # StackGAN's centre int(x + w / 2) for fractional boxes
    x, y, w, h = 10.5, 3.25, 41.0, 17.5
    r = int(max(w, h) * 0.75)
    assert crop_box(300, 300, (x, y, w, h))[:2] == (int(x + w / 2) - r, max(0, int(y + h / 2) - r))


def test_parse_bbox():
    assert parse_bbox("[1, 2, 3, 4]") == (1.0, 2.0, 3.0, 4.0) == parse_bbox([1, 2, 3, 4])
    assert parse_bbox("[]") is None and parse_bbox(None) is None and parse_bbox(" ") is None
    with pytest.raises(ValueError, match="x, y, w, h"):
        parse_bbox("[1, 2, 3]")


def test_load_image_crops_and_resizes(tmp_path):
    arr = np.zeros((100, 200, 3), np.uint8)
    arr[10:70, 0:60] = 255  # the cropped region is white
    Image.fromarray(arr).save(tmp_path / "a.png")
    full = load_image(tmp_path / "a.png", 32)
    crop = load_image(tmp_path / "a.png", 32, "[10, 30, 40, 20]")
    assert full.shape == crop.shape == (32, 32, 3) and full.dtype == np.uint8
    assert crop.min() == 255 and full.min() == 0
    crop[0, 0] = 0  # a writable array of its own
    with pytest.raises(BadInputError, match="missing.png"):
        load_image(tmp_path / "missing.png", 32)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(BadInputError, match="not a readable image"):
        load_image(tmp_path / "bad.png", 32)


def test_load_image_resampling_is_pil_bicubic_or_bilinear(tmp_path):
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    img.save(tmp_path / "n.png")
    for resample in (Image.Resampling.BICUBIC, Image.Resampling.BILINEAR):
        expected = np.asarray(img.resize((24, 24), resample))
        np.testing.assert_array_equal(load_image(tmp_path / "n.png", 24, None, resample), expected)
    np.testing.assert_array_equal(load_image(tmp_path / "n.png", 24),
                                  np.asarray(img.resize((24, 24), Image.Resampling.BICUBIC)))


def test_load_images_every_size(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((20, 20, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    table = pd.DataFrame({"image_path": [str(tmp_path / f"{i}.png") for i in range(3)]})
    small, large = load_images(table, (8, 16))
    assert small.shape == (3, 3, 8, 8) and large.shape == (3, 3, 16, 16)
    assert small.dtype == torch.uint8 and small[2].unique().tolist() == [80]


def test_uint8_float_round_trip():
    x = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16).expand(1, 3, 16, 16)
    f = to_float(x)
    assert f.min() == -1.0 and f.max() == 1.0 and f.dtype == torch.float32
    assert torch.equal(to_uint8(f), x)
    assert to_uint8(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]   # clamped
