"""Tracking facade: a stage's final metrics go to its DVC metrics JSON and, the same numbers,
to MLflow, together with params, curves and images.

MLflow is imported lazily and every MLflow call is guarded: if the tracking store cannot be
reached, the stage still completes (the DVC metrics file is the source of truth) and a warning
says what failed. Defaults: ``sqlite:///mlflow.db`` in the working directory, overridable by
``MLFLOW_TRACKING_URI``; MLflow telemetry is switched off.

Each run is tagged with the DVC experiment name (``DVC_EXP_NAME``, set by ``dvc exp run``) and
the git revision, so a user can find the run of an experiment in the UI.
"""

from __future__ import annotations

import math
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

from s2igan.config import flatten
from s2igan.io import write_json

DEFAULT_URI = "sqlite:///mlflow.db"
EXPERIMENT = "s2igan"


class TrackingWarning(UserWarning):
    """MLflow could not be reached; metrics were still written to the DVC metrics file."""


def git_revision(cwd: str | Path = ".") -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10, check=False)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class StageRun:
    """One stage's tracking session. Use as a context manager::

        with StageRun("sen", params=params["sen"], metrics_path="reports/sen/metrics.json") as run:
            run.log_step({"train/loss": 1.2}, step=0)
            run.log_image("reports/sen/tsne.png")
            run.log_metrics({"test/map": 0.61})   # also written to the metrics JSON on exit
    """

    def __init__(self, stage: str, params: dict[str, Any] | None = None,
                 metrics_path: str | Path | None = None, tracking_uri: str | None = None):
        self.stage = stage
        self.params = flatten(params or {})
        self.metrics_path = Path(metrics_path) if metrics_path else None
        self.tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_URI)
        self.metrics: dict[str, float] = {}
        self._mlflow = None
        self._run = None

    # -- MLflow plumbing -------------------------------------------------------------------
    def _guard(self, what: str, fn, *args, **kwargs):
        if self._mlflow is None:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # any failure of the tracking store must not fail the stage
            warnings.warn(f"MLflow {what} failed ({type(exc).__name__}: {exc}); "
                          f"stage {self.stage!r} continues without MLflow.", TrackingWarning,
                          stacklevel=3)
            self._close_quietly()
            return None

    def _close_quietly(self) -> None:
        mlflow, self._mlflow = self._mlflow, None
        if mlflow is not None:
            try:
                mlflow.end_run(status="FAILED")
            except Exception:
                pass

    def __enter__(self) -> "StageRun":
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        os.environ.setdefault("DO_NOT_TRACK", "true")
        try:
            import mlflow
        except ImportError as exc:
            warnings.warn(f"mlflow is not importable ({exc}); logging to the DVC metrics file only.",
                          TrackingWarning, stacklevel=2)
            return self
        self._mlflow = mlflow
        tags = {
            "stage": self.stage,
            "dvc_exp_name": os.environ.get("DVC_EXP_NAME", "workspace"),
            "git_revision": git_revision(),
            "mlflow.runName": f"{self.stage}:{os.environ.get('DVC_EXP_NAME', 'workspace')}",
        }

        def start() -> None:
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_experiment(EXPERIMENT)
            self._run = mlflow.start_run(tags=tags)
            if self.params:
                # MLflow caps a param value at 6000 characters; params here are short.
                mlflow.log_params({k: str(v)[:500] for k, v in self.params.items()})

        self._guard(f"start at {self.tracking_uri}", start)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and self.metrics_path is not None:
            write_json(self.metrics_path, self.metrics)
        if self._mlflow is not None:
            status = "FINISHED" if exc_type is None else "FAILED"
            self._guard("end_run", self._mlflow.end_run, status=status)

    # -- logging -----------------------------------------------------------------------------
    def log_metrics(self, metrics: dict[str, Any]) -> None:
        """Final metrics: kept for the metrics JSON (flat keys) and logged to MLflow."""
        clean = {k: _number(v) for k, v in metrics.items()}
        self.metrics.update(clean)
        finite = {_mlflow_key(k): v for k, v in clean.items()
                  if isinstance(v, float) and math.isfinite(v)}
        if finite:
            self._guard("log_metrics", self._mlflow.log_metrics, finite) if self._mlflow else None

    def log_step(self, metrics: dict[str, float], step: int) -> None:
        """Per-epoch/step curves: MLflow only (DVC plots get their own files from the stage)."""
        if self._mlflow is not None:
            values = {_mlflow_key(k): float(v) for k, v in metrics.items()}
            self._guard("log_metrics", self._mlflow.log_metrics, values, step=step)

    def log_params(self, params: dict[str, Any]) -> None:
        if self._mlflow is not None:
            values = {k: str(v)[:500] for k, v in flatten(params).items()}
            self._guard("log_params", self._mlflow.log_params, values)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Images, plots and small files (sample grids, t-SNE, curves)."""
        if self._mlflow is not None and Path(path).exists():
            self._guard("log_artifact", self._mlflow.log_artifact, str(path), artifact_path)

    log_image = log_artifact


def _number(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    return value


def _mlflow_key(key: str) -> str:
    # MLflow accepts alphanumerics, _ - . space : and /; keep our flat keys as they are.
    return "".join(ch if ch.isalnum() or ch in "_-. :/" else "_" for ch in key)
