"""Filterbanks (Sec. III-B): frame count, mel placement, normalisation, truncation, stage output."""

import numpy as np
import pytest
import soundfile as sf

from s2igan.arrays import Ragged
from s2igan.data import manifest
from s2igan.io import BadInputError
from s2igan.speech.fbank import run_fbank
from s2igan.speech.frontend import FbankConfig, compute_fbank
from s2igan.speech.skips import BadInputPolicy
from s2igan.speech.store import ShardWriter, to_int16, write_index

SR = 16000


def tone(seconds, freq, rate=SR):
    t = np.arange(int(rate * seconds)) / rate
    noise = np.random.default_rng(0).normal(0, 1e-3, len(t))
    return (0.5 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)


def mel(f):
    return 1127.0 * np.log(1 + f / 700.0)


def test_frames_bins_and_mel_peak_match_an_independent_computation():
    cfg = FbankConfig(normalize="none", max_frames=None)
    feats = compute_fbank(tone(1.0, 1000.0), cfg)
    # Kaldi framing (snip_edges): 1 + (N - 400) // 160 frames of 40 bins
    assert feats.shape == (1 + (SR - 400) // 160, 40) and feats.dtype == np.float32
    # The 1 kHz tone must peak in the mel bin whose centre is nearest 1 kHz
    # (40 triangles equally spaced on the mel scale between 20 Hz and 8 kHz).
    edges = np.linspace(mel(20.0), mel(8000.0), 42)
    expected = int(np.argmin(np.abs(edges[1:-1] - mel(1000.0))))
    assert np.argmax(feats.mean(axis=0)) == expected


def test_utterance_normalisation_is_per_channel_over_time():
    rng = np.random.default_rng(1)
    wave = (rng.normal(0, 0.1, SR) * np.linspace(0.1, 1, SR)).astype(np.float32)  # rising noise
    raw = compute_fbank(wave, FbankConfig(normalize="none"))
    feats = compute_fbank(wave, FbankConfig(normalize="utterance"))
    assert np.allclose(feats, (raw - raw.mean(0)) / raw.std(0), atol=1e-3)
    assert np.allclose(feats.mean(axis=0), 0, atol=1e-4)
    assert np.allclose(feats.std(axis=0), 1, atol=1e-2)


def test_max_frames_truncates_to_first_frames():
    wave = tone(3.0, 440.0)
    full = compute_fbank(wave, FbankConfig(normalize="none", max_frames=None))
    cut = compute_fbank(wave, FbankConfig(normalize="none", max_frames=50))
    assert cut.shape == (50, 40) and np.allclose(cut, full[:50])


def test_config_refuses_unknown_normalisation():
    with pytest.raises(ValueError):
        FbankConfig(normalize="global")


def make_speech(tmp_path, clips, real=None):
    """A manifest + speech dir: ``clips`` (id -> wave) in a shard, ``real`` (id -> wav path)."""
    rows, index = [], []
    writer = ShardWriter(tmp_path / "speech")
    (tmp_path / "speech").mkdir()
    for i, (cid, wave) in enumerate(clips.items()):
        rows.append(dict(caption_id=cid, image_id=f"im{i}", image_path="x.png", class_id=i % 2,
                         split="train" if i % 2 == 0 else "test", caption_idx=0, text="a bird"))
        shard, start, length = writer.add(to_int16(wave))
        index.append(dict(caption_id=cid, source="tts", shard=shard, start=start, length=length,
                          path="", voice="v", text="a bird", sample_rate=SR))
    writer.flush()
    for j, (cid, path) in enumerate((real or {}).items()):
        rows.append(dict(caption_id=cid, image_id=f"real{j}", image_path="x.png", class_id=0,
                         split="val", caption_idx=0, audio_path=str(path)))
        index.append(dict(caption_id=cid, source="real", shard="", start=0, length=1, path=str(path),
                          voice="", text="", sample_rate=SR))
    write_index(tmp_path / "speech", index)
    return manifest.build(rows, "t", "fine_grained")


def test_stage_writes_one_ragged_per_split_and_counts_truncation(tmp_path):
    real = tmp_path / "real.wav"
    sf.write(real, np.stack([tone(0.5, 300, 44100)] * 2, axis=1), 44100)  # stereo, 44.1 kHz
    frame = make_speech(tmp_path, {"a": tone(1.0, 500), "b": tone(0.3, 700),
                                   "c": tone(20.0, 900)}, {"r": real})
    m = run_fbank(frame, tmp_path / "speech", tmp_path / "fbank", FbankConfig(max_frames=200))
    train = Ragged.load(tmp_path / "fbank", "train")
    assert list(train.index["id"]) == ["a", "c"]
    assert list(train.index.columns) == ["id", "image_id", "class_id", "n_frames"]
    assert list(train.index["n_frames"]) == [98, 200] and train.data.shape == (298, 40)
    assert Ragged.load(tmp_path / "fbank", "val").index["n_frames"].tolist() == [48]
    assert m["fbank/truncated"] == 1 and m["fbank/train/utterances"] == 2
    assert m["fbank/test/utterances"] == 1 and m["fbank/skipped"] == 0


def test_bad_clip_errors_without_partial_output_or_is_skipped(tmp_path):
    frame = make_speech(tmp_path, {"a": tone(1.0, 500), "b": tone(1.0, 600)},
                        {"r": tmp_path / "missing.wav"})
    out = tmp_path / "fbank"
    out.mkdir()
    (out / "old.txt").write_text("previous run")
    with pytest.raises(BadInputError, match="missing.wav: audio file not found"):
        run_fbank(frame, tmp_path / "speech", out, FbankConfig())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fbank", "speech"]  # no temp dirs
    assert [p.name for p in out.iterdir()] == ["old.txt"]  # previous output untouched
    policy = BadInputPolicy("skip")
    m = run_fbank(frame, tmp_path / "speech", out, FbankConfig(on_bad_input="skip"), policy)
    assert m["fbank/skipped"] == 1 and policy.skipped[0]["id"] == "r"
    assert not (out / "val.npy").exists() and (out / "train.npy").exists()
    policy.write(tmp_path / "skipped.json")
    assert "not found" in (tmp_path / "skipped.json").read_text()
