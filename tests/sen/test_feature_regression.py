"""``sen.feature_regression``: the loss term by hand, its place in the batch objective, the
standardised target, the config's limits, and a tiny training run that logs and resumes it."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from s2igan.config import ConfigError, from_dict
from s2igan.sen.checkpoint import load_state
from s2igan.sen.config import SENConfig
from s2igan.sen.data import carve_validation, load_split
from s2igan.sen.losses import feature_regression_loss, matching_loss
from s2igan.sen.train import batch_losses, standardised, train_sen

from test_sen import TINY, write_dataset


def _linear(weight, bias):
    head = nn.Linear(len(weight[0]), len(weight))
    with torch.no_grad():
        head.weight.copy_(torch.tensor(weight))
        head.bias.copy_(torch.tensor(bias))
    return head


def test_feature_regression_loss_by_hand():
    # y = (3, 4) -> normalised (0.6, 0.8); y = (0, 2) -> (0, 1)
    head = _linear([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]], [0.0, 0.5, -1.0])
    y = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    target = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    # predictions: (0.6, 1.9, 0.6) and (0, 1.5, 1); squared errors: .16 .81 .16 / 0 2.25 1
    expected = (0.16 + 0.81 + 0.16 + 0.0 + 2.25 + 1.0) / 6
    got = feature_regression_loss(head, y, target)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # only the direction of y counts, as for the cosine of Eq. (3)
    assert feature_regression_loss(head, 7 * y, target).item() == pytest.approx(expected, rel=1e-6)


def test_batch_losses_add_the_weighted_term():
    torch.manual_seed(0)
    y, feats = torch.randn(4, 6), torch.randn(4, 5)
    keys = torch.tensor([0, 1, 2, 3])
    image, head = nn.Linear(5, 6), nn.Linear(6, 5)
    targets = torch.randn(4, 5)
    cfg = SENConfig(**{**TINY.__dict__, "distinctive": False, "feature_regression": 2.5})
    out = batch_losses(cfg, y, feats, keys, None, image, None, head, targets)
    match = matching_loss(y, image(feats), keys, cfg.beta)
    regress = feature_regression_loss(head, y, targets)
    assert out["match"].item() == pytest.approx(match.item(), rel=1e-6)
    assert out["regress"].item() == pytest.approx(regress.item(), rel=1e-6)
    assert out["loss"].item() == pytest.approx(match.item() + 2.5 * regress.item(), rel=1e-6)
    plain = batch_losses(SENConfig(**{**TINY.__dict__, "distinctive": False}), y, feats, keys,
                         None, image, None)
    assert "regress" not in plain and plain["loss"].item() == pytest.approx(match.item(), rel=1e-6)


def test_standardised_features():
    f = torch.tensor([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0], [5.0, 5.0, 9.0]])
    z = standardised(f)
    np.testing.assert_allclose(z.mean(0).numpy(), 0, atol=1e-6)
    np.testing.assert_allclose(z[:, [0, 2]].std(0).numpy(), 1, rtol=1e-6)
    np.testing.assert_allclose(z[:, 0].numpy(), [-1, 0, 1], rtol=1e-6)
    assert torch.equal(z[:, 1], torch.zeros(3))  # a constant dimension stays 0, not NaN


@pytest.mark.parametrize("kind", ["teacher_student", "classifier"])
def test_config_refuses_the_term_where_it_has_no_place(kind):
    with pytest.raises((ValueError, ConfigError), match="feature_regression"):
        from_dict(SENConfig, {"kind": kind, "feature_regression": 1.0}, "sen")
    with pytest.raises((ValueError, ConfigError), match="feature_regression"):
        from_dict(SENConfig, {"feature_regression": -1.0}, "sen")
    assert from_dict(SENConfig, {"kind": "text", "feature_regression": 1.0},
                     "sen").feature_regression == 1.0


def _train(root, out, epochs):
    train = load_split(root / "fbank", root / "features", "train")
    tr, va = carve_validation(train, 0.25, np.random.default_rng(0))
    cfg = SENConfig(**{**TINY.__dict__, "epochs": epochs, "feature_regression": 1.0})
    return train_sen(tr, va, "fine_grained", cfg, out, csv_path=out / "loss.csv")


def test_training_logs_the_term_and_resumes_it(tmp_path):
    write_dataset(tmp_path)
    _train(tmp_path, tmp_path / "straight", 2)
    _train(tmp_path, tmp_path / "resumed", 1)
    _train(tmp_path, tmp_path / "resumed", 2)
    history = pd.read_csv(tmp_path / "straight" / "loss.csv")
    assert list(history.columns) == ["epoch", "train/loss", "train/match", "train/distinctive",
                                     "train/regress", "val/map"]
    assert (history["train/regress"] > 0).all()
    total = history["train/match"] + history["train/distinctive"] + history["train/regress"]
    np.testing.assert_allclose(history["train/loss"], total, rtol=1e-4)
    a, b = (load_state(tmp_path / d / "last.pt") for d in ("straight", "resumed"))
    assert a["regressor"]["weight"].shape == (12, 32)   # feat_dim x embed_dim
    for part in ("speech_encoder", "regressor"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    resumed = pd.read_csv(tmp_path / "resumed" / "loss.csv")
    np.testing.assert_allclose(resumed["train/regress"], history["train/regress"], rtol=1e-6)
