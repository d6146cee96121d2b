"""scripts/vlad_screen.py: the CCA condition computed exactly as the `rdg` stage fits
``dg.condition_projection: cca`` (the VLAD itself: tests/sen/test_vlad.py)."""

import importlib.util
from pathlib import Path

import numpy as np
import torch

from s2igan.rdg.condition import ConditionProjection, fit_projection

spec = importlib.util.spec_from_file_location(
    "vlad_screen", Path(__file__).resolve().parents[1] / "scripts" / "vlad_screen.py")
screen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(screen)


def test_cca_condition_is_the_rdg_stage_fit():
    rng = np.random.default_rng(1)
    shared = rng.normal(size=(400, 3))
    x = np.c_[shared, rng.normal(size=(400, 9))] @ rng.normal(size=(12, 12))
    f = np.c_[shared, rng.normal(size=(400, 5))] @ rng.normal(size=(8, 8))
    test = rng.normal(size=(7, 12))
    ours_train, ours_test = screen.cca_condition(x, f, [test], pca=128, dims=4)
    project = ConditionProjection(12, 4)
    project.set(*fit_projection("cca", x, None, 4, f))
    with torch.no_grad():
        stage = project(torch.from_numpy(test).float()).numpy()
    np.testing.assert_allclose(ours_test, stage, atol=1e-4)
    # the three leading directions are the planted shared signal: it explains them
    lead = ours_train[:, :3] - ours_train[:, :3].mean(axis=0)
    coef, *_ = np.linalg.lstsq(np.c_[shared, np.ones(400)], lead, rcond=None)
    resid = lead - np.c_[shared, np.ones(400)] @ coef
    assert 1 - (resid ** 2).sum() / (lead ** 2).sum() > 0.75   # 0.85 here; random W: < 0.4


def test_cca_condition_with_fewer_image_components_keeps_the_shared_signal():
    rng = np.random.default_rng(2)
    shared = rng.normal(size=(500, 2))
    x = np.c_[shared, rng.normal(size=(500, 10))] @ rng.normal(size=(12, 12))
    f = np.c_[shared, 0.1 * rng.normal(size=(500, 6))] @ rng.normal(size=(8, 8))
    same = screen.cca_condition(x, f, [], pca=12, dims=2, feature_pca=12)[0]
    fewer = screen.cca_condition(x, f, [], pca=12, dims=2, feature_pca=4)[0]
    # with 4 image components the 2 shared directions are still found: the same subspace
    overlap = np.linalg.svd(np.linalg.qr(same)[0].T @ np.linalg.qr(fewer)[0])[1]
    assert overlap.min() > 0.95
    # one image component leaves one canonical direction: the option is applied
    assert screen.cca_condition(x, f, [], pca=12, dims=2, feature_pca=1)[0].shape == (500, 1)
