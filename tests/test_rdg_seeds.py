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
    both = rdg_seeds.with_change(base, "rs.every=4 dg.match_beta=1")   # several, space-separated
    assert both["rs"]["every"] == 4 and both["dg"]["match_beta"] == 1 and both["rs"]["enabled"]
    grouped = rdg_seeds.seed_table_of(
        [_row("", 0, True, .4), _row("rs.enabled=false rdg.seed=0", 0, False, .2)],
        ["rs.enabled=false rdg.seed=0"]).splitlines()
    assert grouped[0].startswith("| rdg.seed | rs.enabled |")


def test_change_of_an_unknown_param_stops_with_its_name():
    with pytest.raises(SystemExit, match="rs.enable"):
        rdg_seeds.with_change({"rs": {"enabled": True}}, "rs.enable=false")


def _row(change, seed, enabled, crown):
    return {"change": change, "params": {"rdg": {"seed": seed, "epochs": 40},
                                         "rs": {"enabled": enabled}},
            "metrics": {"gen/acc_crown": crown}}


def test_rows_of_two_parallel_runs_join_into_one_table_per_variant(tmp_path):
    import json
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"rows": [_row("", s, True, c) for s, c in [(0, .4), (1, .6)]]}))
    b.write_text(json.dumps({"rows": [_row("rs.enabled=false", s, False, c)
                                      for s, c in [(0, .1), (1, .3)]]}))
    rows = rdg_seeds.joined_rows([a, b])
    assert [(r["change"], r["params"]["rdg"]["seed"]) for r in rows] == [
        ("", 0), ("", 1), ("rs.enabled=false", 0), ("rs.enabled=false", 1)]
    table = rdg_seeds.seed_table_of(rows, ["rs.enabled=false"]).splitlines()
    assert table[0].startswith("| rs.enabled | gen/fid |")
    # sorted by the key's text: False first; sample std of (0.1, 0.3) and (0.4, 0.6) is 0.14
    assert table[2].startswith("| False | – | – | 0.2 ± 0.14 |") and table[2].endswith("| 2 |")
    assert table[3].startswith("| True | – | – | 0.5 ± 0.14 |")


def test_a_seed_run_twice_is_refused_with_the_file_that_repeats_it(tmp_path):
    import json
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for path in (a, b):
        path.write_text(json.dumps({"rows": [_row("", 0, True, .4)]}))
    with pytest.raises(SystemExit, match="b.json: baseline seed 0"):
        rdg_seeds.joined_rows([a, b])
