"""Retrieval metrics against an independent computation (sklearn) on fixed inputs."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from s2igan.metrics.retrieval import (average_precision, average_precisions,
                                      mean_average_precision, recall_at_k, relevance)


def test_average_precision_by_hand():
    # ranking: rel, not, rel, not -> AP = (1/1 + 2/3) / 2
    assert average_precision([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]) == pytest.approx((1 + 2 / 3) / 2)
    assert np.isnan(average_precision([0.3, 0.2], [0, 0]))


def test_map_matches_sklearn_on_random_scores():
    rng = np.random.default_rng(0)
    sim = rng.standard_normal((40, 75))
    rel = relevance(rng.integers(0, 5, 40), rng.integers(0, 5, 75))
    rel[3] = False  # a query with nothing relevant is skipped
    expected = [average_precision_score(r, s) for s, r in zip(sim, rel) if r.any()]
    got = mean_average_precision(sim, rel)
    assert got["map"] == pytest.approx(np.mean(expected), rel=1e-12)
    assert got["n_queries"] == 39 and got["n_skipped"] == 1
    aps = average_precisions(sim, rel, chunk=7)  # chunking does not change anything
    np.testing.assert_allclose(aps[rel.any(1)], expected, rtol=1e-12)


def test_recall_at_k():
    sim = np.array([[0.9, 0.1, 0.5, 0.3],
                    [0.2, 0.8, 0.1, 0.9],
                    [0.1, 0.2, 0.3, 0.4]])
    rel = np.eye(3, 4, dtype=bool)  # query i's own item is i
    # query 0: rank 1; query 1: rank 2; query 2: rank 2 (0.4 > 0.3)
    assert recall_at_k(sim, rel, (1, 2, 3)) == {1: pytest.approx(1 / 3), 2: 1.0, 3: 1.0}
    rng = np.random.default_rng(1)
    sim = rng.standard_normal((30, 200))
    rel = rng.random((30, 200)) < 0.02
    ranks = np.argsort(-sim, axis=1)
    for k in (1, 5, 50):
        brute = np.mean([rel[q, ranks[q, :k]].any() for q in range(30) if rel[q].any()])
        assert recall_at_k(sim, rel, (k,))[k] == pytest.approx(brute)
