"""Typed, range-checked params: a wrong type or an out-of-range value in params.yaml fails in
one line naming its key, in the `check` stage, before any stage does work."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import yaml
from conftest import check_stage

from s2igan.config import ConfigError, from_dict, load_params
from s2igan.rdg.config import RDGConfig
from s2igan.sen.config import SENConfig
from s2igan.tracking import StageRun, TrackingWarning

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    """A working directory holding a copy of the repository's params.yaml; MLflow off."""
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "mlflow", None)   # `import mlflow` fails: JSON only
    return tmp_path


def _set(path: Path, section: str, key: str, value) -> None:
    params = yaml.safe_load(path.read_text())
    params[section][key] = value
    path.write_text(yaml.safe_dump(params))


@pytest.mark.parametrize("section, key, value, message", [
    ("sen", "batch_size", -8, r"sen\.batch_size must be >= 1, got -8"),
    ("sen", "distinctive", "false", r"sen\.distinctive: got 'false' \(str\), expected a bool"),
    ("sen", "epochs", "ten", r"sen\.epochs: got 'ten' \(str\), expected an int"),
    ("sen", "epochs", -1, r"sen\.epochs must be >= 1, got -1"),
    ("sen", "lr", 0, r"sen\.lr must be > 0"),
    ("rdg", "epochs", 0, r"rdg\.epochs must be >= 1, got 0"),
    ("rdg", "batch_size", True, r"rdg\.batch_size: got True \(bool\), expected an int"),
    ("judge", "epochs", 2.5, r"judge\.epochs: got 2\.5 \(float\), expected an int"),
    ("fbank", "frame_shift_ms", None, r"fbank\.frame_shift_ms: got None"),
    ("features", "batch_size", 0, r"features\.batch_size must be >= 1"),
    ("tts", "backend", "festival", r"tts\.backend must be one of"),
    ("evaluate", "batch_size", -1, r"evaluate\.batch_size must be >= 1"),
])
def test_check_stage_refuses_a_bad_value_naming_its_key(workspace, section, key, value, message):
    _set(workspace / "params.yaml", section, key, value)
    with pytest.raises(ConfigError, match=message):
        check_stage().main(str(workspace / "reports/check"))
    assert not (workspace / "reports/check/ok.json").exists()


def test_check_stage_lists_every_problem_one_line_each(workspace):
    _set(workspace / "params.yaml", "sen", "batch_size", -8)
    _set(workspace / "params.yaml", "rdg", "epochs", 0)
    with pytest.raises(ConfigError) as info:
        check_stage().main(str(workspace / "reports/check"))
    lines = str(info.value).splitlines()
    assert len(lines) == 2 and lines[0].startswith("sen.batch_size") and "rdg.epochs" in lines[1]


def test_check_stage_passes_the_repository_params(workspace):
    with pytest.warns(TrackingWarning):
        check_stage().main(str(workspace / "reports/check"))
    ok = json.loads((workspace / "reports/check/ok.json").read_text())
    assert "sen" in ok["sections"] and "rdg" in ok["sections"]


def test_check_stage_runs_before_prepare():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert "reports/check/ok.json" in stages["prepare"]["deps"]
    assert sorted(stages["check"]["params"]) == sorted(load_params(REPO / "params.yaml"))


def test_run_stage_prints_a_bad_param_in_one_line(tmp_path):
    import subprocess
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    _set(tmp_path / "params.yaml", "sen", "batch_size", -8)
    out = subprocess.run([sys.executable, str(REPO / "stages/check.py"), "reports/check"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                              "OMP_NUM_THREADS": "1", "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    assert out.returncode == 1
    assert out.stderr.strip() == "check: bad params: sen.batch_size must be >= 1, got -8"


@pytest.mark.parametrize("value, expected", [(8, 8), (8.0, 8)])
def test_whole_numbers_are_ints(value, expected):
    cfg = from_dict(SENConfig, {"batch_size": value}, "sen")
    assert cfg.batch_size == expected and type(cfg.batch_size) is int


def test_none_only_where_optional():
    from s2igan.speech.frontend import FbankConfig
    assert from_dict(FbankConfig, {"max_frames": None}, "fbank").max_frames is None
    with pytest.raises(ConfigError, match=r"rdg\.lr_g: got None"):
        from_dict(RDGConfig, {"lr_g": None}, "rdg")


def test_fixed_length_tuples_are_checked():
    with pytest.raises(ConfigError, match=r"rdg\.betas: .*expected a list of 2 items"):
        from_dict(RDGConfig, {"betas": [0.5]}, "rdg")
    with pytest.raises(ConfigError, match=r"rdg\.betas\[1\] must be in \[0, 1\)"):
        from_dict(RDGConfig, {"betas": [0.5, 1.5]}, "rdg")


def test_every_default_is_valid():
    stage = check_stage()
    for cls in stage.SECTIONS.values():
        cls()   # the dataclass defaults pass their own checks


def test_non_finite_metrics_become_null_with_a_warning(tmp_path, monkeypatch):
    """JSON never holds -Infinity/NaN (it is not JSON): a non-finite final metric is written as
    null, with a TrackingWarning naming the key."""
    monkeypatch.setitem(sys.modules, "mlflow", None)
    path = tmp_path / "metrics.json"
    with pytest.warns(TrackingWarning, match=r"best/val_map"):
        with StageRun("sen", metrics_path=path) as run:
            run.log_metrics({"best/val_map": -math.inf, "test/map": 0.5, "x": math.nan})
    text = path.read_text()
    assert "Infinity" not in text and "NaN" not in text
    metrics = json.loads(text)
    assert metrics["best/val_map"] is None and metrics["x"] is None and metrics["test/map"] == 0.5
