"""The judge CNN learns part colours, survives a weights-only checkpoint round trip, and the
attribute accuracy of generated images is computed against the caption's image attributes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from s2igan.evaluate.judge import JudgeConfig, Judges, predict, train_judge
from s2igan.evaluate.run import attribute_scores


def colour_squares(n: int, seed: int):
    """Images whose top half is colour A and bottom half colour B (two 'attributes')."""
    rng = np.random.default_rng(seed)
    palette = np.array([[220, 30, 30], [30, 200, 30], [30, 30, 220]], np.uint8)
    top, bottom = rng.integers(0, 3, n), rng.integers(0, 3, n)
    x = np.zeros((n, 16, 16, 3), np.uint8)
    x[:, :8] = palette[top][:, None, None]
    x[:, 8:] = palette[bottom][:, None, None]
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), top, bottom


def test_judge_learns_part_colours_and_attribute_scores(tmp_path):
    x, top, bottom = colour_squares(96, 0)
    net = train_judge(x, {"top": top, "bottom": bottom}, JudgeConfig(epochs=15, batch_size=32,
                                                                    width=8))
    xt, tt, bt = colour_squares(40, 1)
    probs = predict(net, xt)
    assert (probs["top"].argmax(1) == tt).mean() > 0.9
    assert (probs["bottom"].argmax(1) == bt).mean() > 0.9
    names = ["red", "green", "blue"]
    judges = Judges(16, None, [], net, {"top": names, "bottom": names})
    judges.save(tmp_path / "judge.pt", JudgeConfig(width=8))
    judges = Judges.load(tmp_path / "judge.pt")
    captions = pd.DataFrame({"attributes": [json.dumps({"top": names[t], "bottom": names[b]})
                                            for t, b in zip(tt, bt)],
                             "text": ["a red top"] * 20 + ["nothing said"] * 20})
    # "Generated" images = the real ones with their bottom half recoloured wrongly.
    wrong = xt.clone()
    wrong[:, :, 8:] = torch.from_numpy(np.array([30, 30, 220], np.uint8))[:, None, None]
    out = attribute_scores(judges, wrong, captions, xt, captions)
    assert out["gen/acc_top"] > 0.9 and out["real_test/acc_bottom"] > 0.9
    assert out["gen/acc_bottom"] == pytest.approx((bt == 2).mean(), abs=0.1)
    assert "gen/acc_top_mentioned" in out and "gen/acc_bottom_mentioned" not in out
