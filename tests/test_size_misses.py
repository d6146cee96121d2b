"""scripts/size_misses.py: the per-size tally of drawn and read sizes, checked by hand on tiny
inputs, and the blur it judges real images under."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

spec = importlib.util.spec_from_file_location(
    "size_misses", Path(__file__).resolve().parents[1] / "scripts" / "size_misses.py")
size_misses = importlib.util.module_from_spec(spec)
spec.loader.exec_module(size_misses)


def test_miss_table_splits_drawn_misses_by_whether_the_code_read_the_size():
    truth = np.array(["small", "small", "small", "large", "large"])
    code = np.array(["small", "large", "small", "large", "large"])
    drawn = np.array([["large", "large", "small", "large", "small"],     # noise seed 0
                      ["small", "large", "large", "large", "large"]])    # noise seed 1
    got = size_misses.miss_table(truth, code, drawn)
    # small: 6 drawings, 2 right; the code read rows 0 and 2 right (4 of 6 drawings);
    # misses: row 0 seed 0 and row 2 seed 1 with the code right, row 1 twice with it wrong
    assert got["small"] == {"n": 3, "drawn_right": pytest.approx(2 / 6),
                            "code_right": pytest.approx(4 / 6),
                            "drawn_miss_code_right": 2, "drawn_miss_code_wrong": 2}
    assert got["large"] == {"n": 2, "drawn_right": 0.75, "code_right": 1.0,
                            "drawn_miss_code_right": 1, "drawn_miss_code_wrong": 0}
    with pytest.raises(ValueError, match="same rows"):
        size_misses.miss_table(truth, code, drawn[:, :4])


def test_blur_keeps_an_image_at_radius_zero_and_softens_an_edge_otherwise():
    img = torch.zeros(1, 3, 16, 16, dtype=torch.uint8)
    img[..., 8:] = 255
    assert torch.equal(size_misses.blurred(img, 0.0), img)
    soft = size_misses.blurred(img, 1.5)
    assert soft.shape == img.shape and soft.dtype == torch.uint8
    row = soft[0, 0, 8].tolist()
    assert row[0] == 0 and row[-1] == 255 and 0 < row[7] < 255 and 0 < row[8] < 255
