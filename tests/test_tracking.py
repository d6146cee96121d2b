"""The tracking facade writes the DVC metrics JSON and a real MLflow run (same keys, same
values; strings as tags; prefixed params; a run name with the git revision), refuses a final key
that reuses a curve key, and survives a dead store. Stage runs nest under one pipeline run per
`dvc repro` / `dvc exp run`; a relative sqlite store resolves to the DVC workspace (also from a
`dvc exp run --temp` copy); MLflow's git source tags; image series with a step."""

import json
import shutil
import subprocess
import warnings

import numpy as np
import pytest
from PIL import Image

from s2igan.tracking import (StageRun, TrackingWarning, git_describe, resolve_tracking_uri,
                             stage_params)

PARAMS = {"data": {"seed": 0, "synthbirds": {"n_classes": 48}},
          "sen": {"beta": 10.0, "distinctive": True, "lr": 0.001},
          "features": {"backbone": "efficientnet_lite0", "weights": None, "batch_size": 32}}


@pytest.fixture(autouse=True)
def _no_dvc_or_mlflow_environment(monkeypatch):
    """The tests set what they need; nothing leaks in from a surrounding `dvc` or shell."""
    for name in ("DVC_ROOT", "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV", "DVC_STAGE",
                 "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)


def _all_runs(uri, experiment="s2igan"):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


def _mlflow_runs(uri, experiment="s2igan"):
    """The stage runs (the pipeline parents left out)."""
    client, runs = _all_runs(uri, experiment)
    return client, [r for r in runs if "stage" in r.data.tags]


def _pipelines(uri, experiment="s2igan"):
    _, runs = _all_runs(uri, experiment)
    return [r for r in runs if "s2igan.pipeline" in r.data.tags]


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
    [parent] = _pipelines(uri)
    assert r.data.tags["mlflow.parentRunId"] == parent.info.run_id
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


# -- where runs go --------------------------------------------------------------------------

def test_relative_sqlite_uri_resolves_against_the_dvc_workspace(tmp_path, monkeypatch):
    main = tmp_path / "main"
    temp = main / ".dvc/tmp/exps/tmpabc123"     # where `dvc exp run --temp` runs the stages
    temp.mkdir(parents=True)
    monkeypatch.chdir(temp)
    assert resolve_tracking_uri() == f"sqlite:///{temp}/mlflow.db"      # no DVC: the cwd
    monkeypatch.setenv("DVC_ROOT", str(main))                            # what DVC sets
    assert resolve_tracking_uri() == f"sqlite:///{main}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///stores/runs.db")
    assert resolve_tracking_uri() == f"sqlite:///{main}/stores/runs.db"
    for kept in (f"sqlite:///{tmp_path}/abs.db", "http://127.0.0.1:5000"):
        assert resolve_tracking_uri(kept) == kept


def _temp_copy_env(main, monkeypatch, name="exp-temp"):
    """The environment DVC gives a stage of `dvc exp run --temp`: a copy under .dvc/tmp/exps
    as the working directory, DVC_ROOT = the main workspace, the experiment's name and
    baseline."""
    temp = main / ".dvc/tmp/exps/tmpq1w2e3r4"
    temp.mkdir(parents=True)
    monkeypatch.chdir(temp)
    monkeypatch.setenv("DVC_ROOT", str(main))
    monkeypatch.setenv("DVC_EXP_NAME", name)
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", _git(main, "rev-parse", "HEAD"))
    return temp


def test_a_temp_experiment_logs_into_the_main_workspace_store(tmp_path, monkeypatch):
    """`dvc exp run --temp` / `--queue`: the run, its curves and its images outlive the copy."""
    main = tmp_path / "main"
    _repo(main)
    temp = _temp_copy_env(main, monkeypatch)
    png = temp / "epoch_001.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(png)
    with StageRun("rdg", params={"rdg": {"epochs": 1}}, metrics_path=temp / "m.json") as run:
        run.log_step({"train/g_loss": 1.0}, step=1)
        run.log_image(png, "samples")
        run.log_metrics({"final/g_loss": 1.0})
    shutil.rmtree(main / ".dvc/tmp")          # DVC removes the copy after the experiment
    assert not (temp / "mlflow.db").exists()
    client, [r] = _mlflow_runs(f"sqlite:///{main}/mlflow.db")
    assert r.data.tags["dvc_exp_name"] == "exp-temp"
    assert r.data.metrics["final/g_loss"] == 1.0
    assert r.info.artifact_uri.startswith(str(main / "mlruns"))
    got = client.download_artifacts(r.info.run_id, "samples/epoch_001.png", str(tmp_path))
    assert Image.open(got).getpixel((0, 0)) == (255, 0, 0)


def test_mlflow_experiment_name_is_honoured(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "my-study")
    with StageRun("check", opens_pipeline=True) as run:
        run.log_metrics({"check/sections": 10})
    client, [r] = _mlflow_runs(f"sqlite:///{tmp_path}/mlflow.db", "my-study")
    assert r.data.metrics["check/sections"] == 10
    assert client.get_experiment_by_name("s2igan") is None


# -- pipeline runs ----------------------------------------------------------------------------

def _stage(name, **kwargs):
    with StageRun(name, **kwargs) as run:
        run.log_metrics({f"{name}/done": 1})
    return run.parent_run_id


