"""scripts/rdg_seeds.py: the one-key override of the compared variant, parsed as `dvc exp run -S`."""

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location(
    "rdg_seeds", Path(__file__).resolve().parents[1] / "scripts" / "rdg_seeds.py")
rdg_seeds = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rdg_seeds)


def test_change_overrides_one_dotted_key_as_yaml_without_touching_the_original():
    base = {"rs": {"enabled": True, "every": 2}, "dg": {"match_beta": 10.0}}
    out = rdg_seeds.with_change(base, "rs.enabled=false")
    assert out["rs"] == {"enabled": False, "every": 2} and base["rs"]["enabled"] is True
    assert rdg_seeds.with_change(base, "dg.match_beta=2.5")["dg"]["match_beta"] == 2.5
    assert rdg_seeds.with_change(base, None) == base


def test_change_of_an_unknown_param_stops_with_its_name():
    with pytest.raises(SystemExit, match="rs.enable"):
        rdg_seeds.with_change({"rs": {"enabled": True}}, "rs.enable=false")
