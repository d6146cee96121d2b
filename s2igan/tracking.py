"""Tracking facade: a stage's final metrics go to its DVC metrics JSON and, the same numbers,
to MLflow, together with params, curves and images.

MLflow is imported lazily and every MLflow call is guarded: if the tracking store cannot be
reached, the stage still completes (the DVC metrics file is the source of truth) and a warning
says what failed. MLflow telemetry is switched off.

Where runs go (:func:`resolve_tracking_uri`, :func:`experiment_name`):

* **Store**: ``MLFLOW_TRACKING_URI``, default ``sqlite:///mlflow.db``. A *relative* sqlite path
  is taken relative to the DVC workspace, ``$DVC_ROOT`` (DVC sets it for every stage command; for
  ``dvc exp run --temp`` / ``--queue``, which run in a copy under ``.dvc/tmp/exps``, it names the
  main workspace), else the working directory. So every run of a workspace, queued and temporary
  experiments included, lands in the one ``mlflow.db`` of the main workspace. An experiment this
  module creates in a sqlite store keeps its artifacts beside the database
  (``<db folder>/mlruns/<experiment>``), not in the working directory, which for ``--temp`` runs
  is deleted afterwards.
* **Experiment**: ``MLFLOW_EXPERIMENT_NAME``, default ``s2igan``.

Pipeline runs. One ``dvc repro`` / ``dvc exp run`` is one *pipeline* run (MLflow parent run,
named ``pipeline:<dvc exp>@<short rev>``); each stage's run is nested under it (the tag
``mlflow.parentRunId``). The stage processes find their parent in the tracking store itself,
the one place all of them share (a file in the workspace would not be seen by a ``--temp`` copy):
the parent carries the tag ``s2igan.pipeline``, a hash of the pipeline key
(:func:`pipeline_key`: the DVC experiment name, the git revision it runs on,
``DVC_EXP_BASELINE_REV`` for experiments, and the workspace root). ``check`` opens a new parent
every time it runs (``StageRun(..., opens_pipeline=True)``); it depends on every params section
and on the library, so DVC runs it first on every run that changes params or code. Any other
stage joins the newest parent of its key, or opens one if there is none. Consequence, chosen on
purpose: when only some stages re-run without ``check`` (``dvc repro -f rdg``, deleted outputs,
a change to one stage script), their runs join the latest pipeline run of the same experiment
and revision, i.e. the pipeline whose outputs they replace; a new ``dvc exp run`` always gets its
own parent (every experiment has its own name). The parent is marked RUNNING while a stage runs
and FINISHED (FAILED if that stage failed) when it ends, so its end time is the last stage's;
``check`` logs every params section on it.

Git. Every run (parent and stages) gets MLflow's standard source tags:
``mlflow.source.git.commit`` (the baseline commit for ``dvc exp run``), ``mlflow.source.git.branch``
and ``mlflow.source.git.repoURL`` (``origin``) when there are any, ``mlflow.source.name``
(``stages/<stage>.py``) and ``mlflow.source.type`` ``LOCAL``.

An outage costs seconds, not minutes. MLflow's own HTTP defaults are a 120 s timeout and 7
retries with exponential backoff (about 4 minutes per call against a server that is down). For an
``http(s)://`` tracking URI :class:`StageRun` first tries a TCP connection to the server
(:data:`PROBE_TIMEOUT_S`); if that fails it warns once and the stage runs without MLflow. If the
server answers, MLflow's requests get :data:`HTTP_TIMEOUT_S` and :data:`HTTP_MAX_RETRIES`
(``MLFLOW_HTTP_REQUEST_TIMEOUT`` / ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, unless already set in the
environment), and the first failed call warns once and ends the MLflow logging of the stage.

Names. All stages log to one MLflow experiment (``s2igan``), so names must not collide:

* **Run name** ``<stage>:<dvc exp>@<short git rev>``, e.g. ``sen:workspace@3e8b940``, with a
  ``*`` after the revision when the code (``s2igan/``, ``stages/``) has uncommitted changes.
  Tags: ``stage``, ``dvc_exp_name`` (``DVC_EXP_NAME``, set by ``dvc exp run``; ``workspace``
  otherwise), ``git_revision`` (full hash), ``git_dirty``.
* **Params**: exactly the params.yaml entries of the stage's ``dvc.yaml`` ``params:`` list,
  under their dotted params.yaml names (``sen.lr``, ``data.seed``, ``data.synthbirds.n_classes``,
  ``features.backbone``); build them with :func:`stage_params`.
* **Final metrics** (:meth:`StageRun.log_metrics`): the metrics JSON and MLflow hold the same
  keys and values. Numbers (ints and floats; bools as 0/1) are MLflow metrics, logged without a
  step; strings and other values (``protocol/fid_backbone``, ``backbone``) are MLflow *tags*
  under the same key (they describe the outputs, so they stay out of the params). Prefixes:

  - ``<split>/...`` counts and scores of a data split: ``train/images``, ``test/map`` (the SEN's
    speech -> image retrieval mAP on the test split), ``test/queries``;
  - ``gen/...`` scores of the images generated for the test captions (``evaluate``): ``gen/is``,
    ``gen/is_std``, ``gen/fid``, ``gen/map`` (real image -> generated images mAP), ``gen/r50``
    (scene data), ``gen/acc_<attribute>``; ``real_test/...`` the judge on the real test images;
  - ``best/...`` the epoch chosen on validation (``sen``: ``best/epoch``, ``best/val_map``);
    ``final/...`` the last epoch (``rdg``: ``final/g_loss``, ``final/d_loss``, ...);
  - ``time/...`` timings. Every wall time is ``time/<what>_seconds``: ``time/stage_seconds``
    (every stage: the time spent inside its ``StageRun``, added by StageRun itself),
    ``time/train_seconds`` (the training loop of ``sen`` and ``rdg``),
    ``time/extract_seconds`` (``features``), ``time/fbank_seconds``, ``time/synthesis_seconds``
    (the denominators of ``fbank/x_real_time`` and ``tts/x_real_time``); ``evaluate`` adds
    ``time/ms_per_image_batch1`` / ``..._batch64`` (inference per image);
  - ``<stage>/...`` a stage's own bookkeeping (``fbank/skipped``, ``tts/captions``) and
    ``protocol/...`` how ``evaluate`` measured.
* **Non-finite numbers.** A final metric that is NaN or +-Infinity (e.g. the best validation
  score of a run that never validated) is written as JSON ``null`` and left out of MLflow, with a
  :class:`TrackingWarning` naming the key: a metrics file never holds ``NaN``/``-Infinity``, which
  are not JSON (:func:`s2igan.io.write_json` refuses them).
* **Curves** (:meth:`StageRun.log_step`, MLflow only): per-epoch ``train/...``, ``val/...`` and
  ``lr``. A final key never equals a curve key (StageRun refuses it): a final value logged
  under a curve's key would add a stray point at step 0 to that curve.
* **Artifacts**: images and small files (``tsne.png``, ``loss.csv``, ``samples/epoch_NNN.png``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import subprocess
import time
import urllib.parse
import warnings
from pathlib import Path
from typing import Any

from s2igan.config import flatten
from s2igan.io import write_json

DEFAULT_URI = "sqlite:///mlflow.db"   # relative: resolved against the workspace (resolve_tracking_uri)
EXPERIMENT = "s2igan"                  # unless MLFLOW_EXPERIMENT_NAME is set
PIPELINE_TAG = "s2igan.pipeline"       # on the parent run: hash of pipeline_key()
CODE_PATHS = (":/s2igan", ":/stages")   # what "dirty" looks at (git pathspecs, from the top)
TAG_VALUE_MAX = 5000                     # MLflow refuses longer tag values
PROBE_TIMEOUT_S = 2.0                    # TCP connect to an http(s) tracking server
HTTP_TIMEOUT_S = 5                       # per MLflow request (MLflow's default: 120 s)
HTTP_MAX_RETRIES = 0                     # MLflow's default: 7, with backoff (~4 min when down)


class TrackingWarning(UserWarning):
    """MLflow could not be reached; metrics were still written to the DVC metrics file."""


def _git(args: list[str], cwd: str | Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_revision(cwd: str | Path = ".") -> str:
    return _git(["rev-parse", "HEAD"], cwd) or "unknown"


def git_describe(cwd: str | Path = ".") -> str:
    """Short revision, ``*``-suffixed when the code has uncommitted changes ("" outside git)."""
    short = _git(["rev-parse", "--short", "HEAD"], cwd)
    if not short:
        return ""
    dirty = _git(["status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS], cwd)
    return short + ("*" if dirty else "")


def unreachable(uri: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the http(s) tracking server of ``uri`` cannot be reached (None: it accepts a TCP
    connection, or ``uri`` is not http(s))."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout):
            return None
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def dvc_exp_name() -> str:
    """The experiment ``dvc exp run`` is running (``DVC_EXP_NAME``), else ``workspace``."""
    return os.environ.get("DVC_EXP_NAME", "workspace")


def workspace_root() -> Path:
    """The DVC workspace: ``$DVC_ROOT`` (the main workspace even for ``dvc exp run --temp`` /
    ``--queue``), else the working directory."""
    return Path(os.environ.get("DVC_ROOT") or ".").resolve()


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``; a relative sqlite
    path is made absolute against :func:`workspace_root`."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        rel = uri[len(prefix):]
        if rel and not rel.startswith(":memory:"):
            uri = prefix + str(workspace_root() / rel)
    return uri


def experiment_name() -> str:
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT


def source_revision() -> str:
    """The commit the run's code comes from: ``DVC_EXP_BASELINE_REV`` in a ``dvc exp run``
    (whose temporary copy checks out a stash commit of its own), else the workspace's HEAD."""
    return os.environ.get("DVC_EXP_BASELINE_REV") or git_revision(workspace_root())


