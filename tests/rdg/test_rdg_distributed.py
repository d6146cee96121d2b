"""Data-parallel RDG step (s2igan.distributed): two gloo processes on the CPU take the steps of
one process at the same global batch (G, discriminators, relation supervisor, EMA)."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from _dist import free_port, gloo_rank
from conftest import E, TinyBackbone, TinyImageEncoder, tiny_dg
from test_rdg import _state, tiny_data

from s2igan import distributed
from s2igan.rdg.config import RDGConfig, RSConfig
from s2igan.rdg.relation import ImageEmbedder
from s2igan.rdg.step import build_nets, global_statistics, train_step
from s2igan.rdg.train import train_rdg

B, STEPS = 6, 3
RS = RSConfig(hidden=8, every=1)             # the relation supervisor on every step
RDG = RDGConfig(batch_size=B, device="cpu", amp=False)   # float32: bf16 rounds the shards apart
# the paper's D (concat head, with its BatchNorm; mismatch term) and params.yaml's profile
# (projection head, contrastive matching head, mode seeking, DiffAugment)
PROFILES = {"paper": (tiny_dg(), RDG),
            "params": (replace(tiny_dg(), d_condition="projection", d_match=1.0),
                       replace(RDG, mode_seeking=1.0, diff_augment="translation"))}
# Gradient-free in exact arithmetic: the biases in front of a BatchNorm (G's per-sample condition
# bias, the relation classifier's first layer) and the running means that follow them. Adam turns
# their rounding-level gradients into full steps, so they differ between any two summation
# orders; through the relation classifier's eval-mode BatchNorm (running statistics) this moves
# g_rs by 3e-5 to 1e-4 relative after 3 steps (the CPU decides), and G's other weights by ~1e-5.
NO_GRADIENT = ("cond.bias", "joint_act.0.running_mean", "relation.net.0.bias",
               "relation.net.1.running_mean")
RTOL = 1e-4
RTOL_G_RS = 1e-3   # g_rs reads the relation classifier through those running means (see above)


def _batches() -> list[dict]:
    gen = torch.Generator().manual_seed(1)
    out = []
    for _ in range(STEPS):
        half = torch.randn(B // 2, E, generator=gen)
        out.append({"images": [torch.rand(B, 3, s, s, generator=gen) * 2 - 1 for s in (16, 32)],
                    "y": F.normalize(torch.cat([half, half]), dim=1),   # mode-seeking pairs
                    "class_id": torch.tensor([0, 1, 2, 0, 1, 2]),
                    "z": torch.randn(B, 8, generator=gen), "eps": torch.randn(B, 6, generator=gen),
                    "gt": torch.randn(B, E, generator=gen), "ri": torch.randn(B, E, generator=gen),
                    "mi": torch.randn(B, E, generator=gen),
                    "wrong": torch.roll(torch.arange(B), 1), "wrong_mask": torch.ones(B)})
    return out


def _run(dg, rdg) -> dict:
    torch.manual_seed(0)
    embedder = ImageEmbedder(TinyBackbone(), TinyImageEncoder())
    nets = build_nets(dg, RS, rdg, E, True, torch.device("cpu"), embedder)
    global_statistics(nets)
    losses = [train_step(nets, b, dg, RS, rdg, True) for b in _batches()]
    return {"losses": losses, "generator": nets.generator.state_dict(),
            "ema": nets.ema.state_dict(), "discriminators": nets.discriminators.state_dict(),
            "relation": nets.relation.state_dict()}


def _worker(rank, world, port, path, dg, rdg):
    with gloo_rank(rank, world, port):
        out = _run(dg, rdg)
        if distributed.is_main():
            torch.save(out, path)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_two_processes_take_the_step_of_one(tmp_path, profile):
    dg, rdg = PROFILES[profile]
    one = _run(dg, rdg)
    mp.spawn(_worker, args=(2, free_port(), tmp_path / "two.pt", dg, rdg), nprocs=2)
    two = torch.load(tmp_path / "two.pt")
    rel = {}
    for step, (a, b) in enumerate(zip(one["losses"], two["losses"])):
        assert a.keys() == b.keys()
        for k in a:
            rel[f"{step}:{k}"] = abs(a[k] - b[k]) / max(abs(a[k]), 1e-3)
    worst = {}
    for part in ("generator", "ema", "discriminators", "relation"):
        for k, v in one[part].items():
            if not v.is_floating_point():
                assert torch.equal(two[part][k], v), (part, k)
            elif not f"{part}.{k}".endswith(NO_GRADIENT):
                worst[f"{part}.{k}"] = float((two[part][k] - v).abs().max() / v.abs().max())
    g_rs = {k: v for k, v in rel.items() if k.endswith(":g_rs")}
    assert max(g_rs.values()) < RTOL_G_RS, g_rs
    rel = {k: v for k, v in rel.items() if k not in g_rs}
    assert max(rel.values()) < RTOL, sorted(rel.items(), key=lambda kv: -kv[1])[:5]
    assert max(worst.values()) < RTOL, sorted(worst.items(), key=lambda kv: -kv[1])[:5]
    assert len(worst) > 40


def _resume_worker(rank, world, port, root):
    """Two processes: 2 epochs straight into a/; 1 epoch, then resumed to 2, into b/."""
    with gloo_rank(rank, world, port):
        dg = replace(tiny_dg(), d_condition="projection", d_match=1.0)
        for name, epochs in (("a", 2), ("b", 1), ("b", 2)):
            torch.distributed.barrier()     # rank 0 has written the checkpoint the others read
            torch.manual_seed(0)            # the same frozen image embedder for every run
            embedder = ImageEmbedder(TinyBackbone(), TinyImageEncoder())
            train_rdg(tiny_data(), dg, RS, replace(RDG, epochs=epochs, batch_size=4,
                                                   mode_seeking=1.0),
                      model_dir=root / name, report_dir=root / f"r{name}", fine_grained=True,
                      embedder=embedder, max_steps=2)
            if name == "b" and epochs == 1 and distributed.is_main():
                shutil.copy(root / "b" / "last.pt", root / "b1.pt")


def test_two_processes_resume_to_the_run_they_would_have_made(tmp_path):
    """A multi-process run that stops after an epoch and is started again ends with the weights
    and losses of the run that was never stopped (``dist.nproc: 2``, `stages/rdg.py` relaunched
    under torchrun after a kill)."""
    mp.spawn(_resume_worker, args=(2, free_port(), tmp_path), nprocs=2)
    ga, da, ha = _state(tmp_path / "a" / "last.pt")
    gb, db, hb = _state(tmp_path / "b" / "last.pt")
    assert [h["epoch"] for h in hb] == [1, 2]
    assert hb[0] == _state(tmp_path / "b1.pt")[2][0]   # resumed: epoch 1's record, its seconds too
    assert [h["d_loss"] for h in ha] == [h["d_loss"] for h in hb]
    worst = max((float((a[k].float() - b[k].float()).abs().max()), k)
                for a, b in ((ga, gb), (da, db)) for k in a)
    assert worst[0] < 1e-6, worst       # the bound of the one-process test (tests/rdg/test_rdg.py)
