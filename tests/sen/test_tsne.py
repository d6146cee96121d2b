"""The SEN t-SNE figure (paper Fig. 9): which points it keeps, and that it is drawn."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from s2igan.sen.tsne import plot_tsne


def _clusters(n_classes: int, per_class: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, 8)) * 5
    labels = np.repeat(np.arange(n_classes), per_class)
    return centres[labels] + rng.normal(size=(len(labels), 8)), labels


def test_tsne_writes_a_png(tmp_path):
    emb, labels = _clusters(3, 10)
    plot_tsne(emb, labels, tmp_path / "tsne.png", seed=0)
    with Image.open(tmp_path / "tsne.png") as img:
        assert img.format == "PNG" and min(img.size) > 300
    assert not list(tmp_path.glob(".*.tmp"))


def test_tsne_keeps_at_most_the_asked_classes_and_points(tmp_path, monkeypatch):
    seen = {}

    class FakeTSNE:
        def __init__(self, **kwargs):
            seen.update(kwargs)

        def fit_transform(self, x):
            seen["n"] = len(x)
            return x[:, :2]

    monkeypatch.setattr("sklearn.manifold.TSNE", FakeTSNE)
    emb, labels = _clusters(12, 20)
    plot_tsne(emb, labels, tmp_path / "t.png", max_classes=4, max_points=50, seed=1)
    assert seen["n"] == 50 and seen["random_state"] == 1
    assert seen["perplexity"] == pytest.approx(min(30, 49 / 3))


def test_tsne_with_too_few_points_still_writes(tmp_path):
    plot_tsne(np.zeros((3, 4)), np.array([0, 1, 2]), tmp_path / "few.png")
    assert (tmp_path / "few.png").stat().st_size > 0
