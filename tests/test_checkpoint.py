"""The one checkpoint module: atomic save, weights-only load, clear errors, RNG round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from s2igan.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from s2igan.config import to_dict
from s2igan.device import resolve_device
from s2igan.io import BadInputError
from s2igan.rdg.config import DGConfig


def test_plain_dicts_round_trip_weights_only(tmp_path):
    state = {"model": torch.nn.Linear(2, 3).state_dict(), "epoch": 3, "name": "x",
             "history": [{"loss": 0.5}], "config": to_dict(DGConfig()), "none": None,
             "rng": rng_state(np.random.default_rng(0))}
    save_checkpoint(tmp_path / "a" / "c.pt", state)
    loaded = load_checkpoint(tmp_path / "a" / "c.pt")
    assert loaded["epoch"] == 3 and loaded["history"] == [{"loss": 0.5}]
    assert torch.equal(loaded["model"]["weight"], state["model"]["weight"])
    assert list(loaded["config"]["image_sizes"]) == list(DGConfig().image_sizes)
    assert not list((tmp_path / "a").glob(".*.tmp"))


def test_objects_are_refused_by_the_weights_only_load(tmp_path):
    save_checkpoint(tmp_path / "obj.pt", {"model": torch.nn.Linear(2, 3)})   # a module, pickled
    with pytest.raises(BadInputError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "obj.pt")


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(BadInputError, match=r"SEN checkpoint not found \(run it\)"):
        load_checkpoint(tmp_path / "none.pt", what="SEN checkpoint", missing="run it")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(BadInputError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")


def test_rng_state_restores_torch_and_numpy(tmp_path):
    rng = np.random.default_rng(5)
    torch.manual_seed(5)
    save_checkpoint(tmp_path / "r.pt", {"rng": rng_state(rng)})
    expected = (torch.rand(3), rng.random(3))
    rng2 = np.random.default_rng(99)
    torch.manual_seed(99)
    set_rng_state(load_checkpoint(tmp_path / "r.pt")["rng"], rng2)
    assert torch.equal(torch.rand(3), expected[0])
    np.testing.assert_array_equal(rng2.random(3), expected[1])


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
