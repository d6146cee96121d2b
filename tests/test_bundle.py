"""The model bundle (`s2igan/bundle.py`, stage `bundle`): written from tiny real checkpoints, it
holds safetensors + JSON only, loads without pickle, generates exactly what the original modules
generate for the same seed, and refuses a missing or damaged bundle with one line naming the file."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import stat
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

import s2igan
from conftest import E, TINY_SEN, tiny_dg
from s2igan.bundle import GENERATOR, META, SPEECH_ENCODER, load_bundle, write_bundle
from s2igan.checkpoint import save_checkpoint
from s2igan.config import from_dict, to_dict
from s2igan.generate import generate as generate_from_checkpoints
from s2igan.io import BadInputError
from s2igan.rdg.config import DGConfig
from s2igan.rdg.generator import Generator
from s2igan.rdg.sampling import generate as sample
from s2igan.rdg.sampling import load_generator
from s2igan.sen.checkpoint import load_sen
from s2igan.sen.config import SENConfig
from s2igan.speech.frontend import FbankConfig, SpeechFrontend, embed_fbanks
from s2igan.speech.synth import TTSConfig

FBANK = FbankConfig(max_frames=120)          # not the default, so the bundle must carry it
TTS = TTSConfig(backend="espeak", seed=3)
BACKBONE = {"backbone": "efficientnet_lite0", "weights": "efficientnet-lite0-57934424",
            "dim": 1280, "input_size": 224, "fid_n": 300}


def chirp(seconds: float = 1.6, rate: int = 22050, f0: float = 200.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * (f0 + 300 * t) * t)).astype(np.float32)


@pytest.fixture()
def wav(tmp_path: Path) -> Path:
    path = tmp_path / "caption.wav"
    sf.write(path, chirp(), 22050)          # not 16 kHz: the resampling path is exercised
    return path


@pytest.fixture()
def bundle_dir(tmp_path, sen_checkpoint, generator_checkpoint) -> Path:
    out = tmp_path / "models" / "bundle"
    write_bundle(out, sen_checkpoint, generator_checkpoint, FBANK, TTS, BACKBONE)
    return out


def reference_images(sen: Path, gen: Path, audio: Path, n: int, seed: int) -> np.ndarray:
    """The images of the original modules: checkpoint loaders, the front end, the sampler."""
    speech, _, _ = load_sen(sen)
    g = load_generator(gen)
    emb = embed_fbanks(speech, [SpeechFrontend(FBANK).audio_fbank(audio)])           # (1, E)
    z = torch.stack([torch.randn(g.cfg.z_dim, generator=torch.Generator().manual_seed(seed + i))
                     for i in range(n)])
    return sample(g, emb.repeat(n, 1), z).permute(0, 2, 3, 1).numpy()               # (n, S, S, 3)


def test_generate_equals_the_original_modules(bundle_dir, sen_checkpoint, generator_checkpoint, wav):
    model = s2igan.load_bundle(bundle_dir)
    ref = reference_images(sen_checkpoint, generator_checkpoint, wav, n=3, seed=5)
    images = model.generate(wav, n=3, seed=5)
    assert all(isinstance(im, Image.Image) and im.mode == "RGB" and im.size == (32, 32)
               for im in images)
    got = np.stack([np.asarray(im) for im in images])
    assert not np.array_equal(got[0], got[1])              # the seeds matter: not a vacuous test
    np.testing.assert_array_equal(got, ref)
    # a waveform (numpy, torch, int16 PCM) gives the same images as its file
    wave, rate = sf.read(wav, dtype="float32")
    for x in (wave, torch.from_numpy(wave)):
        np.testing.assert_array_equal(
            np.stack([np.asarray(im) for im in model.generate(x, n=3, seed=5, sample_rate=rate)]), ref)
    pcm, _ = sf.read(wav, dtype="int16")
    pcm_images = np.stack([np.asarray(im) for im in model.generate(pcm, n=3, seed=5, sample_rate=rate)])
    assert np.abs(pcm_images.astype(int) - ref).max() <= 2    # 16-bit quantisation only
    # seed s + 1 of n images is image 1 of seed s
    np.testing.assert_array_equal(np.asarray(model.generate(wav, n=1, seed=6)[0]), ref[1])


def test_generate_equals_the_checkpoint_command(bundle_dir, sen_checkpoint, generator_checkpoint,
                                                wav, tmp_path):
    paths = generate_from_checkpoints(audio=wav, out=tmp_path / "ckpt", n=2, seed=0,
                                      sen_checkpoint=sen_checkpoint,
                                      generator_checkpoint=generator_checkpoint,
                                      fbank_config=FBANK, device="cpu")
    from_bundle = load_bundle(bundle_dir).generate(wav, n=2)
    for path, im in zip(paths, from_bundle):
        np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), np.asarray(im))


def test_embed(bundle_dir, sen_checkpoint, wav):
    model = load_bundle(bundle_dir)
    vec = model.embed(wav)
    speech, _, _ = load_sen(sen_checkpoint)
    ref = embed_fbanks(speech, [SpeechFrontend(FBANK).audio_fbank(wav)])[0].numpy()
    assert vec.shape == (E,) and vec.dtype == np.float32
    np.testing.assert_array_equal(vec, ref)
    assert np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)
    other = model.embed(chirp(f0=900.0), sample_rate=22050)
    assert not np.allclose(vec, other)


def test_models_are_loaded_once(bundle_dir, wav, monkeypatch):
    model = load_bundle(bundle_dir)
    import s2igan.bundle as bundle_module

    def refuse(*a, **k):
        raise AssertionError("weights read again")
    monkeypatch.setattr(bundle_module, "load_file", refuse)
    monkeypatch.setattr(bundle_module, "load_state", refuse)
    model.generate(wav)
    model.embed(wav)


def test_bundle_holds_safetensors_and_json_only(bundle_dir, sen_checkpoint, generator_checkpoint):
    names = sorted(p.name for p in bundle_dir.iterdir())
    assert names == sorted([META, SPEECH_ENCODER, GENERATOR])
    for name in (SPEECH_ENCODER, GENERATOR):
        raw = (bundle_dir / name).read_bytes()
        assert not raw.startswith((b"PK", b"\x80"))          # neither torch.save's zip nor a pickle
        (size,) = struct.unpack("<Q", raw[:8])                # safetensors: u64 header length, JSON
        header = json.loads(raw[8:8 + size])
        assert header["__metadata__"] == {"format": "pt"}
        assert all(set(v) == {"dtype", "shape", "data_offsets"}
                   for k, v in header.items() if k != "__metadata__")
    meta = json.loads((bundle_dir / META).read_text())
    assert from_dict(SENConfig, meta["sen"]["config"]) == TINY_SEN
    assert from_dict(DGConfig, meta["dg"]["config"]) == tiny_dg()
    assert from_dict(FbankConfig, meta["fbank"]) == FBANK
    assert from_dict(TTSConfig, meta["tts"]) == TTS
    assert meta["embed_dim"] == E and meta["image_size"] == 32
    assert meta["image_backbone"] == {k: BACKBONE[k] for k in ("backbone", "weights", "dim",
                                                                "input_size")}
    assert meta["versions"] == {"s2igan": s2igan.__version__, "torch": torch.__version__}
    assert meta["source"]["sen_checkpoint_sha256"] == hashlib.sha256(
        sen_checkpoint.read_bytes()).hexdigest()
    assert meta["source"]["generator_checkpoint_sha256"] == hashlib.sha256(
        generator_checkpoint.read_bytes()).hexdigest()


def test_files_get_the_umask_mode(bundle_dir):
    """Like every output (tests/reliability/test_file_modes.py): safetensors writes 0600."""
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(bundle_dir.stat().st_mode) == 0o777 & ~mask
    for path in bundle_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path.name


def test_loading_runs_no_pickle(bundle_dir, wav, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("pickle used")
    for name in ("load", "loads"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    model = load_bundle(bundle_dir)
    assert model.tts == TTS and model.fbank == FBANK
    model.generate(wav)


def test_a_failed_write_keeps_the_previous_bundle(bundle_dir, sen_checkpoint, tmp_path, monkeypatch):
    before = {p.name: p.read_bytes() for p in bundle_dir.iterdir()}
    other = tmp_path / "other_generator.pt"
    torch.manual_seed(1)
    save_checkpoint(other, {"generator": Generator(tiny_dg(), E).state_dict(),
                            "config": to_dict(tiny_dg()), "embed_dim": E})
    import s2igan.bundle as bundle_module

    def fail(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(bundle_module, "write_json", fail)
    with pytest.raises(OSError, match="disk full"):
        write_bundle(bundle_dir, sen_checkpoint, other, FBANK, TTS, BACKBONE)
    assert {p.name: p.read_bytes() for p in bundle_dir.iterdir()} == before
    assert sorted(p.name for p in bundle_dir.parent.iterdir()) == ["bundle"]   # no temporaries


def test_write_refuses_a_generator_of_another_embedding_size(sen_checkpoint, tmp_path):
    gen = tmp_path / "g8.pt"
    save_checkpoint(gen, {"generator": Generator(tiny_dg(), 8).state_dict(),
                          "config": to_dict(tiny_dg()), "embed_dim": 8})
    with pytest.raises(BadInputError, match="g8.pt: generator conditions on 8-d"):
        write_bundle(tmp_path / "b", sen_checkpoint, gen, FBANK, TTS, BACKBONE)
    assert not (tmp_path / "b").exists()


def _truncate(d: Path) -> Path:
    p = d / GENERATOR
    p.write_bytes(p.read_bytes()[:100])
    return p


def _garbage_with_matching_sha(d: Path) -> Path:
    p = d / SPEECH_ENCODER
    p.write_bytes(b"not safetensors at all, but its sha256 is recorded")
    meta = json.loads((d / META).read_text())
    meta["files"][SPEECH_ENCODER]["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    (d / META).write_text(json.dumps(meta))
    return p


def _config_that_does_not_fit(d: Path) -> Path:
    meta = json.loads((d / META).read_text())
    meta["dg"]["config"]["ngf"] = 32
    (d / META).write_text(json.dumps(meta))
    return d / GENERATOR


def _delete(name: str):
    def damage(d: Path) -> Path:
        (d / name).unlink()
        return d / name
    return damage


def _write(name: str, text: str):
    def damage(d: Path) -> Path:
        (d / name).write_text(text)
        return d / name
    return damage


def test_missing_bundle_folder(tmp_path):
    with pytest.raises(BadInputError, match=r"nowhere: model bundle not found .*dvc repro bundle"):
        load_bundle(tmp_path / "nowhere")


@pytest.mark.parametrize("damage, problem", [
    (_delete(META), "file not found"),
    (_write(META, "{not json"), "not valid JSON"),
    (_write(META, '{"format": "something else"}'), "not an s2igan model bundle"),
    (_write(META, '{"format": "s2igan-bundle", "format_version": 1}'), "malformed bundle.json"),
    (_delete(SPEECH_ENCODER), "missing from the model bundle"),
    (_truncate, "corrupt or modified"),
    (_garbage_with_matching_sha, "not a readable safetensors file"),
    (_config_that_does_not_fit, "weights do not fit the config"),
], ids=["no-json", "bad-json", "foreign-json", "incomplete-json", "no-weights",
        "truncated", "garbage-weights", "config-mismatch"])
def test_bad_bundle_gives_one_error_naming_the_file(bundle_dir, damage, problem):
    bad = damage(bundle_dir)
    with pytest.raises(BadInputError) as err:
        load_bundle(bundle_dir)
    message = str(err.value)
    assert "\n" not in message and problem in message
    assert message.startswith(f"{bad}: "), message


@pytest.mark.parametrize("audio, rate, problem", [
    (np.zeros((100, 2), np.float32), 16000, "expected 1-D samples"),
    (chirp(), None, "needs sample_rate"),
    (chirp(), 0, "needs sample_rate"),
    (np.zeros(16000, np.float32), 16000, "silent clip"),
    (np.full(16000, np.nan, np.float32), 16000, "NaN/Inf"),
    ([0.1, 0.2], 16000, "expected an audio file path or a 1-D waveform"),
], ids=["2-d", "no-rate", "zero-rate", "silent", "nan", "list"])
def test_bad_waveforms_are_refused(bundle_dir, audio, rate, problem):
    with pytest.raises(BadInputError, match=problem):
        load_bundle(bundle_dir).generate(audio, sample_rate=rate)


def test_bad_audio_files_are_refused_naming_the_file(bundle_dir, tmp_path, wav):
    model = load_bundle(bundle_dir)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF but not really")
    with pytest.raises(BadInputError, match=r"broken\.wav: unreadable audio header"):
        model.embed(bad)
    with pytest.raises(BadInputError, match=r"missing\.wav: audio file not found"):
        model.generate(tmp_path / "missing.wav")
    with pytest.raises(BadInputError, match="sample_rate is for waveforms"):
        model.generate(wav, sample_rate=16000)
    with pytest.raises(BadInputError, match="n must be an int >= 1"):
        model.generate(wav, n=0)


def test_a_generator_with_a_fitted_condition_projection_bundles_and_generates_the_same(
        tmp_path, sen_checkpoint, wav):
    """dg.condition_projection (the embedded default): its fitted buffers travel in the
    safetensors file, and the bundle generates what the checkpoint generates."""
    from dataclasses import replace

    from s2igan.rdg.condition import fit_projection

    torch.manual_seed(0)
    dg = replace(tiny_dg(), condition_projection="lda", condition_dims=4)
    g = Generator(dg, E).eval()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, E)) + np.repeat(rng.normal(size=(5, E)), 8, axis=0)
    g.project.set(*fit_projection("lda", x, np.repeat(np.arange(5), 8), dg.condition_dims))
    gen = tmp_path / "generator.pt"
    save_checkpoint(gen, {"generator": g.state_dict(), "config": to_dict(dg), "embed_dim": E})
    out = tmp_path / "bundle"
    write_bundle(out, sen_checkpoint, gen, FBANK, TTS, BACKBONE)
    bundle = load_bundle(out)
    assert torch.equal(bundle.generator.project.weight, g.project.weight)
    assert bundle.generator.project.weight.abs().sum() > 0
    got = np.stack([np.asarray(im) for im in bundle.generate(wav, n=2, seed=5)])
    np.testing.assert_array_equal(got, reference_images(sen_checkpoint, gen, wav, 2, 5))


def test_a_vlad_generator_bundles_and_reads_the_vlad_of_the_spoken_description(
        tmp_path, sen_checkpoint, wav):
    """dg.condition_vlad (the embedded default): the centres travel in the bundle, and the
    generator reads the SEN embedding followed by the VLAD of the description's frame states."""
    from dataclasses import replace

    from s2igan.sen.vlad import vlad_pool

    torch.manual_seed(0)
    k = 3
    dg = replace(tiny_dg(), condition_projection="cca", condition_dims=4, condition_vlad=k)
    g = Generator(dg, E).eval()
    assert g.input_dim == E * (1 + k)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(k, E)).astype(np.float32)
    g.project.set(np.zeros(E * (1 + k)), rng.normal(size=(E * (1 + k), 4)), centres)
    gen = tmp_path / "generator.pt"
    save_checkpoint(gen, {"generator": g.state_dict(), "config": to_dict(dg), "embed_dim": E})
    write_bundle(tmp_path / "bundle", sen_checkpoint, gen, FBANK, TTS, BACKBONE)
    bundle = load_bundle(tmp_path / "bundle")
    np.testing.assert_array_equal(bundle.generator.project.centres.numpy(), centres)
    speech = load_sen(sen_checkpoint)[0]
    x = torch.from_numpy(SpeechFrontend(FBANK).audio_fbank(wav))[None]
    lengths = torch.tensor([x.shape[1]])
    with torch.no_grad():
        h, steps = speech.states(x, lengths)
        y = torch.cat([speech(x, lengths), vlad_pool(h, steps, torch.from_numpy(centres))], 1)
    z = torch.stack([torch.randn(dg.z_dim, generator=torch.Generator().manual_seed(5 + i))
                     for i in range(2)])
    ref = sample(g, y.repeat(2, 1), z)
    torch.testing.assert_close(bundle.images(wav, n=2, seed=5), ref, atol=1, rtol=0)
    # the VLAD part matters: the same description without it gives other images
    y0 = torch.cat([y[:, :E], torch.zeros_like(y[:, E:])], 1)
    assert not torch.equal(sample(g, y0.repeat(2, 1), z), ref)
