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


def test_caption_grid_names_its_rows(tmp_path, monkeypatch):
    import s2igan.evaluate.figures as figures

    saved = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: saved.append(fig))
    real, gen = _solid(2, (255, 0, 0)), _solid(2, (0, 0, 255))
    caption_grid(["a", "b"], real, [gen, gen], tmp_path / "g.png", row_labels=["S2IGAN", "Li"])
    caption_grid(["a", "b"], real, [gen], tmp_path / "h.png")
    labels = [[ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()] for fig in saved]
    assert labels == [["real", "S2IGAN", "Li"], ["real", "generated 1"]]


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


def test_interpolation_path_is_unit_and_ends_at_the_two_captions():
    from s2igan.evaluate.sen_figures import interpolate
    a = torch.nn.functional.normalize(torch.tensor([3.0, 0.0, 4.0]), dim=0)
    b = torch.tensor([0.0, 1.0, 0.0])
    path = interpolate(a, b, [0.0, 0.5, 1.0])
    assert torch.allclose(path[0], a) and torch.allclose(path[2], b)
    # the midpoint of two orthogonal unit vectors, renormalised: (a + b) / sqrt(2)
    assert torch.allclose(path[1], (a + b) / 2 ** 0.5)
    assert torch.allclose(path.norm(dim=1), torch.ones(3))


def test_interpolation_grid_draws_every_cell(tmp_path):
    from s2igan.evaluate.figures import interpolation_grid
    rows = np.stack([np.stack([np.full((3, 8, 8), v, np.uint8) for v in (0, 128, 255)])] * 2)
    rows[1, 1] = np.array([255, 0, 0], np.uint8)[:, None, None]
    interpolation_grid(rows, [("a", "b"), ("c", "d")], [0.0, 0.5, 1.0], tmp_path / "i.png")
    assert (255, 0, 0) in {tuple(c) for c in _colours(tmp_path / "i.png")}


def test_sen_attention_weights_are_the_pooling_of_eq_1_2(tmp_path):
    """SpeechEncoder.attention: softmax over the valid steps (0 on padding), and pooling the GRU
    outputs with them gives the encoder's output; the frame of each step is the centre of its
    receptive field; the figure is written."""
    from s2igan.evaluate.sen_figures import attention_figure, frame_centres
    from s2igan.sen.config import SENConfig
    from s2igan.sen.model import SpeechEncoder, recurrent

    torch.manual_seed(0)
    enc = SpeechEncoder(SENConfig(gru_hidden=8, embed_dim=16, att_hidden=8)).eval()
    x, lengths = torch.randn(2, 60, 40), torch.tensor([60, 30])
    with torch.no_grad():
        w = enc.attention(x, lengths)                               # (B, T2, D)
        steps = enc.output_lengths(lengths)
        assert torch.allclose(w.sum(1), torch.ones(2, w.shape[2]))
        assert (w[1, int(steps[1]):] == 0).all() and (w[1, :int(steps[1])] > 0).all()
        conv, _ = enc._convolved(x, lengths)
        h = recurrent(enc.gru, conv, steps, enc.gru_impl)
        pooled = torch.nn.functional.normalize((w * h).sum(1), dim=-1)
        assert torch.allclose(pooled, enc(x, lengths), atol=1e-6)
    k, s = enc.kernel, enc.stride
    # step 0 sees frames 0 .. (k - 1) * s + k - 1: its centre is half of that
    assert frame_centres(enc, 2)[0] == ((k - 1) * s + k - 1) / 2
    assert frame_centres(enc, 2)[1] - frame_centres(enc, 2)[0] == s * s
    attention_figure(enc, x[0].numpy(), "a bird", tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 0
