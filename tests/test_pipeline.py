"""End to end: `dvc repro` of the whole pipeline on a tiny profile, in a temporary copy of the repo.

Checks what a user relies on: every stage runs, the declared outputs and metrics exist, a second
`dvc repro` does nothing, and an ablation switch re-runs only the stages that depend on it.
With ``S2IGAN_KEEP_METRICS=DIR`` the run's ``reports/*/*.json`` are copied to ``DIR/<stage>/``.
"""

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from _workspace import TINY, make_workspace
from _workspace import run as _run


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.skip("git is needed by DVC")
    work = tmp_path_factory.mktemp("pipeline")
    env = make_workspace(work, TINY)
    _run(["dvc", "repro"], work, env)
    keep = os.environ.get("S2IGAN_KEEP_METRICS")
    if keep:  # e.g. to compare two commits' tiny runs: the metrics outlive the temporary copy
        for path in work.glob("reports/*/*.json"):
            dst = Path(keep) / path.parent.name / path.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dst)
    return work, env


@pytest.mark.slow
def test_repro_produces_declared_outputs(workspace):
    work, _ = workspace
    assert (work / "data/prepared/manifest.parquet").is_file()
    assert (work / "reports/prepare/contact_sheet.png").is_file()
    prepare = json.loads((work / "reports/prepare/metrics.json").read_text())
    assert prepare["images"] == 6 * 3 and prepare["captions"] == 6 * 3 * 2
    for stage in ("tts", "fbank", "features", "sen", "embed", "judge", "rdg", "bundle", "evaluate"):
        assert (work / f"reports/{stage}/metrics.json").is_file(), stage
    assert sorted(p.name for p in (work / "models/bundle").iterdir()) == [
        "bundle.json", "generator.safetensors", "speech_encoder.safetensors"]
    assert (work / "reports/sen/tsne.png").is_file()
    assert (work / "reports/sen/loss.csv").is_file()
    assert (work / "reports/rdg/loss.csv").is_file()
    assert (work / "mlflow.db").is_file()
    evaluate = json.loads((work / "reports/evaluate/metrics.json").read_text())
    for group in ("gen", "seen", "heldout_phrasing"):   # the held-out phrasings are scored
        assert 0.0 <= evaluate[f"{group}/acc_crown"] <= 1.0, group
    assert (work / "reports/evaluate/figures/heldout_phrasings.png").is_file()


@pytest.mark.slow
def test_second_repro_is_a_no_op(workspace):
    work, env = workspace
    out = _run(["dvc", "status"], work, env)
    assert "up to date" in out.lower(), out


@pytest.mark.slow
def test_bundle_holds_the_pipeline_models(workspace):
    """The `bundle` stage's folder loads with s2igan.load_bundle, records the sha256 of the
    checkpoints it was built from, and generates at the last dg scale. (Before the ablations:
    the last of them is a text system, whose bundle `load_bundle` refuses by design.)"""
    import hashlib

    import numpy as np

    from s2igan import load_bundle
    work, _ = workspace
    model = load_bundle(work / "models/bundle")
    source = model.meta["source"]
    for key, rel in (("sen_checkpoint_sha256", "models/sen/best.pt"),
                     ("generator_checkpoint_sha256", "models/rdg/generator.pt")):
        assert source[key] == hashlib.sha256((work / rel).read_bytes()).hexdigest(), key
    t = np.arange(16000) / 16000
    [image] = model.generate((0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32),
                             sample_rate=16000)
    assert image.size == (32, 32) and model.embed_dim == TINY["sen"]["embed_dim"]


@pytest.mark.slow
def test_size_misses_runs_on_the_pipeline_outputs(workspace):
    """scripts/size_misses.py end to end on the tiny run: its tallies count every caption once
    per noise seed, and a forced size and the blurred real images are scored for each size."""
    work, env = workspace
    out = work / "scratch/size_misses.json"
    _run(["python", "scripts/size_misses.py", "--noise", "0", "1", "--seen", "5",
          "--out", str(out)], work, env)
    result = json.loads(out.read_text())
    test_captions = 2 * 3 * 2                      # test classes x images x captions (TINY)
    assert sum(t["n"] for t in result["test"].values()) == test_captions
    assert sum(t["n"] for t in result["seen"].values()) == 5
    for table in (result["test"], result["seen"]):
        for t in table.values():                   # a drawn miss is the code's or the drawing's
            misses = round(2 * t["n"] * (1 - t["drawn_right"]))
            assert t["drawn_miss_code_right"] + t["drawn_miss_code_wrong"] == misses
    assert sorted(result["test_code_forced"]) == ["code says large", "code says small"]
    assert list(result["real_test_blurred"]) == ["radius 0", "radius 0.5", "radius 1",
                                                 "radius 1.5"]
    assert not list(out.parent.glob("*.tmp*"))