def git_tags(script: str | None = None) -> dict[str, str]:
    """MLflow's standard source tags (``mlflow.source.*``) of the workspace's git checkout."""
    root = workspace_root()
    tags = {"mlflow.source.type": "LOCAL"}
    commit = source_revision()
    if commit != "unknown":
        tags["mlflow.source.git.commit"] = commit
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], root)
    if branch and branch != "HEAD":
        tags["mlflow.source.git.branch"] = branch
    url = _git(["remote", "get-url", "origin"], root)
    if url:
        tags["mlflow.source.git.repoURL"] = url
    if script:
        tags["mlflow.source.name"] = script
    return tags


def pipeline_key() -> str:
    """What identifies one pipeline run for its stages: experiment, revision, workspace."""
    return f"{dvc_exp_name()}@{source_revision()} in {workspace_root()}"


def pipeline_tag(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _artifact_location(uri: str, name: str) -> str | None:
    """Beside a sqlite database (``<db folder>/mlruns/<name>``); None: the store decides."""
    if not uri.startswith("sqlite:////"):
        return None
    safe = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in name)
    return str(Path(uri[len("sqlite:///"):]).parent / "mlruns" / safe)


def _experiment_id(client, uri: str, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=_artifact_location(uri, name))
    except Exception:   # created meanwhile by another process
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def stage_params(params: dict[str, Any], *names: str) -> dict[str, Any]:
    """The params.yaml entries ``names``, spelled as in a ``dvc.yaml`` ``params:`` list (a
    section ``sen`` or a dotted key ``features.backbone``), nested as in params.yaml, so that
    :class:`StageRun` logs them under their dotted names (``sen.lr``, ``features.backbone``).
    A missing entry is logged as ``None``."""
    out: dict[str, Any] = {}
    for name in names:
        *parents, leaf = name.split(".")
        value: Any = params
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


