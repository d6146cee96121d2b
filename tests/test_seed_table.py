"""scripts/seed_table.py: runs grouped by params, mean ± sample std over seeds."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "seed_table", Path(__file__).resolve().parents[1] / "scripts" / "seed_table.py")
seed_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seed_table)


def _entry(rev, enabled, seed, fid):
    return {"rev": rev, "data": {
        "params": {"params.yaml": {"data": {"rs": {"enabled": enabled}, "rdg": {"seed": seed}}}},
        "metrics": {seed_table.METRICS_FILE: {"data": {"gen/fid": fid}}}}}


def test_groups_by_param_and_averages_over_seeds():
    head = _entry("abc", True, 0, 10.0)
    head["experiments"] = [{"revs": [_entry("e1", True, 1, 14.0)]},
                           {"revs": [_entry("e2", False, 0, 3.0)]},
                           {"revs": [_entry("e3", False, 1, 5.0)]},
                           {"executor": {"state": "running"},        # shows the baseline's
                            "revs": [_entry("e5", False, 2, 10.0)]}]  # numbers until it ends
    older = _entry("old", True, 0, 10.0)          # the same baseline one commit earlier ...
    older["experiments"] = [{"revs": [_entry("e4", True, 2, 12.0)]}]   # ... with one experiment
    shown = [{"rev": "workspace", "data": {}}, head, older]
    rows = seed_table.runs(shown)
    assert len(rows) == 5       # no workspace row, the older commit's baseline not twice
    text = seed_table.table(rows, ["rs.enabled"], ["gen/fid"])
    lines = text.splitlines()
    # True: 10, 14, 12 -> mean 12, sample std 2; False: 3 and 5 -> mean 4, std 1.4
    assert lines[2] == "| False | 4 ± 1.4 | 2 |"
    assert lines[3] == "| True | 12 ± 2 | 3 |"


def test_a_param_older_runs_lack_groups_them_as_absent():
    new = ({"rdg": {"seed": 0, "lr_decay_from": 0.5}}, {"gen/fid": 8.0})
    old = [({"rdg": {"seed": s}}, {"gen/fid": fid}) for s, fid in ((1, 2.0), (2, 4.0))]
    lines = seed_table.table([new, *old], ["rdg.lr_decay_from"], ["gen/fid"]).splitlines()
    assert lines[2] == "| (absent) | 3 ± 1.4 | 2 |"
    assert lines[3] == "| 0.5 | 8 ± nan | 1 |"
