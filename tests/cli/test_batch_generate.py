"""`s2igan generate` on a folder or CSV of recordings (one PNG per recording, named after it), and
with the model bundle: `models/bundle` is used when it exists and matches the checkpoints,
`--bundle DIR` names one, and a bundle built from other checkpoints is not used."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from conftest import E, tiny_dg
from s2igan import cli
from s2igan.bundle import load_bundle, write_bundle
from s2igan.checkpoint import save_checkpoint
from s2igan.config import from_dict, load_params, to_dict
from s2igan.rdg.generator import Generator
from s2igan.speech.frontend import FbankConfig
from s2igan.speech.synth import TTSConfig

REPO = Path(__file__).resolve().parents[2]
BACKBONE = {"backbone": "efficientnet_lite0", "weights": "w", "dim": 1280, "input_size": 224}


def chirp_file(path: Path, f0: float, rate: int = 16000, seconds: float = 0.8) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.3 * np.sin(2 * np.pi * (f0 + 400 * t) * t)).astype(np.float32), rate)
    return path


@pytest.fixture()
def workspace(tmp_path, sen_checkpoint, generator_checkpoint) -> Path:
    """A workspace as `dvc repro` leaves it: params.yaml, the two checkpoints and their bundle."""
    ws = tmp_path / "ws"
    (ws / "models/sen").mkdir(parents=True)
    (ws / "models/rdg").mkdir(parents=True)
    shutil.copy(REPO / "params.yaml", ws / "params.yaml")
    shutil.copy(sen_checkpoint, ws / "models/sen/best.pt")
    shutil.copy(generator_checkpoint, ws / "models/rdg/generator.pt")
    params = load_params(ws / "params.yaml")
    write_bundle(ws / "models/bundle", ws / "models/sen/best.pt", ws / "models/rdg/generator.pt",
                 from_dict(FbankConfig, params["fbank"], "fbank"),
                 from_dict(TTSConfig, params["tts"], "tts"), BACKBONE)
    return ws


def run(capsys, *args: str) -> tuple[int, str, str]:
    status = cli.main(["generate", *args])
    out, err = capsys.readouterr()
    return status, out, err


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_folder_of_recordings(workspace, tmp_path, capsys):
    recs = tmp_path / "recs"
    for name, f0 in (("alpha.wav", 150), ("beta.flac", 400), ("gamma.wav", 900)):
        chirp_file(recs / name, f0)
    (recs / "notes.txt").write_text("not a recording")
    status, out, err = run(capsys, "--audio", str(recs), "-o", str(tmp_path / "out"),
                           "--workspace", str(workspace))
    assert status == 0, err
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["alpha.png", "beta.png", "gamma.png"]
    assert out.split() == [str(tmp_path / "out" / n) for n in written]
    model = load_bundle(workspace / "models/bundle")
    images = {n: pixels(tmp_path / "out" / n) for n in written}
    for name in ("alpha.wav", "beta.flac", "gamma.wav"):
        expected = np.asarray(model.generate(recs / name, n=1, seed=0)[0])
        np.testing.assert_array_equal(images[Path(name).stem + ".png"], expected)
    assert not np.array_equal(images["alpha.png"], images["gamma.png"])


def test_csv_of_recordings(workspace, tmp_path, capsys):
    a = chirp_file(tmp_path / "x" / "take.wav", 200)
    b = chirp_file(tmp_path / "y" / "take.wav", 700, rate=22050)   # the same stem
    c = chirp_file(tmp_path / "solo.wav", 500)
    listing = tmp_path / "list.csv"
    listing.write_text(f"speaker,path\nann,x/take.wav\nbob,{b}\ncid,solo.wav\n")  # relative: to the CSV
    status, _, err = run(capsys, "--audio", str(listing), "-o", str(tmp_path / "out"), "-n", "2",
                         "--seed", "3", "--workspace", str(workspace))
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["solo.png", "take_1.png",
                                                                      "take_2.png"]
    model = load_bundle(workspace / "models/bundle")
    for png, rec in (("take_1.png", a), ("take_2.png", b), ("solo.png", c)):
        row = pixels(tmp_path / "out" / png)
        assert row.shape == (32 + 4, 2 * 32 + 6, 3)          # two images in a row, 2 px padding
        first, second = model.generate(rec, n=2, seed=3)
        np.testing.assert_array_equal(row[2:34, 2:34], np.asarray(first))
        np.testing.assert_array_equal(row[2:34, 36:68], np.asarray(second))


@pytest.mark.parametrize("content, problem", [
    ("speaker,file\nann,a.wav\n", "no 'path' column"),
    ("path\n", "lists no recordings"),
    ("path\n\n a.wav\n,\n", "empty path"),
    ("path\nmissing.wav\n", "missing.wav: audio file not found"),
])
def test_bad_csv_is_one_line_naming_the_file(workspace, tmp_path, capsys, content, problem):
    chirp_file(tmp_path / "a.wav", 300)
    listing = tmp_path / "list.csv"
    listing.write_text(content)
    status, _, err = run(capsys, "--audio", str(listing), "-o", str(tmp_path / "out"),
                         "--workspace", str(workspace))
    assert status == 2 and err.count("\n") == 1 and problem in err, err
    assert ("list.csv" in err) or ("missing.wav" in err)
    assert not (tmp_path / "out").exists()


def test_a_bad_recording_in_a_folder_writes_nothing(workspace, tmp_path, capsys):
    recs = tmp_path / "recs"
    chirp_file(recs / "good.wav", 300)
    sf.write(recs / "quiet.wav", np.zeros(16000, np.float32), 16000)   # header fine, all zeros
    status, _, err = run(capsys, "--audio", str(recs), "-o", str(tmp_path / "out"),
                         "--workspace", str(workspace))
    assert status == 2 and err.count("\n") == 1
    assert "quiet.wav: silent clip" in err
    assert not (tmp_path / "out").exists()


def test_batch_needs_an_output_folder(workspace, tmp_path, capsys):
    chirp_file(tmp_path / "recs" / "a.wav", 300)
    status, _, err = run(capsys, "--audio", str(tmp_path / "recs"), "-o", str(tmp_path / "x.png"),
                         "--workspace", str(workspace))
    assert status == 2 and "needs an output folder" in err


def test_the_bundle_alone_is_enough(workspace, tmp_path, capsys):
    """Without params.yaml and checkpoints the workspace's bundle still generates (the
    checkpoint path would fail on the missing files), and its fbank settings are used."""
    wav = chirp_file(tmp_path / "a.wav", 300)
    (workspace / "params.yaml").unlink()
    shutil.rmtree(workspace / "models/sen")
    shutil.rmtree(workspace / "models/rdg")
    status, _, err = run(capsys, "--audio", str(wav), "-o", str(tmp_path / "one.png"), "-n", "1",
                         "--workspace", str(workspace))
    assert status == 0, err
    expected = load_bundle(workspace / "models/bundle").generate(wav)[0]
    np.testing.assert_array_equal(pixels(tmp_path / "one.png"), np.asarray(expected))


def test_explicit_bundle_and_a_damaged_one(workspace, tmp_path, capsys):
    wav = chirp_file(tmp_path / "a.wav", 300)
    moved = tmp_path / "elsewhere"
    shutil.move(workspace / "models/bundle", moved)
    status, _, err = run(capsys, "--audio", str(wav), "-o", str(tmp_path / "b.png"), "-n", "1",
                         "--bundle", str(moved), "--workspace", str(tmp_path / "empty"))
    assert status == 0, err
    (moved / "generator.safetensors").write_bytes(b"x")
    status, _, err = run(capsys, "--audio", str(wav), "-o", str(tmp_path / "c.png"),
                         "--bundle", str(moved))
    assert status == 2 and err.count("\n") == 1 and "generator.safetensors" in err


def test_a_bundle_of_other_checkpoints_is_not_used(workspace, tmp_path, capsys):
    """After `dvc repro rdg` without `bundle`, generate uses the newer checkpoints and says so."""
    torch.manual_seed(7)
    save_checkpoint(workspace / "models/rdg/generator.pt",
                    {"generator": Generator(tiny_dg(), E).eval().state_dict(),
                     "config": to_dict(tiny_dg()), "embed_dim": E})
    wav = chirp_file(tmp_path / "a.wav", 300)
    status, _, err = run(capsys, "--audio", str(wav), "-o", str(tmp_path / "new.png"), "-n", "1",
                         "--workspace", str(workspace))
    assert status == 0 and "was built from another" in err and "dvc repro bundle" in err
    stale = np.asarray(load_bundle(workspace / "models/bundle").generate(wav)[0])
    assert not np.array_equal(pixels(tmp_path / "new.png"), stale)
