"""Bad and unusual audio: each case is handled (downmix, resample, bit depth) or refused with one
BadInputError naming the file and the problem."""

import numpy as np
import pytest
import soundfile as sf

from s2igan.io import BadInputError
from s2igan.speech.audio import MIN_SAMPLES, SAMPLE_RATE, load_audio, probe


def tone(rate, seconds=0.5, freq=440.0):
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_any_rate_is_resampled_to_16k(tmp_path, rate):
    path = tmp_path / "a.wav"
    sf.write(path, tone(rate), rate)
    wave = load_audio(path)
    assert wave.dtype == np.float32 and abs(len(wave) - SAMPLE_RATE // 2) <= 1
    spectrum = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(wave) - 440) < 5  # pitch preserved


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "FLOAT"])
def test_bit_depths_are_read_to_float(tmp_path, subtype):
    path = tmp_path / "a.wav"
    sf.write(path, tone(SAMPLE_RATE), SAMPLE_RATE, subtype=subtype)
    wave = load_audio(path)
    assert np.allclose(wave, tone(SAMPLE_RATE), atol=0.02)


def test_stereo_is_mixed_down(tmp_path):
    path = tmp_path / "st.wav"
    left, right = tone(SAMPLE_RATE), np.zeros(SAMPLE_RATE // 2, np.float32)
    sf.write(path, np.stack([left, right], axis=1), SAMPLE_RATE, subtype="FLOAT")
    wave = load_audio(path)
    assert wave.ndim == 1 and np.allclose(wave, left / 2, atol=1e-6)


def test_flac_is_read(tmp_path):
    path = tmp_path / "a.flac"
    sf.write(path, tone(22050), 22050)
    assert len(load_audio(path)) == pytest.approx(8000, abs=1)


def write_bad(tmp_path, case):
    path = tmp_path / f"{case}.wav"
    if case == "zero_byte":
        path.write_bytes(b"")
    elif case == "corrupt_header":
        path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" + bytes(100))
    elif case == "silent":
        sf.write(path, np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE)
    elif case == "nan":
        x = tone(SAMPLE_RATE)
        x[100] = np.nan
        sf.write(path, x, SAMPLE_RATE, subtype="FLOAT")
    elif case == "inf":
        x = tone(SAMPLE_RATE)
        x[5] = np.inf
        sf.write(path, x, 44100, subtype="FLOAT")
    elif case == "too_short":
        sf.write(path, tone(SAMPLE_RATE)[: MIN_SAMPLES - 1], SAMPLE_RATE)
    return path


@pytest.mark.parametrize("case,problem", [
    ("missing", "not found"), ("zero_byte", "0 bytes"), ("corrupt_header", "unreadable"),
    ("silent", "silent"), ("nan", "NaN/Inf"), ("inf", "NaN/Inf"), ("too_short", "too short"),
])
def test_bad_audio_raises_one_clear_error(tmp_path, case, problem):
    path = write_bad(tmp_path, case)
    with pytest.raises(BadInputError) as info:
        load_audio(path)
    assert info.value.path == str(path) and problem in info.value.problem


@pytest.mark.parametrize("case", ["missing", "zero_byte", "corrupt_header"])
def test_probe_refuses_unreadable_files(tmp_path, case):
    with pytest.raises(BadInputError):
        probe(write_bad(tmp_path, case))


def test_probe_reads_header(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, tone(8000), 8000)
    assert probe(path) == (8000, 4000)
