"""`s2igan generate`: a short wav -> PNG with tiny trained-format artifacts built in the test, and
clear errors for missing models / unreadable audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from s2igan.generate import generate
from s2igan.io import BadInputError


@pytest.fixture()
def artifacts(sen_checkpoint: Path, generator_checkpoint: Path) -> tuple[Path, Path]:
    return sen_checkpoint, generator_checkpoint   # tests/conftest.py: tiny SEN, 32 px generator


def short_wav(path: Path, seconds: float = 0.6) -> Path:
    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t)).astype(np.float32), 16000)
    return path


def test_generate_from_wav_writes_pngs(artifacts, tmp_path):
    sen, gen = artifacts
    wav = short_wav(tmp_path / "a.wav")
    [png] = generate(audio=wav, out=tmp_path / "one.png", sen_checkpoint=sen,
                     generator_checkpoint=gen, device="cpu")
    assert Image.open(png).size == (32, 32)
    paths = generate(audio=wav, out=tmp_path / "many", n=3, sen_checkpoint=sen,
                     generator_checkpoint=gen, device="cpu")
    imgs = [np.asarray(Image.open(p)) for p in paths]
    assert len(imgs) == 3 and imgs[0].shape == (32, 32, 3)
    assert not np.array_equal(imgs[0], imgs[1])          # different noise seeds
    again = generate(audio=wav, out=tmp_path / "again", n=1, sen_checkpoint=sen,
                     generator_checkpoint=gen, device="cpu")
    assert np.array_equal(np.asarray(Image.open(again[0])), imgs[0])   # deterministic


def test_generate_errors(artifacts, tmp_path):
    sen, gen = artifacts
    with pytest.raises(BadInputError, match="dvc repro"):
        generate(audio=short_wav(tmp_path / "a.wav"), out=tmp_path / "x.png",
                 sen_checkpoint=tmp_path / "missing.pt", generator_checkpoint=gen)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav file at all")
    with pytest.raises(BadInputError, match="bad.wav"):
        generate(audio=bad, out=tmp_path / "x.png", sen_checkpoint=sen, generator_checkpoint=gen)
    with pytest.raises(BadInputError, match="exactly one"):
        generate(out=tmp_path / "x.png", sen_checkpoint=sen, generator_checkpoint=gen)


@pytest.mark.slow
def test_generate_from_text_with_piper(artifacts, tmp_path):
    pytest.importorskip("piper")
    sen, gen = artifacts
    [png] = generate(text="a small bird with a red belly", out=tmp_path / "t.png",
                     sen_checkpoint=sen, generator_checkpoint=gen, device="cpu")
    assert png.is_file()
