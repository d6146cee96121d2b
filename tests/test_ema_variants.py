"""scripts/ema_variants.py: BatchNorm statistics re-estimated as the equal-weight mean over
batches (checked against numpy), and variant folders that swap only the generator's weights."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

spec = importlib.util.spec_from_file_location(
    "ema_variants", Path(__file__).resolve().parents[1] / "scripts" / "ema_variants.py")
ema_variants = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ema_variants)


def test_recalibrated_statistics_are_the_mean_of_the_batch_statistics():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=0.3))
    net[1].running_mean.fill_(7.0)                   # stale statistics, as an EMA's would be
    weight = net[0].weight.clone()
    batches = [torch.randn(n, 3) * (i + 1) + i for i, n in enumerate((5, 8, 6))]
    ema_variants.recalibrate_batchnorm(net, len(batches), lambda m, i: m(batches[i]))
    hidden = [(x @ weight.T + net[0].bias).detach().numpy().astype(np.float64) for x in batches]
    want_mean = np.mean([h.mean(axis=0) for h in hidden], axis=0)
    want_var = np.mean([h.var(axis=0, ddof=1) for h in hidden], axis=0)
    np.testing.assert_allclose(net[1].running_mean.numpy(), want_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(net[1].running_var.numpy(), want_var, rtol=1e-5)
    assert not net.training and net[1].momentum == 0.3
    assert torch.equal(net[0].weight, weight)       # only statistics move, never weights


def test_a_module_without_batchnorm_is_refused():
    with pytest.raises(ValueError, match="no BatchNorm"):
        ema_variants.recalibrate_batchnorm(nn.Linear(2, 2), 1, lambda m, i: None)


def test_a_variant_folder_swaps_the_generator_weights_and_drops_the_resume_checkpoint(tmp_path):
    model = tmp_path / "rdg"
    (model / "condition").mkdir(parents=True)
    (model / "condition" / "cca.npz").write_bytes(b"kept")
    torch.save({"config": {"ngf": 8}, "embed_dim": 4, "generator": {"w": torch.zeros(2)}},
               model / "generator.pt")
    torch.save({"generator": {"w": torch.ones(2)}}, model / "last.pt")
    dest = tmp_path / "scratch" / "live"
    dest.mkdir(parents=True)
    (dest / "stale.txt").write_text("from an earlier run")
    out = ema_variants.variant_folder(model, {"w": torch.full((2,), 3.0)}, dest)
    ckpt = torch.load(out / "generator.pt", weights_only=False)
    assert torch.equal(ckpt["generator"]["w"], torch.full((2,), 3.0))
    assert ckpt["config"] == {"ngf": 8} and ckpt["embed_dim"] == 4
    assert (out / "condition" / "cca.npz").read_bytes() == b"kept"
    assert not (out / "last.pt").exists() and not (out / "stale.txt").exists()
    original = torch.load(model / "generator.pt", weights_only=False)
    assert torch.equal(original["generator"]["w"], torch.zeros(2))
