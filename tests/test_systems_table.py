"""scripts/systems_table.py: runs are assigned to the papers' systems by their params, runs of
another profile stay out, and each cell is the mean ± sample std of its runs (checked by hand)."""

import copy
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("systems_table", ROOT / "scripts" / "systems_table.py")
systems_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(systems_table)

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def with_(**changes) -> dict:
    params = copy.deepcopy(PARAMS)
    for dotted, value in changes.items():
        node = params
        *head, last = dotted.split("__")
        for key in head:
            node = node[key]
        node[last] = value
    return params


@pytest.mark.parametrize("changes, system", [
    ({}, "s2igan"),
    ({"rs__enabled": False}, "wo_rs"),
    ({"dg__dense": False}, "wo_dense"),
    ({"rdg__speech_encoder": "joint"}, "wo_sen"),
    ({"rdg__speech_encoder": "end_to_end"}, "end_to_end"),
    ({"rs__kind": "damsm"}, "damsm"),
    ({"sen__kind": "teacher_student", "dg__standardize_condition": False}, "teacher_student"),
    ({"sen__kind": "classifier", "rs__enabled": False, "dg__dense": False}, "classifier"),
    ({"sen__kind": "text", "sen__text__source": "asr"}, "two_stage"),
    ({"sen__kind": "text", "sen__text__source": "truth"}, "text"),
    ({"rs__enabled": False, "dg__dense": False}, None),              # two switches: no paper row
    ({"sen__kind": "classifier"}, None),                             # with the RS: not the baseline
])
def test_each_system_is_recognised_by_its_params(changes, system):
    assert systems_table.system_of(with_(**changes)) == system


def _run(name, params, fid, crown, sen_key="test/map", sen=0.7):
    return {"name": name, "params": params, "source": "test",
            "metrics": {"evaluate/gen/fid": fid, "evaluate/gen/acc_crown": crown,
                        f"sen/{sen_key}": sen}}


