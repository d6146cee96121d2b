"""Bounded inputs: a long recording is read only as far as the filterbank keeps it and a
recording over the ceiling is refused from its header; over-long caption text is refused; a
directory given as audio is called a directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s2igan import cli
from s2igan.io import BadInputError
from s2igan.speech import audio
from s2igan.speech.frontend import FbankConfig, SpeechFrontend, audio_to_wave, compute_fbank
from s2igan.speech.text import MAX_TEXT_CHARS, clean_text

REPO = Path(__file__).resolve().parents[2]
RATE = 8_000   # small on disk: 3 minutes of 8 kHz 16-bit mono are 2.9 MB


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "three_minutes.wav"
    t = np.arange(180 * RATE) / RATE
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
    sf.write(path, wave.astype(np.float32), RATE, subtype="PCM_16")
    return path


def test_long_recording_is_read_only_as_far_as_max_frames(long_wav, monkeypatch):
    cfg = FbankConfig(max_frames=100)
    reads = []
    real_read = audio.sf.read
    monkeypatch.setattr(audio.sf, "read",
                        lambda *a, **k: reads.append(k.get("frames", -1)) or real_read(*a, **k))
    wave = audio_to_wave(long_wav, cfg.max_samples)
    assert len(wave) == cfg.max_samples == 100 * 160 + 400
    needed = cfg.max_samples * RATE // audio.SAMPLE_RATE
    assert reads and all(0 < n <= needed + RATE // 100 + 1 for n in reads), reads
    # ... and the kept filterbank frames are those of the whole recording
    full = compute_fbank(audio.load_audio(long_wav), cfg)
    # (float rounding differs by CPU: 1.9e-4 on an AMD EPYC; a shifted frame differs by ~1)
    np.testing.assert_allclose(compute_fbank(wave, cfg), full, atol=1e-3)
    assert len(full) == 100


def test_frontend_reads_the_bounded_part(long_wav):
    frontend = SpeechFrontend(FbankConfig(max_frames=50))
    assert frontend.audio_fbank(long_wav).shape == (50, 40)


def test_recording_over_the_ceiling_is_refused_from_its_header(long_wav, monkeypatch):
    monkeypatch.setattr(audio, "MAX_SECONDS", 60)
    monkeypatch.setattr(audio.sf, "read", lambda *a, **k: pytest.fail("read past the header"))
    with pytest.raises(BadInputError, match=r"three_minutes\.wav: recording too long: 3\.0 min"):
        audio_to_wave(long_wav, 1000)


def test_directory_as_audio_says_it_is_a_directory(tmp_path):
    with pytest.raises(BadInputError, match="is a directory"):
        audio_to_wave(tmp_path)


def test_generate_with_a_folder_without_recordings(tmp_path, capsys):
    """A folder is a batch of recordings (tests/cli/test_batch_generate.py); one without any is
    refused before a model loads (no `... not found: run dvc repro` for the missing models)."""
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    status = cli.main(["generate", "--audio", str(tmp_path), "--workspace", str(tmp_path),
                       "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and "no recordings" in err and "not found" not in err


def test_caption_text_has_a_length_limit():
    assert clean_text("a" * MAX_TEXT_CHARS, "text")
    with pytest.raises(BadInputError, match=r"caption too long: 1,001 characters"):
        clean_text("a" * (MAX_TEXT_CHARS + 1), "text")


def test_generate_refuses_long_text_before_loading_models(tmp_path, capsys):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    status = cli.main(["generate", "--text", "red bird " * 200, "--workspace", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and "--text: caption too long" in err
