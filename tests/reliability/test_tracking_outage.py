"""A tracking server that is down costs a stage seconds (one warning), not MLflow's default
minutes of retries; the DVC metrics file is still written."""

from __future__ import annotations

import json
import time
import warnings

import pytest

from s2igan import tracking
from s2igan.tracking import StageRun, TrackingWarning

DOWN = "http://127.0.0.1:9"   # the discard port: nothing listens there


def _a_stage(path, uri):
    """The tracking calls of a training stage: params, curves, an artifact, final metrics."""
    artifact = path.parent / "loss.csv"
    artifact.write_text("epoch,loss\n1,0.5\n")
    with StageRun("sen", params={"sen": {"lr": 0.001}}, metrics_path=path,
                  tracking_uri=uri) as run:
        for epoch in range(3):
            run.log_step({"train/loss": 1.0 / (epoch + 1)}, step=epoch)
        run.log_params({"extra": 1})
        run.log_artifact(artifact)
        run.log_metrics({"test/map": 0.5})


@pytest.mark.parametrize("probe", [True, False], ids=["tcp-probe", "mlflow-http-settings"])
def test_unreachable_server_costs_seconds_and_warns_once(tmp_path, monkeypatch, probe):
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    if not probe:  # MLflow itself meets the dead server: no retries, short timeout
        monkeypatch.setattr(tracking, "unreachable", lambda uri: None)
    path = tmp_path / "metrics.json"
    start = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _a_stage(path, DOWN)
    elapsed = time.monotonic() - start
    ours = [w for w in caught if issubclass(w.category, TrackingWarning)]
    assert elapsed < 20, f"tracking calls against a dead server took {elapsed:.1f} s"
    assert len(ours) == 1, [str(w.message) for w in ours]
    assert "127.0.0.1:9" in str(ours[0].message) or "start" in str(ours[0].message)
    assert json.loads(path.read_text())["test/map"] == 0.5


def test_probe_names_the_problem_and_ignores_other_schemes():
    assert tracking.unreachable(DOWN)
    assert tracking.unreachable("sqlite:///mlflow.db") is None