@pytest.mark.slow
def test_judge_spread_runs_on_the_pipeline_outputs(workspace):
    """scripts/judge_spread.py end to end on the tiny run: the committed judge's row repeats the
    evaluate stage's gen/acc_* (same images, same judge), and an extra judge gets its own row."""
    work, env = workspace
    out = work / "scratch/judge_spread.json"
    _run(["python", "scripts/judge_spread.py", "--judges", "1:4", "--out", str(out)], work, env)
    [rows] = json.loads(out.read_text())["generators"].values()
    committed = next(v for k, v in rows.items() if k.startswith("committed"))
    assert sorted(rows) == [next(k for k in rows if k.startswith("committed")), "seed 1, width 4"]
    evaluate = json.loads((work / "reports/evaluate/metrics.json").read_text())
    for attr in ("crown", "wing", "belly", "size"):
        assert committed[f"gen/acc_{attr}"] == pytest.approx(evaluate[f"gen/acc_{attr}"]), attr
        assert 0.0 <= rows["seed 1, width 4"][f"real_test/acc_{attr}"] <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("switches,expected", [
    # Table IV "w/o SEN" and "end-to-end": the rdg stage trains the speech encoder (on
    # data/fbank); evaluate and bundle then use it (models/rdg/speech_encoder.pt)
    (["rdg.speech_encoder=joint"], {"rdg", "evaluate"}),
    (["rdg.speech_encoder=end_to_end"], {"rdg", "evaluate"}),
    # (rs.enabled first: `dvc params diff` compares with HEAD, whose speech_encoder is frozen)
    (["rs.enabled=false", "rdg.speech_encoder=frozen"], {"rdg", "evaluate"}),
    # another SEN system (README "Systems"): the SEN and what reads its checkpoint re-run, not
    # the data, features or judge stages. Each experiment starts from the previous one's
    # workspace, so rs.enabled=true turns the relation supervisor back on: it then runs on the
    # teacher's features (it changes nothing in the set: rdg re-runs for the new SEN anyway)
    # (`asr` reads sen.kind, so it re-runs too: a no-op in a second, its empty cache unchanged)
    (["sen.kind=teacher_student", "rs.enabled=true"],
     {"asr", "sen", "embed", "rdg", "evaluate"}),
    # the two-stage baseline (Li et al. Table II): text encoder on the true text, then on the
    # `asr` stage's pocketsphinx transcripts (the `asr` stage reads sen.kind / sen.text.source)
    (["sen.kind=text", "sen.text.source=truth"], {"asr", "sen", "embed", "rdg", "evaluate"}),
    # (sen.kind first: `dvc params diff` compares with HEAD, whose sen.text.source is asr)
    (["sen.kind=text", "sen.text.source=asr"], {"asr", "sen", "embed", "rdg", "evaluate"}),
])
def test_ablation_switch_reruns_only_dependent_stages(workspace, switches, expected):
    work, env = workspace
    out = _run(["dvc", "exp", "run", *[a for s in switches for a in ("-S", s)]], work, env)
    ran = set(re.findall(r"Running stage '([\w-]+)'", out))
    # `check` validates every params section, so it re-runs on any change (seconds); its
    # ok.json is unchanged, so `prepare` and the stages after it do not; the new generator
    # goes into a new model bundle
    assert ran == {"check", *expected, "bundle"}, out[-3000:]
    diff = _run(["dvc", "params", "diff", "--json"], work, env)
    assert switches[0].split("=")[0] in diff
    embed = json.loads((work / "reports/embed/metrics.json").read_text())
    evaluate = json.loads((work / "reports/evaluate/metrics.json").read_text())
    bundle = json.loads((work / "models/bundle/bundle.json").read_text())["source"]
    trained = work / "models/rdg/speech_encoder.pt"
    mode = next((s.split("=")[1] for s in switches if s.startswith("rdg.speech_encoder=")),
                None)
    if mode in ("joint", "end_to_end"):   # evaluate and bundle embed with the rdg's encoder
        assert trained.is_file() and (work / "models/rdg/embeddings/test_speech.npy").is_file()
        assert evaluate["protocol/speech_encoder"].startswith(f"rdg.speech_encoder: {mode}")
        assert bundle["sen_checkpoint_sha256"] == hashlib.sha256(trained.read_bytes()).hexdigest()
        loss = (work / "reports/rdg/loss.csv").read_text().splitlines()[0]
        assert ("sen_loss" in loss) == (mode == "end_to_end")
    else:                                 # frozen: nothing stale of a previous experiment
        assert not trained.exists() and "protocol/speech_encoder" not in evaluate
    if "sen.text.source=asr" in switches:  # the test captions' text came from pocketsphinx
        asr = json.loads((work / "reports/asr/metrics.json").read_text())
        assert asr["asr/active"] == 1 and asr["asr/captions"] == embed["embed/asr_captions"] > 0
        assert 0 <= embed["test/asr_wer"] == asr["test/wer"]
        assert embed["embed/text_source"] == "asr"
    if "sen.kind=teacher_student" in switches:  # the speech embeddings live in the teacher's space
        dim = json.loads((work / "data/features/backbone.json").read_text())["dim"]
        assert json.loads((work / "reports/embed/metrics.json").read_text())["embed_dim"] == dim


