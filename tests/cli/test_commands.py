"""The `s2igan` commands besides `generate`: `captions` lists the manifest's caption ids,
`--version`, one-line errors outside the repo or with a bad params.yaml, and `ui` with an
http(s) tracking URI (nothing started)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from s2igan import __version__, cli
from s2igan.data import manifest, synthbirds

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, "manifest.pd.DataFrame"]:
    """A workspace whose data/prepared/manifest.parquet is a real (tiny) SynthBirds manifest."""
    root = tmp_path_factory.mktemp("ws")
    cfg = synthbirds.SynthBirdsConfig(n_classes=3, test_classes=1, images_per_class=2,
                                      captions_per_image=2, image_size=16, supersample=1,
                                      workers=1)
    frame = synthbirds.generate(cfg, root / "data/prepared", seed=0)
    manifest.write(frame, root / cli.MANIFEST)
    return root, frame


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    status = cli.main(argv)
    out = capsys.readouterr()
    return status, out.out, out.err


def _one_line_error(status: int, err: str, *needles: str) -> None:
    assert status != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("s2igan: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], err


# -- captions --------------------------------------------------------------------------------
def test_captions_lists_ids_class_and_text(workspace, capsys):
    root, frame = workspace
    status, out, _ = _run(["captions", "--workspace", str(root)], capsys)
    assert status == 0
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == list(frame["caption_id"])
    first = frame.iloc[0]
    assert lines[0] == f"{first.caption_id}\tclass {first.class_id}\t{first.text}"


def test_captions_split_and_limit(workspace, capsys):
    root, frame = workspace
    test_ids = list(frame.loc[frame["split"] == "test", "caption_id"])
    assert 0 < len(test_ids) < len(frame)
    _, out, _ = _run(["captions", "--workspace", str(root), "--split", "test"], capsys)
    assert [line.split("\t")[0] for line in out.splitlines()] == test_ids
    _, out, _ = _run(["captions", "--workspace", str(root), "--split", "test", "--limit", "1"],
                     capsys)
    assert [line.split("\t")[0] for line in out.splitlines()] == test_ids[:1]


def test_captions_without_a_text_column_value(tmp_path, capsys):
    rows = [{"image_id": "spk_0001", "image_path": "a.png", "split": "test", "caption_idx": 0,
             "audio_path": "a.wav"}]
    manifest.write(manifest.build(rows, "toy", "scene"), tmp_path / cli.MANIFEST)
    status, out, _ = _run(["captions", "--workspace", str(tmp_path)], capsys)
    assert status == 0 and out == "spk_0001#0\tclass -1\n"


def test_caption_ids_in_the_docs_have_the_real_format(workspace):
    """The ids quoted in README and in the CLI's help look like the ones SynthBirds writes."""
    _, frame = workspace
    shape = re.compile(re.sub(r"\d+", lambda m: rf"\d{{{len(m.group())}}}",
                              re.escape(frame["image_id"].iloc[0])) + r"#\d+$")
    assert all(shape.match(cid) for cid in frame["caption_id"])
    quoted = re.findall(r"s2igan listen '([^']+)'", (REPO / "README.md").read_text())
    quoted += re.findall(r"s2igan listen '([^']+)'", cli.__doc__)
    quoted += re.findall(r"e\.g\. '([^']+#\d+)'", Path(cli.__file__).read_text())
    assert quoted
    for cid in quoted:
        assert shape.match(cid), f"{cid!r} is not a caption id like {frame['caption_id'].iloc[0]!r}"


# -- version ---------------------------------------------------------------------------------
def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert capsys.readouterr().out.strip() == f"s2igan {project['version']}" == f"s2igan {__version__}"