def test_cells_are_mean_and_sample_std_and_other_profiles_stay_out():
    runs = [_run("a", with_(), 120.0, 0.40), _run("b", with_(), 130.0, 0.50),
            _run("c", with_(), 140.0, 0.90),
            _run("old", with_(rdg__lr_g=0.0004), 999.0, 0.0),          # another profile
            _run("cls", with_(sen__kind="classifier", rs__enabled=False, dg__dense=False),
                 190.0, 0.29, sen_key="test/speech_map", sen=0.17)]
    text, rows = systems_table.table(runs, PARAMS)
    by = {r["system"]: r for r in rows}
    assert by["s2igan"]["runs"] == ["a", "b", "c"]
    line = next(l for l in text.splitlines() if l.startswith("| S2IGAN (the default)"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    # FID: mean 130, sample std sqrt(((-10)^2 + 0 + 10^2) / 2) = 10
    assert cells[3] == "130 ± 10"
    # crown: mean 0.6, sample std sqrt((0.04 + 0.01 + 0.09) / 2) = sqrt(0.07) = 0.2646
    assert cells[6] == "0.600 ± 0.265"
    cls = next(l for l in text.splitlines() if l.startswith("| classifier-based"))
    cls_cells = [c.strip() for c in cls.strip("|").split("|")]
    assert cls_cells[2] == "1" and cls_cells[3] == "190" and cls_cells[6] == "0.290"
    assert cls_cells[13] == "0.170"        # speech -> speech mAP stands in for the SEN column
    assert cls_cells[15] == "43.76"         # the paper's number beside ours
    joint = [_run("j", with_(rdg__speech_encoder="joint"), 200.0, 0.2)]
    jline = next(l for l in systems_table.table(joint, PARAMS)[0].splitlines()
                 if l.startswith("| S2IGAN w/o SEN"))
    assert [c.strip() for c in jline.strip("|").split("|")][13] == "—"   # not the SEN it used
    empty = next(l for l in text.splitlines() if l.startswith("| S2IGAN w/o dense"))
    assert "| 0 | — |" in empty


def test_collect_stores_params_and_stage_metrics_and_refuses_an_unfinished_run(tmp_path):
    run = tmp_path / "run"
    (run / "reports" / "evaluate").mkdir(parents=True)
    (run / "reports" / "sen").mkdir(parents=True)
    (run / "params.yaml").write_text(yaml.safe_dump(with_(rs__enabled=False)))
    (run / "reports" / "sen" / "metrics.json").write_text(json.dumps({"test/map": 0.7}))
    with pytest.raises(SystemExit, match="no reports/evaluate/metrics.json"):
        systems_table.collect(run, "x", "cmd", "m", tmp_path / "out")
    (run / "reports" / "evaluate" / "metrics.json").write_text(
        json.dumps({"gen/fid": 150.0, "protocol/split": "test"}))
    (run / "run.log").write_text("Running stage 'rdg':\n")       # system_run.sh, unfinished
    with pytest.raises(SystemExit, match="no wall_seconds line"):
        systems_table.collect(run, "x", "cmd", "m", tmp_path / "out")
    (run / "run.log").write_text("Running stage 'rdg':\nwall_seconds 900\n")
    out = systems_table.collect(run, "wors_seed0", "dvc exp run -S rs.enabled=false", "m",
                                tmp_path / "out")
    stored = json.loads(out.read_text())
    assert stored["system"] == "wo_rs" and stored["command"].endswith("rs.enabled=false")
    runs = systems_table.load_runs(tmp_path / "out")
    assert runs[0]["metrics"] == {"sen/test/map": 0.7, "evaluate/gen/fid": 150.0}


def test_every_system_has_the_papers_numbers():
    assert set(systems_table.PAPER) == {k for k, _, _ in systems_table.SYSTEMS}


def test_a_pinned_profile_selects_its_runs_and_shows_the_override_in_every_command():
    runs = [_run("now", with_(), 120.0, 0.40), _run("then", with_(rdg__epochs=7), 130.0, 0.50),
            _run("then_rs", with_(rdg__epochs=7, rs__enabled=False), 140.0, 0.45)]
    text, rows = systems_table.table(runs, PARAMS, ["rdg.epochs=7"])
    by = {r["system"]: r for r in rows}
    assert by["s2igan"]["runs"] == ["then"] and by["wo_rs"]["runs"] == ["then_rs"]
    assert "| S2IGAN | `dvc exp run -S rdg.epochs=7` | 1 |" in text
    assert "| S2IGAN w/o RS | `-S rdg.epochs=7 -S rs.enabled=false` | 1 |" in text
    assert systems_table.table(runs, PARAMS)[1][0]["runs"] == ["now"]
    with pytest.raises(SystemExit, match="no_such_key"):
        systems_table.table(runs, PARAMS, ["rdg.no_such_key=1"])


def test_the_readme_table_is_the_scripts_output():
    readme = (ROOT / "README.md").read_text()
    marker, rest = readme.split("<!-- systems-table: python scripts/systems_table.py table", 1)
    args, rest = rest.split("-->", 1)
    at = args.split()[1:] if args.split()[:1] == ["--at"] else []
    block = rest.split("<!-- /systems-table -->", 1)[0].strip()
    text, _ = systems_table.table(systems_table.load_runs(), PARAMS, at)
    assert block == text


def test_system_run_refuses_a_base_without_outputs(tmp_path):
    """scripts/system_run.sh stops before cloning when BASE has not run `dvc repro`."""
    script = ROOT / "scripts" / "system_run.sh"
    env = {**os.environ, "BASE": str(tmp_path / "nowhere"), "SCRATCH": str(tmp_path / "runs")}
    res = subprocess.run(["bash", str(script), "x", "-S", "rs.enabled=false"], env=env,
                         capture_output=True, text=True)
    assert res.returncode == 2 and "nowhere: no dvc.lock" in res.stderr
    assert not (tmp_path / "runs").exists()
    env.pop("BASE")
    res = subprocess.run(["bash", str(script), "x"], env=env, capture_output=True, text=True)
    assert res.returncode != 0 and "set BASE" in res.stderr


def test_system_run_refuses_a_repository_without_its_environment(tmp_path):
    """Without the repository's .venv the runner says so before cloning, not at `activate`."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    script = repo / "scripts" / "system_run.sh"
    script.write_text((ROOT / "scripts" / "system_run.sh").read_text())
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    base = tmp_path / "base"
    (base / ".dvc" / "cache").mkdir(parents=True)
    (base / "dvc.lock").write_text("schema: '2.0'\n")
    env = {**os.environ, "BASE": str(base), "SCRATCH": str(tmp_path / "runs")}
    res = subprocess.run(["bash", str(script), "x"], env=env, capture_output=True, text=True)
    assert res.returncode == 2 and "/.venv: no virtual environment" in res.stderr
    assert not (tmp_path / "runs").exists()