def _runs(work: Path):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{work / 'mlflow.db'}")
    exp = client.get_experiment_by_name("s2igan")
    return client, client.search_runs([exp.experiment_id], max_results=1000)


@pytest.mark.slow
def test_mlflow_stage_runs_nest_under_one_pipeline_run(workspace):
    """The first `dvc repro`: one pipeline run, every stage's run nested under it, git source
    tags, the sample grids as an image series, the bundle registered as a pyfunc model."""
    work, env = workspace
    client, runs = _runs(work)
    head = _run(["git", "rev-parse", "HEAD"], work, env).strip()
    stages = {r.data.tags["stage"]: r for r in runs
              if r.data.tags.get("dvc_exp_name") == "workspace" and "stage" in r.data.tags}
    assert set(stages) == set(yaml.safe_load((work / "dvc.yaml").read_text())["stages"])
    [parent] = {r.data.tags["mlflow.parentRunId"] for r in stages.values()}
    pipeline = client.get_run(parent)
    assert pipeline.data.tags["opened_by"] == "check" and pipeline.info.status == "FINISHED"
    assert pipeline.data.params["rdg.epochs"] == "1"            # check logs every section
    assert {r.data.tags["mlflow.source.git.commit"] for r in [pipeline, *stages.values()]} == {head}
    images = [a.path for a in client.list_artifacts(stages["rdg"].info.run_id, "images")]
    assert any(p.startswith("images/samples+step+1+") and p.endswith(".png") for p in images)
    # (the experiments above registered versions of their own)
    versions = client.search_model_versions("name = 's2igan-bundle'")
    assert stages["bundle"].info.run_id in {v.run_id for v in versions}


@pytest.mark.slow
def test_run_cache_restores_sen_and_rdg(workspace):
    """Back to the first run's params after the ablations: sen, embed, rdg, evaluate and bundle
    come out of DVC's run-cache instead of training again (their outs are not `persist`)."""
    work, env = workspace
    out = _run(["dvc", "exp", "run", "-S", "sen.kind=s2igan", "-S", "rs.enabled=true"], work, env)
    ran = set(re.findall(r"Running stage '([\w-]+)'", out))
    cached = set(re.findall(r"Stage '([\w-]+)' is cached", out))
    assert {"sen", "embed", "rdg", "evaluate", "bundle"} <= cached, out[-3000:]
    assert not ran & {"sen", "rdg"}, out[-3000:]
    assert (work / "models/sen/best.pt").is_file() and (work / "models/rdg/generator.pt").is_file()


