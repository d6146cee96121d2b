"""Mixed precision (s2igan.device): bf16 autocast only where the device computes bf16 natively,
and the training code paths that run under it (the SEN's GRU, one RDG step)."""

import math

import pytest
import torch

from conftest import E, tiny_dg
from s2igan import device as dev
from s2igan.rdg.config import RDGConfig, RSConfig
from s2igan.rdg.step import build_nets, train_step
from s2igan.sen.gru import bigru

CPU = torch.device("cpu")
NATIVE = dev.bf16_native(CPU)


@pytest.mark.parametrize("native, enabled, dtype, bf16", [
    (False, True, torch.float32, False),          # no native bf16: float32 even when asked
    (True, False, torch.float32, False),          # amp off: float32 even where native
    (True, True, torch.bfloat16, True)])
def test_bf16_only_where_native_and_enabled(monkeypatch, native, enabled, dtype, bf16):
    monkeypatch.setattr(dev, "bf16_native", lambda device: native)
    lin = torch.nn.Linear(4, 3)
    with dev.mixed_precision(CPU, enabled):
        assert lin(torch.randn(2, 4)).dtype == dtype
    assert dev.bf16_autocast(CPU, enabled) is bf16


def test_bf16_native_is_false_without_onednn_bf16(monkeypatch):
    def missing():
        raise RuntimeError("no oneDNN")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", missing, raising=False)
    assert dev.bf16_native(CPU) is False
    assert dev.bf16_native(torch.device("meta")) is False


def test_fast_gru_under_autocast_keeps_its_recurrence_in_float32():
    """The scan gets float32 projections under bf16 autocast, so its states and gradients stay
    float32 and close to the float32 run (the input projection alone is rounded to bf16)."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(6, 8, 2, batch_first=True, bidirectional=True)
    x = torch.randn(3, 11, 6, requires_grad=True)
    lengths = torch.tensor([11, 4, 7])
    ref = bigru(x, lengths, gru)
    g_ref = torch.autograd.grad(ref.square().sum(), [x, *gru.parameters()])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = bigru(x, lengths, gru)
    assert out.dtype == torch.float32
    g_out = torch.autograd.grad(out.square().sum(), [x, *gru.parameters()])   # no dtype clash
    assert (out - ref).abs().max() < 0.05
    assert (out - ref).abs().max() > 0            # the projection did run in bf16
    for a, b in zip(g_out, g_ref):
        assert a.dtype == b.dtype == torch.float32
        assert torch.allclose(a, b, atol=0.1, rtol=0.1)
    assert (out[1, 4:] == 0).all()                # padded positions stay zero


@pytest.mark.skipif(not NATIVE, reason="this CPU has no native bf16 (AVX512-BF16 / AMX)")
def test_rdg_step_under_cpu_bf16_is_finite_and_learns():
    torch.manual_seed(0)
    dg, rs = tiny_dg(), RSConfig(enabled=False)
    rdg = RDGConfig(batch_size=4, device="cpu", amp=True)
    nets = build_nets(dg, rs, rdg, E, True, CPU)
    before = [p.detach().clone() for p in nets.generator.parameters()]
    batch = {"images": [torch.rand(4, 3, s, s) * 2 - 1 for s in (16, 32)],
             "y": torch.randn(4, E), "class_id": torch.arange(4),
             "z": torch.randn(4, 8), "eps": torch.randn(4, 6)}
    out = train_step(nets, batch, dg, rs, rdg, True)
    assert all(math.isfinite(v) for v in out.values())
    after = list(nets.generator.parameters())
    assert all(p.dtype == torch.float32 for p in after)     # the weights stay float32
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