def test_stages_of_one_pipeline_nest_under_one_parent(tmp_path, monkeypatch):
    """check opens a pipeline run (with every params section), the later stages join it; the
    next check opens the next one; another experiment gets its own; a stage that runs alone
    joins the newest pipeline of its experiment and revision."""
    _repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    first = {_stage("check", params=PARAMS, opens_pipeline=True), _stage("prepare"),
             _stage("sen", params=stage_params(PARAMS, "sen"))}
    assert len(first) == 1
    [p1] = _pipelines(uri)
    assert p1.info.run_id in first and p1.info.status == "FINISHED"
    assert p1.data.params["sen.lr"] == "0.001" and p1.data.params["data.seed"] == "0"
    assert p1.data.tags["mlflow.runName"].startswith("pipeline:workspace@")
    assert p1.data.tags["opened_by"] == "check"

    second = _stage("check", params=PARAMS, opens_pipeline=True)      # params changed: new run
    assert _stage("rdg") == second != p1.info.run_id
    monkeypatch.setenv("DVC_EXP_NAME", "exp-b")                        # a `dvc exp run`
    exp_b = _stage("rdg")                                               # (no check: opened here)
    assert exp_b not in (second, p1.info.run_id)
    assert _stage("evaluate") == exp_b
    monkeypatch.delenv("DVC_EXP_NAME")
    assert _stage("bundle") == second          # e.g. `dvc repro -f bundle`: the newest pipeline

    client, runs = _mlflow_runs(uri)
    parents = {r.data.tags["stage"] + "@" + r.data.tags["dvc_exp_name"]:
               r.data.tags["mlflow.parentRunId"] for r in runs}
    assert len(runs) == 8
    assert {p.data.tags["dvc_exp_name"] for p in _pipelines(uri)} == {"workspace", "exp-b"}
    assert parents["evaluate@exp-b"] == exp_b
    assert client.get_run(exp_b).data.tags["mlflow.runName"].startswith("pipeline:exp-b@")


def test_a_failed_stage_marks_its_pipeline_failed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _stage("check", opens_pipeline=True)
    with pytest.raises(RuntimeError):
        with StageRun("sen"):
            raise RuntimeError("boom")
    [p] = _pipelines(f"sqlite:///{tmp_path}/mlflow.db")
    assert p.info.status == "FAILED"
    _stage("sen")                                   # the re-run completes the pipeline
    [p] = _pipelines(f"sqlite:///{tmp_path}/mlflow.db")
    assert p.info.status == "FINISHED"


def test_runs_carry_mlflows_git_source_tags(tmp_path, monkeypatch):
    _repo(tmp_path)
    _git(tmp_path, "branch", "-M", "trunk")
    _git(tmp_path, "remote", "add", "origin", "https://example.org/s2igan.git")   # never contacted
    head = _git(tmp_path, "rev-parse", "HEAD")
    monkeypatch.chdir(tmp_path)
    _stage("sen")
    _, [r] = _mlflow_runs(f"sqlite:///{tmp_path}/mlflow.db")
    [p] = _pipelines(f"sqlite:///{tmp_path}/mlflow.db")
    for run in (r, p):
        assert run.data.tags["mlflow.source.git.commit"] == head
        assert run.data.tags["mlflow.source.git.branch"] == "trunk"
        assert run.data.tags["mlflow.source.git.repoURL"] == "https://example.org/s2igan.git"
    assert r.data.tags["mlflow.source.name"] == "stages/sen.py"
    assert r.data.tags["mlflow.source.type"] == "LOCAL"


def test_an_experiment_run_is_tagged_with_its_baseline_commit(tmp_path, monkeypatch):
    main = tmp_path / "main"
    _repo(main)
    base = _git(main, "rev-parse", "HEAD")
    (main / "s2igan" / "x.py").write_text("x = 3\n")
    _git(main, "commit", "-qam", "two")            # HEAD moved on; the experiment ran on `base`
    temp = _temp_copy_env(main, monkeypatch, "exp-c")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", base)
    with StageRun("sen", metrics_path=temp / "m.json"):
        pass
    _, [r] = _mlflow_runs(f"sqlite:///{main}/mlflow.db")
    assert r.data.tags["mlflow.source.git.commit"] == base
    [p] = _pipelines(f"sqlite:///{main}/mlflow.db")
    assert p.data.tags["git_revision"] == base


def test_images_with_a_step_form_an_image_series(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = []
    for epoch, colour in ((1, (255, 0, 0)), (2, (0, 0, 255))):
        paths.append(tmp_path / f"epoch_{epoch:03d}.png")
        Image.new("RGB", (8, 8), colour).save(paths[-1])
    with StageRun("rdg") as run:
        for epoch, path in enumerate(paths, 1):
            run.log_image(path, key="samples", step=epoch)
        run.log_image(paths[0], "plain")            # no step: a plain artifact
    client, [r] = _mlflow_runs(f"sqlite:///{tmp_path}/mlflow.db")
    names = [a.path for a in client.list_artifacts(r.info.run_id, "images")]
    # MLflow 3 names them images/<key>+step+<step>+timestamp+<ms>+<uuid>.png
    steps = sorted(int(n.split("+step+")[1].split("+")[0]) for n in names
                   if n.startswith("images/samples+step+") and n.endswith(".png"))
    assert steps == [1, 2], names
    assert [a.path for a in client.list_artifacts(r.info.run_id, "plain")] == \
        ["plain/epoch_001.png"]