class StageRun:
    """One stage's tracking session. Use as a context manager::

        params = load_params()
        with StageRun("sen", params=stage_params(params, "sen"),
                      metrics_path="reports/sen/metrics.json") as run:
            run.log_step({"train/loss": 1.2, "val/map": 0.4}, step=1)   # curves
            run.log_image("reports/sen/tsne.png")
            run.log_metrics({"test/map": 0.61, "best/val_map": 0.9})   # final numbers

    On a normal exit the final metrics (plus ``time/stage_seconds``) are written to
    ``metrics_path``; the run ends FINISHED, or FAILED on an exception (then no metrics file).
    The run is nested under its pipeline run (module doc); ``opens_pipeline=True`` (the
    ``check`` stage) opens a new pipeline run and logs ``params`` on it too.
    """

    def __init__(self, stage: str, params: dict[str, Any] | None = None,
                 metrics_path: str | Path | None = None, tracking_uri: str | None = None,
                 opens_pipeline: bool = False):
        self.stage = stage
        self.params = flatten(params or {})
        self.metrics_path = Path(metrics_path) if metrics_path else None
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.opens_pipeline = opens_pipeline
        self.parent_run_id: str | None = None
        self.metrics: dict[str, Any] = {}
        self._curve_keys: set[str] = set()
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

    def run_name(self) -> str:
        exp = dvc_exp_name()
        rev = git_describe()
        return f"{self.stage}:{exp}@{rev}" if rev else f"{self.stage}:{exp}"

    def __enter__(self) -> "StageRun":
        self._t0 = time.perf_counter()
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        os.environ.setdefault("DO_NOT_TRACK", "true")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(HTTP_TIMEOUT_S))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(HTTP_MAX_RETRIES))
        problem = unreachable(self.tracking_uri)
        if problem:
            warnings.warn(f"MLflow tracking server {self.tracking_uri} unreachable ({problem}); "
                          f"stage {self.stage!r} continues without MLflow.", TrackingWarning,
                          stacklevel=2)
            return self
        try:
            import mlflow
        except ImportError as exc:
            warnings.warn(f"mlflow is not importable ({exc}); logging to the DVC metrics file only.",
                          TrackingWarning, stacklevel=2)
            return self
        self._mlflow = mlflow
        name = self.run_name()
        tags = {
            **git_tags(f"stages/{self.stage}.py"),
            "stage": self.stage,
            "dvc_exp_name": dvc_exp_name(),
            "git_revision": git_revision(),
            "git_dirty": str(name.endswith("*")).lower(),
            "mlflow.runName": name,
        }

        def start() -> None:
            mlflow.set_tracking_uri(self.tracking_uri)
            client = mlflow.MlflowClient(tracking_uri=self.tracking_uri)
            experiment_id = _experiment_id(client, self.tracking_uri, experiment_name())
            mlflow.set_experiment(experiment_id=experiment_id)
            self.parent_run_id = self._pipeline_run(client, experiment_id)
            self._run = mlflow.start_run(experiment_id=experiment_id,
                                         tags={**tags, "mlflow.parentRunId": self.parent_run_id})
            if self.params:
                # MLflow caps a param value at 6000 characters; params here are short.
                mlflow.log_params({k: str(v)[:500] for k, v in self.params.items()})

        self._guard(f"start at {self.tracking_uri}", start)
        return self

    def _pipeline_run(self, client, experiment_id: str) -> str:
        """The id of this stage's pipeline run (module doc): a new one for ``opens_pipeline``,
        else the newest of the same key, else a new one. It is marked RUNNING."""
        key = pipeline_key()
        tag = pipeline_tag(key)
        if not self.opens_pipeline:
            found = client.search_runs([experiment_id],
                                       filter_string=f"tags.`{PIPELINE_TAG}` = '{tag}'",
                                       order_by=["attributes.start_time DESC"], max_results=1)
            if found:
                client.update_run(found[0].info.run_id, status="RUNNING")
                return found[0].info.run_id
        rev = source_revision()
        name = f"pipeline:{dvc_exp_name()}@{rev[:7]}"
        run = client.create_run(experiment_id, run_name=name, tags={
            **git_tags(), PIPELINE_TAG: tag, "s2igan.pipeline_key": key,
            "dvc_exp_name": dvc_exp_name(), "git_revision": rev, "opened_by": self.stage,
            "mlflow.runName": name})
        if self.opens_pipeline and self.params:
            from mlflow.entities import Param
            client.log_batch(run.info.run_id, params=[Param(k, str(v)[:500])
                                                      for k, v in self.params.items()])
        return run.info.run_id

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.log_metrics({"time/stage_seconds": round(time.perf_counter() - self._t0, 2)})
            if self.metrics_path is not None:
                write_json(self.metrics_path, self.metrics)
        if self._mlflow is not None:
            status = "FINISHED" if exc_type is None else "FAILED"
            self._guard("end_run", self._mlflow.end_run, status=status)
        if self._mlflow is not None and self.parent_run_id is not None:
            client = self._mlflow.MlflowClient(tracking_uri=self.tracking_uri)
            self._guard("end pipeline run", client.set_terminated, self.parent_run_id, status)

    # -- logging -----------------------------------------------------------------------------
    def log_metrics(self, metrics: dict[str, Any]) -> None:
        """Final metrics: kept for the metrics JSON and logged to MLflow under the same keys,
        numbers (bools as 0/1) as metrics, anything else (strings) as tags."""
        clean = {k: _number(v) for k, v in metrics.items()}
        bad = sorted(k for k, v in clean.items() if _is_number(v) and not math.isfinite(v))
        if bad:
            warnings.warn(f"stage {self.stage!r}: non-finite final metric(s) {bad} written as "
                          "null (NaN/Infinity are not JSON) and not sent to MLflow",
                          TrackingWarning, stacklevel=2)
            clean.update({k: None for k in bad})
        clash = sorted(set(clean) & self._curve_keys)
        if clash:
            raise ValueError(f"final metric(s) {clash} reuse the key of a per-step curve; "
                             "give the final value its own key (e.g. best/..., final/...)")
        self.metrics.update(clean)
        numbers = {_mlflow_key(k): v for k, v in clean.items() if _is_number(v)}
        others = {_mlflow_key(k): _tag_value(v) for k, v in clean.items()
                  if not _is_number(v) and k not in bad}
        if numbers and self._mlflow is not None:
            self._guard("log_metrics", self._mlflow.log_metrics, numbers)
        if others and self._mlflow is not None:
            self._guard("set_tags", self._mlflow.set_tags, others)

    def log_step(self, metrics: dict[str, float], step: int) -> None:
        """Per-epoch/step curves: MLflow only (DVC plots get their own files from the stage)."""
        self._curve_keys.update(metrics)
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

    def log_image(self, path: str | Path, artifact_path: str | None = None, *,
                  key: str | None = None, step: int | None = None) -> None:
        """An image file. With ``step`` (an epoch) it is an MLflow image series ``key`` (the
        UI's image view steps through it: ``mlflow.log_image(..., key=, step=)``); without, a
        plain artifact under ``artifact_path``."""
        if step is None:
            self.log_artifact(path, artifact_path)
            return
        if self._mlflow is None or not Path(path).exists():
            return

        def log() -> None:
            from PIL import Image

            with Image.open(path) as image:
                image.load()
                self._mlflow.log_image(image, key=key or Path(path).stem, step=int(step),
                                       synchronous=True)

        self._guard("log_image", log)

    def log_model(self, **kwargs: Any) -> Any:
        """``mlflow.pyfunc.log_model(**kwargs)`` in this run (guarded like every MLflow call);
        returns its ``ModelInfo``, or None without MLflow."""
        if self._mlflow is None:
            return None

        def log() -> Any:
            import mlflow.pyfunc

            return mlflow.pyfunc.log_model(**kwargs)

        return self._guard("log_model", log)


def _number(value: Any) -> Any:
    """numpy scalars -> Python scalars, bools -> 0/1; anything else unchanged."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _tag_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:TAG_VALUE_MAX]


def _mlflow_key(key: str) -> str:
    # MLflow accepts alphanumerics, _ - . space : and /; our keys use only these (kept as they
    # are), anything else would become "_".
    return "".join(ch if ch.isalnum() or ch in "_-. :/" else "_" for ch in key)
