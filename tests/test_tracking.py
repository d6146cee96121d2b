"""The tracking facade writes the DVC metrics JSON and a real MLflow run (same keys, same
values; strings as tags; prefixed params; a run name with the git revision), refuses a final key
that reuses a curve key, and survives a dead store."""

import json
import subprocess
import warnings

import numpy as np
import pytest

from s2igan.tracking import StageRun, TrackingWarning, git_describe, stage_params

PARAMS = {"data": {"seed": 0, "synthbirds": {"n_classes": 48}},
          "sen": {"beta": 10.0, "distinctive": True, "lr": 0.001},
          "features": {"backbone": "efficientnet_lite0", "weights": None, "batch_size": 32}}


def _mlflow_runs(uri):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("s2igan")
    return client, client.search_runs([exp.experiment_id])


def _git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                          capture_output=True, text=True, check=True).stdout.strip()


def _repo(path):
    """A git repository with one committed code file, s2igan/x.py."""
    (path / "s2igan").mkdir(parents=True)
    (path / "s2igan" / "x.py").write_text("x = 1\n")
    _git(path, "init", "-q")
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "one")
    return _git(path, "rev-parse", "--short", "HEAD")


def test_stage_params_take_dvc_yaml_names_and_keep_the_section():
    assert stage_params(PARAMS, "sen") == {"sen": PARAMS["sen"]}
    assert stage_params(PARAMS, "data", "features.backbone", "features.weights", "rdg.epochs") == {
        "data": PARAMS["data"],
        "features": {"backbone": "efficientnet_lite0", "weights": None},
        "rdg": {"epochs": None}}


def test_git_describe_marks_uncommitted_code_only(tmp_path):
    assert git_describe(tmp_path) == ""            # not a repository
    short = _repo(tmp_path)
    assert git_describe(tmp_path) == short
    (tmp_path / "notes.txt").write_text("untracked, not code\n")
    assert git_describe(tmp_path) == short
    (tmp_path / "s2igan" / "x.py").write_text("x = 2\n")
    assert git_describe(tmp_path) == short + "*"


def test_final_key_must_differ_from_curve_keys():
    run = StageRun("sen")  # not entered: no MLflow, the check is the same
    run.log_step({"val/map": 0.5, "train/loss": 1.0}, step=1)
    with pytest.raises(ValueError, match="val/map"):
        run.log_metrics({"val/map": 0.9})
    run.log_metrics({"best/val_map": 0.9})
    assert run.metrics == {"best/val_map": 0.9}


def test_metrics_json_and_mlflow_run(tmp_path, monkeypatch):
    short = _repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-test")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    png = tmp_path / "grid.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    final = {"test/map": 0.625, "best/epoch": 24, "classes": np.int64(48), "gen/ok": True,
             "protocol/backbone": "efficientnet_lite0", "protocol/weights": None}
    with StageRun("sen", params=stage_params(PARAMS, "sen", "features.backbone"),
                  metrics_path=tmp_path / "reports" / "metrics.json", tracking_uri=uri) as run:
        run.log_step({"train/loss": 2.0, "val/map": 0.5}, step=1)
        run.log_step({"train/loss": 1.5, "val/map": 0.75}, step=2)
        run.log_artifact(png)
        run.log_artifact(png, "samples")
        run.log_metrics(final)

    metrics = json.loads((tmp_path / "reports" / "metrics.json").read_text())
    seconds = metrics.pop("time/stage_seconds")
    assert isinstance(seconds, float) and seconds >= 0
    assert metrics == {"test/map": 0.625, "best/epoch": 24, "classes": 48, "gen/ok": 1,
                       "protocol/backbone": "efficientnet_lite0", "protocol/weights": None}

    client, runs = _mlflow_runs(uri)
    assert len(runs) == 1
    r = runs[0]
    assert r.info.status == "FINISHED"
    # every number of the metrics JSON, ints and bools included, under the same key; the
    # curves show their last step
    assert r.data.metrics == {"test/map": 0.625, "best/epoch": 24.0, "classes": 48.0,
                              "gen/ok": 1.0, "time/stage_seconds": seconds,
                              "train/loss": 1.5, "val/map": 0.75}
    # strings (and null) as tags under the same key
    assert r.data.tags["protocol/backbone"] == "efficientnet_lite0"
    assert r.data.tags["protocol/weights"] == "null"
    # params under their params.yaml names
    assert r.data.params == {"sen.beta": "10.0", "sen.distinctive": "True", "sen.lr": "0.001",
                             "features.backbone": "efficientnet_lite0"}
    assert r.data.tags["mlflow.runName"] == f"sen:exp-test@{short}"
    assert r.data.tags["dvc_exp_name"] == "exp-test"
    assert r.data.tags["stage"] == "sen"
    assert r.data.tags["git_revision"].startswith(short)
    assert r.data.tags["git_dirty"] == "false"
    for key, values in (("train/loss", [2.0, 1.5]), ("val/map", [0.5, 0.75])):
        history = sorted(client.get_metric_history(r.info.run_id, key), key=lambda m: m.step)
        assert [(m.step, m.value) for m in history] == [(1, values[0]), (2, values[1])]
    assert [a.path for a in client.list_artifacts(r.info.run_id)] == ["grid.png", "samples"]
    assert [a.path for a in client.list_artifacts(r.info.run_id, "samples")] == ["samples/grid.png"]


def test_unreachable_store_still_writes_metrics(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # A loopback port nothing listens on: MLflow cannot be reached.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with StageRun("fbank", params={"fbank": {"num_mel_bins": 40}},
                      metrics_path=tmp_path / "m.json", tracking_uri="http://127.0.0.1:9") as run:
            run.log_step({"x": 1.0}, step=0)
            run.log_metrics({"train/utterances": 3})
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["train/utterances"] == 3 and set(metrics) == {"train/utterances",
                                                                  "time/stage_seconds"}
    assert any(issubclass(w.category, TrackingWarning) for w in caught)


def test_failed_stage_writes_no_metrics(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(RuntimeError):
        with StageRun("sen", metrics_path=tmp_path / "m.json", tracking_uri=uri) as run:
            run.log_metrics({"test/map": 0.1})
            raise RuntimeError("boom")
    assert not (tmp_path / "m.json").exists()
    _, runs = _mlflow_runs(uri)
    assert runs[0].info.status == "FAILED"
