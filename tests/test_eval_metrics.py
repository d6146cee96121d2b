"""Evaluation metrics against independent computations: FID (Eq. 19), IS (Eq. 18), the mAP
protocol (Eq. 20-21), attribute accuracy and the judge CNN."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from s2igan.metrics.fid import fid, frechet_distance, gaussian_stats
from s2igan.metrics.inception_score import inception_score
from s2igan.evaluate.judge import JudgeConfig, Judges, predict, train_judge
from s2igan.evaluate.run import EvalConfig, attribute_scores, retrieval_scores


def fid_by_eigen(mu1, s1, mu2, s2) -> float:
    """Independent formula: Tr((S1 S2)^1/2) = Tr((S1^1/2 S2 S1^1/2)^1/2), symmetric eigh only."""
    w, v = np.linalg.eigh(s1)
    r1 = v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T
    w2 = np.linalg.eigvalsh(r1 @ s2 @ r1)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
                 - 2 * np.sum(np.sqrt(np.clip(w2, 0, None))))


def test_fid_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)  # = 5 + 1+1+4
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected)
    # symmetric in its two Gaussians, and zero only between equal ones
    assert frechet_distance(mu2, np.diag(v2), mu1, np.diag(v1)) == pytest.approx(11.0)
    assert frechet_distance(mu1, np.diag(v1), mu1, np.diag(v1)) == pytest.approx(0.0, abs=1e-9)


def test_fid_matches_eigen_formula_on_samples():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6)) + 0.5
    ref = fid_by_eigen(*gaussian_stats(a), *gaussian_stats(b))
    assert fid(a, b) == pytest.approx(ref, rel=1e-6)
    assert fid(a, a) == pytest.approx(0.0, abs=1e-6)


def test_inception_score_known_distributions():
    assert inception_score(np.full((100, 7), 1 / 7), n_splits=10)[0] == pytest.approx(1.0)
    assert inception_score(np.eye(5), n_splits=1) == (pytest.approx(5.0), pytest.approx(0.0))
    two = np.tile(np.eye(4), (10, 1))                      # 40 confident predictions, 4 classes
    mean, std = inception_score(two, n_splits=10)          # every split of 4 holds all classes
    assert mean == pytest.approx(4.0) and std == pytest.approx(0.0)


def test_map_protocol_perfect_and_shuffled():
    rng = np.random.default_rng(1)
    protos = rng.normal(size=(3, 8))
    real_cls = np.repeat(np.arange(3), 4)
    real = protos[real_cls] + 0.01 * rng.normal(size=(12, 8))
    gen_cls = np.repeat(np.arange(3), 5)
    gen = protos[gen_cls] + 0.01 * rng.normal(size=(15, 8))
    cfg = EvalConfig(queries_per_class=2)
    ids = np.array([f"r{i}" for i in range(12)])
    out = retrieval_scores(real, real_cls, ids, gen, gen_cls, ["x"] * 15, True, cfg)
    assert out["gen/map"] == pytest.approx(1.0) and out["protocol/map_queries"] == 6
    # Generated images of the wrong class (cyclic shift) are never relevant in the top ranks.
    bad = retrieval_scores(real, real_cls, ids, gen, (gen_cls + 1) % 3, ["x"] * 15, True, cfg)
    assert bad["gen/map"] < 0.5
    # Scene data: R@k with relevance = the query image's own captions.
    scene = retrieval_scores(real[[0, 4, 8]], real_cls[[0, 4, 8]], ["a", "b", "c"],
                             gen[[0, 5, 10]], gen_cls[[0, 5, 10]],
                             ["a", "b", "c"], False, EvalConfig(recall_k=1))
    assert scene["gen/r1"] == pytest.approx(1.0)


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
