"""The tracking facade writes the DVC metrics JSON and a real MLflow run, and survives a dead store."""

import json
import warnings

import pytest

from s2igan.tracking import StageRun, TrackingWarning


def _mlflow_runs(uri):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("s2igan")
    return client, client.search_runs([exp.experiment_id])


def test_metrics_json_and_mlflow_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-test")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    png = tmp_path / "grid.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    with StageRun("sen", params={"sen": {"beta": 10.0, "distinctive": True}},
                  metrics_path=tmp_path / "reports" / "metrics.json", tracking_uri=uri) as run:
        run.log_step({"train/loss": 2.0}, step=0)
        run.log_step({"train/loss": 1.5}, step=1)
        run.log_artifact(png)
        run.log_metrics({"test/map": 0.625, "protocol/backbone": "efficientnet_lite0"})

    metrics = json.loads((tmp_path / "reports" / "metrics.json").read_text())
    assert metrics == {"test/map": 0.625, "protocol/backbone": "efficientnet_lite0"}

    client, runs = _mlflow_runs(uri)
    assert len(runs) == 1
    r = runs[0]
    assert r.info.status == "FINISHED"
    assert r.data.metrics["test/map"] == pytest.approx(0.625)
    assert r.data.params["sen.beta"] == "10.0"
    assert r.data.tags["dvc_exp_name"] == "exp-test"
    assert r.data.tags["stage"] == "sen"
    assert "git_revision" in r.data.tags
    history = client.get_metric_history(r.info.run_id, "train/loss")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == [2.0, 1.5]
    assert [a.path for a in client.list_artifacts(r.info.run_id)] == ["grid.png"]


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
    assert json.loads((tmp_path / "m.json").read_text()) == {"train/utterances": 3}
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