# -- one-line errors -------------------------------------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["captions"], "manifest not found"),
    (["listen", "sb_c003_i002#1"], "speech index not found"),
    (["generate", "--text", "a red bird"], "params.yaml: not found"),
    (["generate", "--audio", "x.wav"], "params.yaml: not found"),
    (["ui"], "no params.yaml here"),
])
def test_outside_the_repo_each_command_says_one_line(argv, needle, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    status, _, err = _run(argv, capsys)
    _one_line_error(status, err, needle, f"s2igan: {argv[0]}: error:")


@pytest.mark.parametrize("params_text, needle", [
    ("tts: [unclosed\n", "not valid YAML"),
    ("- just a list\n", "not a mapping"),
    ("tts: {backend: piper}\n", "no 'fbank' section"),
    ("tts: {backend: nope}\nfbank: {}\n", "tts.backend must be one of"),
    ("tts: {backend: piper, speed: 2}\nfbank: {}\n", "tts: unknown key(s) ['speed']"),
    ("tts: {backend: piper}\nfbank: {num_mel_bins: ten}\n", "fbank.num_mel_bins"),
])
def test_bad_params_give_one_line(params_text, needle, tmp_path, capsys):
    (tmp_path / "params.yaml").write_text(params_text)
    status, _, err = _run(["generate", "--text", "a red bird", "--workspace", str(tmp_path),
                           "-o", str(tmp_path / "out.png")], capsys)
    _one_line_error(status, err, needle)


def test_a_broken_manifest_gives_one_line(tmp_path, capsys):
    path = tmp_path / cli.MANIFEST
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PAR1 not really parquet")
    status, _, err = _run(["captions", "--workspace", str(tmp_path)], capsys)
    _one_line_error(status, err, "not a readable Parquet manifest")


def test_outside_the_repo_no_traceback_from_the_console_command(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run([sys.executable, "-m", "s2igan.cli", "generate", "--text", "a red bird"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "s2igan: generate: error: params.yaml: not found: run s2igan in the s2igan repo "
        "(where params.yaml is) or pass --workspace DIR"]


# -- ui with any tracking URI ----------------------------------------------------------------
@pytest.fixture()
def no_server_start(monkeypatch):
    started = []
    monkeypatch.setattr(cli, "run_process_group", lambda cmd, env=None: started.append(cmd) or 0)
    return started


def test_ui_with_an_http_uri_starts_nothing(monkeypatch, capsys, no_server_start):
    with socket.socket() as server:          # something listening, as a tracking server would
        server.bind(("127.0.0.1", 0))
        server.listen()
        uri = f"http://127.0.0.1:{server.getsockname()[1]}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        status, out, err = _run(["ui"], capsys)
    assert status == 0 and not no_server_start
    assert out.strip().startswith(f"MLflow UI: {uri}")


def test_ui_with_an_http_uri_that_does_not_answer(monkeypatch, capsys, no_server_start):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]            # closed again: nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"https://127.0.0.1:{port}")
    status, _, err = _run(["ui"], capsys)
    _one_line_error(status, err, "does not answer")
    assert not no_server_start


def test_ui_serves_a_sqlite_store(tmp_path, monkeypatch, capsys, no_server_start):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    status, out, _ = _run(["ui", "--port", "5123"], capsys)
    [cmd] = no_server_start
    assert status == 0 and cmd[cmd.index("--backend-store-uri") + 1] == uri
    assert "http://127.0.0.1:5123" in out


def test_ui_default_store_in_the_repo(tmp_path, monkeypatch, capsys, no_server_start):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    status, _, _ = _run(["ui"], capsys)
    [cmd] = no_server_start
    assert status == 0 and cmd[cmd.index("--backend-store-uri") + 1] == "sqlite:///mlflow.db"


@pytest.mark.parametrize("uri, needle", [
    ("sqlite:////no/such/folder/mlflow.db", "no such folder"),
    ("databricks://profile", "s2igan ui serves sqlite"),
    ("hdfs://namenode/mlruns", "s2igan ui serves sqlite"),
])
def test_ui_refuses_stores_it_cannot_serve(uri, needle, monkeypatch, capsys, no_server_start):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    status, _, err = _run(["ui"], capsys)
    _one_line_error(status, err, needle)
    assert not no_server_start


def test_params_yaml_of_the_repo_passes_the_cli_checks():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert cli._params(REPO, "tts", "fbank") == params
