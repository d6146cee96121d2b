"""The evaluate stage's figures: the test-caption grid and the colour grid of paper Fig. 7."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from s2igan.evaluate.figures import caption_grid, colour_grid


def _solid(n: int, colour: tuple[int, int, int], size: int = 16) -> torch.Tensor:
    return torch.tensor(colour, dtype=torch.uint8)[None, :, None, None].expand(n, 3, size, size)


def _colours(path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.unique(np.asarray(img.convert("RGB")).reshape(-1, 3), axis=0)


def test_caption_grid_shows_real_and_generated_rows(tmp_path):
    real, gen1, gen2 = _solid(3, (255, 0, 0)), _solid(3, (0, 0, 255)), _solid(3, (0, 255, 0))
    caption_grid(["a red bird", "a very long caption " * 4, "c"], real, [gen1, gen2],
                 tmp_path / "grid.png")
    colours = {tuple(c) for c in _colours(tmp_path / "grid.png")}
    assert {(255, 0, 0), (0, 0, 255), (0, 255, 0)} <= colours
    assert not list(tmp_path.glob(".*.tmp"))


def test_colour_grid_places_each_image_in_its_cell(tmp_path):
    images = np.zeros((2, 3, 3, 8, 8), np.uint8)
    images[0, 0, 0] = 255          # the (first row, first column) cell is red, the others black
    colour_grid(images, ["red", "blue"], ["red", "green", "blue"], tmp_path / "colours.png")
    with Image.open(tmp_path / "colours.png") as img:
        rgb = np.asarray(img.convert("RGB")).astype(int)
    red = np.argwhere((rgb[..., 0] > 200) & (rgb[..., 1] < 50) & (rgb[..., 2] < 50))
    black = np.argwhere(rgb.sum(-1) < 30)
    assert len(red) and len(black)
    # the red cell is above and left of most black pixels (row 0, column 0)
    assert red[:, 0].mean() < black[:, 0].mean() and red[:, 1].mean() < black[:, 1].mean()
