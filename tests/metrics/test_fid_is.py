"""FID (Eq. 19) and IS (Eq. 18) against independent computations on fixed inputs."""

from __future__ import annotations

import numpy as np
import pytest

from s2igan.metrics.fid import fid, frechet_distance, gaussian_stats
from s2igan.metrics.inception_score import inception_score


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