@pytest.mark.slow
def test_models_travel_through_a_dvc_remote(workspace, tmp_path):
    """README "Sharing trained models": `dvc push` to a local-folder remote, then a fresh
    `git clone` gets the same models with `dvc pull` and generates from a spoken sentence."""
    work, env = workspace
    remote = tmp_path / "remote"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    _run(["dvc", "remote", "add", "-d", "shared", str(remote)], work, env)
    _run(["git", "add", "-A"], work, env)
    _run([*git, "commit", "-qm", "models of the tiny run"], work, env)
    _run(["dvc", "push"], work, env)
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(work), str(clone)], tmp_path, env)
    assert not (clone / "models").exists()
    _run(["dvc", "pull"], clone, env)
    for rel in ("models/bundle/generator.safetensors", "models/bundle/bundle.json",
                "models/sen/best.pt", "models/rdg/generator.pt", "data/embeddings"):
        a, b = work / rel, clone / rel
        files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file()) if a.is_dir() else [""]
        assert files and all((a / f).read_bytes() == (b / f).read_bytes() for f in files), rel
    assert "up to date" in _run(["dvc", "status"], clone, env).lower()
    # the pulled models generate at once, without training
    _run(["s2igan", "generate", "--text", "a small bird with a red crown", "-o",
          str(tmp_path / "gen")], clone, env)
    assert list((tmp_path / "gen").glob("*.png"))


@pytest.mark.slow
def test_temp_experiment_logs_into_the_workspace_store(workspace):
    """`dvc exp run --temp` runs in a copy under .dvc/tmp/exps; with the default (relative)
    tracking URI its runs still land in the workspace's mlflow.db, nested under their own
    pipeline run, and their artifacts outlive the copy."""
    work, env = workspace
    env = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
    _, before = _runs(work)
    out = _run(["dvc", "exp", "run", "--temp", "-S", "rdg.seed=1"], work, env)
    assert "Running stage 'rdg'" in out, out[-3000:]
    client, after = _runs(work)
    old = {r.info.run_id for r in before}
    new = [r for r in after if r.info.run_id not in old and "stage" in r.data.tags]
    assert {r.data.tags["stage"] for r in new} >= {"check", "rdg", "evaluate", "bundle"}
    assert len({r.data.tags["dvc_exp_name"] for r in new}) == 1
    assert len({r.data.tags["mlflow.parentRunId"] for r in new}) == 1
    rdg = next(r for r in new if r.data.tags["stage"] == "rdg")
    assert ".dvc/tmp" not in rdg.info.artifact_uri
    assert client.list_artifacts(rdg.info.run_id, "images")
    assert not list((work / ".dvc/tmp/exps").glob("*/mlflow.db"))


@pytest.mark.slow
def test_queued_experiments_log_under_their_own_pipeline_runs(workspace):
    """`dvc exp run --queue` twice, then `dvc queue start`: each experiment runs in its own copy
    by a background worker, and both land in the workspace's store, each under its own pipeline
    run, with every stage it re-ran nested there."""
    import time

    work, env = workspace
    env = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
    _, before = _runs(work)
    for seed in (11, 12):
        _run(["dvc", "exp", "run", "--queue", "-S", f"rdg.seed={seed}"], work, env)
    _run(["dvc", "queue", "start", "--jobs", "1"], work, env)
    deadline = time.monotonic() + 900
    while True:
        status = _run(["dvc", "queue", "status"], work, env)
        if not re.search(r"\b(Queued|Running)\b", status):
            break
        assert time.monotonic() < deadline, status
        time.sleep(5)
    _run(["dvc", "queue", "stop"], work, env)
    assert len(re.findall(r"\bSuccess\b", status)) == 2, status
    _, after = _runs(work)
    old = {r.info.run_id for r in before}
    new = [r for r in after if r.info.run_id not in old and "stage" in r.data.tags]
    by_exp: dict[str, list] = {}
    for r in new:
        by_exp.setdefault(r.data.tags["dvc_exp_name"], []).append(r)
    assert len(by_exp) == 2, {k: len(v) for k, v in by_exp.items()}
    for runs in by_exp.values():
        assert len({r.data.tags["mlflow.parentRunId"] for r in runs}) == 1
        assert {r.data.tags["stage"] for r in runs} >= {"rdg", "evaluate", "bundle"}
    parents = {runs[0].data.tags["mlflow.parentRunId"] for runs in by_exp.values()}
    assert len(parents) == 2          # one pipeline run per experiment, not one shared
    assert not list((work / ".dvc/tmp/exps").glob("*/mlflow.db"))
