"""Data-parallel SEN training (s2igan.distributed): two gloo processes on the CPU train as one
process at the same global batch; the sharding helpers and the torchrun relaunch."""

import os
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
from _dist import free_port, gloo_rank
from test_sen import TINY, write_dataset

from s2igan import distributed
from s2igan.sen.checkpoint import load_state
from s2igan.sen.config import SENConfig
from s2igan.sen.data import carve_validation, load_split
from s2igan.sen.train import train_sen

# batches of 7 and 5 rows: uneven shards (4 + 3, 3 + 2) over two ranks
CFG = SENConfig(**{**TINY.__dict__, "epochs": 2, "batch_size": 7, "amp": False})  # float32
RTOL = 1e-5     # float32: BN statistics and gradients are summed in another order
# The biases in front of a BatchNorm get no gradient in exact arithmetic (the BN removes any
# shift per channel); Adam turns their rounding-level gradients (~1e-7) into full steps, so
# they, and the running means that follow them, differ between any two summation orders.
NO_GRADIENT = {"conv1.bias", "bn1.bias", "conv2.bias", "bn1.running_mean", "bn2.running_mean"}


def _train(root, model_dir):
    train = load_split(root / "fbank", root / "features", "train")
    tr, va = carve_validation(train, 0.25, np.random.default_rng(0))
    return train_sen(tr, va, "fine_grained", CFG, model_dir, csv_path=model_dir / "loss.csv")


def _worker(rank, world, port, root):
    with gloo_rank(rank, world, port):
        # every rank is handed the same folder: only rank 0 may write into it
        _train(root, root / "ranks")


def test_two_processes_train_as_one(tmp_path):
    write_dataset(tmp_path)
    _train(tmp_path, tmp_path / "single")
    mp.spawn(_worker, args=(2, free_port(), tmp_path), nprocs=2)
    one = pd.read_csv(tmp_path / "single" / "loss.csv")
    two = pd.read_csv(tmp_path / "ranks" / "loss.csv")
    assert list(one.columns) == list(two.columns) and len(one) == len(two) == 2
    np.testing.assert_allclose(two.drop(columns="epoch").to_numpy(),
                               one.drop(columns="epoch").to_numpy(), rtol=RTOL, atol=1e-6)
    a = load_state(tmp_path / "single" / "last.pt")
    b = load_state(tmp_path / "ranks" / "last.pt")
    worst = {}
    for part in ("speech_encoder", "image_encoder", "classifier"):
        for k, v in a[part].items():
            if not v.is_floating_point():
                assert torch.equal(b[part][k], v), (part, k)
            elif k not in NO_GRADIENT:
                worst[k] = float((b[part][k] - v).abs().max() / v.abs().max())
    assert max(worst.values()) < RTOL, worst
    assert sorted(p.name for p in (tmp_path / "ranks").iterdir()) == [
        "best.pt", "last.pt", "loss.csv"]


def test_shards_are_the_batch_in_order():
    for n, world in [(7, 2), (5, 2), (8, 3), (2, 2)]:
        bounds = distributed.shard_bounds(n, world)
        sizes = np.diff(bounds)
        assert bounds[0] == 0 and bounds[-1] == n and sizes.max() - sizes.min() <= 1
    assert distributed.shard(5) == slice(0, 5)            # a single process: the whole batch
    x = torch.ones(3, 2, requires_grad=True)
    assert distributed.gather_rows(x, 3) is x


def test_relaunch_runs_torchrun_only_when_asked(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execv", lambda exe, args: calls.append(args))
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    distributed.relaunch(distributed.DistConfig(nproc=1), ["stages/sen.py", "a"])
    assert calls == []
    distributed.relaunch(distributed.DistConfig(nproc=2), ["stages/sen.py", "a"])
    assert calls == [[sys.executable, "-m", "torch.distributed.run", "--standalone",
                      "--nproc_per_node=2", "stages/sen.py", "a"]]
    monkeypatch.setenv("LOCAL_RANK", "0")          # already a torchrun worker
    distributed.relaunch(distributed.DistConfig(nproc=2), ["stages/sen.py", "a"])
    assert len(calls) == 1


def test_nproc_below_one_is_refused():
    from s2igan.config import ConfigError, from_dict
    with pytest.raises(ConfigError, match="dist.nproc"):
        from_dict(distributed.DistConfig, {"nproc": 0}, "dist")
