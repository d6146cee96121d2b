"""TTS stage: text checks, voices, backends (espeak, Piper, a tiny random Coqui VITS), dedup,
shards + index + listen, real speech, on_bad_input, atomic outputs, the stage script."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from s2igan.data import manifest
from s2igan.io import BadInputError
from s2igan.speech import listen
from s2igan.speech.store import read_index
from s2igan.speech.synth import TTSConfig, run_tts
from s2igan.speech.text import clean_text, read_caption_file
from s2igan.speech.tts import make_backend
from s2igan.speech.voices import assign_voices

ROOT = Path(__file__).resolve().parents[2]


def frame_of(texts, audio=None):
    rows = [dict(image_id=f"im{i}", image_path="x.png", class_id=i % 2, split="train",
                 caption_idx=0, text=t) for i, t in enumerate(texts)]
    rows += [dict(image_id=f"rec{i}", image_path="x.png", class_id=0, split="test",
                  caption_idx=0, audio_path=str(p)) for i, p in enumerate(audio or [])]
    return manifest.build(rows, "t", "fine_grained")


ESPEAK = TTSConfig(backend="espeak", workers=1, examples=2)


# -- text ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,problem", [("", "empty"), ("   \n", "empty"), (None, "empty"),
                                          ("... !!", "no speakable")])
def test_unspeakable_text_is_refused(text, problem):
    with pytest.raises(BadInputError, match=problem):
        clean_text(text, "caption x")


def test_text_whitespace_is_collapsed():
    assert clean_text("  a  red\tbird \n", "x") == "a red bird"


def test_caption_file_must_be_utf8(tmp_path):
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("a red bird\n\nwith blue wings\n", encoding="utf-8")
    bad.write_bytes("a red bird\n".encode() + b"caf\xe9 wings\n")  # Latin-1 byte
    assert read_caption_file(good) == ["a red bird", "with blue wings"]
    with pytest.raises(BadInputError, match="not UTF-8") as info:
        read_caption_file(bad)
    assert info.value.path == str(bad)


# -- voices ----------------------------------------------------------------------------------
def test_voice_draw_is_seeded_and_stable_when_other_captions_change():
    voices = ["a", "b", "c", "d"]
    ids = [f"im{i}#0" for i in range(200)]
    first = assign_voices(ids, voices, seed=0)
    assert assign_voices(ids[50:], voices, seed=0) == first[50:]
    assert first != assign_voices(ids, voices, seed=1)
    assert set(first) == set(voices)
    assert set(assign_voices(ids, voices, 0, multi_speaker=False)) == {"a"}


# -- backends --------------------------------------------------------------------------------
def test_espeak_voices_differ():
    backend = make_backend("espeak")
    a, b = (backend.synthesize("a red bird", v) for v in backend.voices()[:2])
    assert a.dtype == np.float32 and backend.sample_rate == 22050 and len(a) > 0.3 * 22050
    assert len(a) != len(b) or not np.allclose(a, b)


def test_espeak_bad_voice_option_refused():
    with pytest.raises(ValueError, match="bad option"):
        make_backend("espeak").check_voice("en-us,volume=3")


def test_piper_synthesises_float32_speech():
    backend = make_backend("piper")
    wave = backend.synthesize("this bird is red", backend.voices()[1])
    assert wave.dtype == np.float32 and backend.sample_rate == 22050
    assert 0.5 * 22050 < len(wave) < 4 * 22050 and 0.5 < np.abs(wave).max() <= 1.0


def test_piper_reseed_repeats_the_sampled_speech():
    backend = make_backend("piper")
    text, voice = "a red bird", backend.voices()[0]
    backend.reseed(1)
    first, second = backend.synthesize(text, voice), backend.synthesize(text, voice)
    backend.reseed(1)
    assert np.array_equal(backend.synthesize(text, voice), first)
    assert np.array_equal(backend.synthesize(text, voice), second)
    backend.reseed(2)
    again = backend.synthesize(text, voice)
    assert not np.array_equal(second, first) and not np.array_equal(again, first)


def test_unknown_backend_refused():
    with pytest.raises(ValueError, match="unknown tts.backend"):
        make_backend("festival")


def test_coqui_without_model_stops_with_instructions(tmp_path):
    cfg = TTSConfig(backend="coqui", coqui_model_name="tts_models/en/vctk/vits")
    with pytest.raises(BadInputError, match="nothing is downloaded.*TTS_HOME"):
        run_tts(frame_of(["a red bird"]), tmp_path / "speech", tmp_path / "rep", cfg,
                tts_home=tmp_path)
    with pytest.raises(BadInputError, match="needs a local model"):
        make_backend("coqui")
    assert not (tmp_path / "speech").exists()


def tiny_vits(folder: Path) -> tuple[Path, Path]:
    """A random-weight VITS (speaks noise): exercises the Coqui code path offline in ~1 s."""
    import torch
    from TTS.tts.configs.shared_configs import BaseAudioConfig, CharactersConfig
    from TTS.tts.configs.vits_config import VitsArgs, VitsConfig
    from TTS.tts.models.vits import Vits

    args = VitsArgs(hidden_channels=16, hidden_channels_ffn_text_encoder=32,
                    num_layers_text_encoder=1, num_layers_flow=1, num_layers_posterior_encoder=1,
                    resblock_type_decoder="2", resblock_kernel_sizes_decoder=[3],
                    resblock_dilation_sizes_decoder=[[1, 3]], upsample_initial_channel_decoder=16,
                    use_sdp=False, init_discriminator=False)
    chars = CharactersConfig(characters_class="TTS.tts.models.vits.VitsCharacters", pad="<PAD>",
                             eos="<EOS>", bos="<BOS>", blank="<BLNK>",
                             characters="abcdefghijklmnopqrstuvwxyz", punctuations="!,.? ")
    cfg = VitsConfig(model_args=args, use_phonemes=False, text_cleaner="basic_cleaners",
                     characters=chars, audio=BaseAudioConfig(sample_rate=16000))
    torch.manual_seed(0)
    model = Vits(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    cfg.save_json(str(folder / "config.json"))
    return folder / "model.pth", folder / "config.json"


def test_coqui_local_model_code_path(tmp_path):
    pytest.importorskip("TTS", exc_type=ImportError)
    model, config = tiny_vits(tmp_path / "vits")
    cfg = TTSConfig(backend="coqui", coqui_model_path=str(model), coqui_config_path=str(config),
                    workers=1, examples=1)
    m = run_tts(frame_of(["a red bird", "a blue bird"]), tmp_path / "speech", tmp_path / "rep", cfg)
    index = read_index(tmp_path / "speech")
    assert m["tts/unique_syntheses"] == 2 and set(index["voice"]) == {"default"}
    assert (index["sample_rate"] == 16000).all() and (index["length"] > 0).all()


# -- the stage -------------------------------------------------------------------------------
def test_stage_dedups_shards_and_listens(tmp_path):
    texts = ["a red bird", "a red bird", "a blue bird", "a red bird"]
    cfg = TTSConfig(backend="espeak", voices=("en-us", "en-gb"), workers=2, examples=3)
    m = run_tts(frame_of(texts), tmp_path / "speech", tmp_path / "rep", cfg)
    index = read_index(tmp_path / "speech").set_index("caption_id")
    pairs = set(zip(index["text"], index["voice"]))
    assert m["tts/captions"] == 4 and m["tts/unique_syntheses"] == len(pairs) < 4
    assert sorted(p.name for p in (tmp_path / "speech").iterdir()) == ["index.parquet",
                                                                       "shard-000.npy"]
    same = index.groupby(["text", "voice"])["start"].nunique()
    assert (same == 1).all()  # one shard segment per distinct (text, voice)
    text = listen(tmp_path / "speech", "im2#0", tmp_path / "one.wav")
    wave, rate = sf.read(tmp_path / "one.wav")
    assert text == "a blue bird" and rate == 16000 and len(wave) == index.loc["im2#0", "length"]
    examples = json.loads((tmp_path / "rep/examples/texts.json").read_text())
    assert len(examples) == 3 and all((tmp_path / "rep/examples" / e["file"]).is_file()
                                      for e in examples)
    assert m["tts/audio_seconds"] > 0 and m["tts/x_real_time"] > 0


@pytest.mark.slow
def test_piper_stage_audio_does_not_depend_on_worker_count(tmp_path):
    texts = ["a red bird", "a blue bird", "a small green bird", "a black bird", "a white bird"]
    shards = []
    for workers in (1, 2):
        cfg = TTSConfig(backend="piper", multi_speaker=False, workers=workers, seed_block=2)
        run_tts(frame_of(texts), tmp_path / f"w{workers}", tmp_path / f"rep{workers}", cfg)
        shards.append(np.load(tmp_path / f"w{workers}" / "shard-000.npy"))
    assert np.array_equal(shards[0], shards[1])
    cfg = TTSConfig(backend="piper", multi_speaker=False, workers=2, seed_block=2, seed=1)
    run_tts(frame_of(texts), tmp_path / "s1", tmp_path / "rep_s1", cfg)
    assert not np.array_equal(np.load(tmp_path / "s1" / "shard-000.npy"), shards[0])


def test_real_speech_is_indexed_not_synthesised(tmp_path):
    rec = tmp_path / "rec.wav"
    sf.write(rec, np.random.default_rng(0).normal(0, 0.1, (8000, 2)), 8000)
    m = run_tts(frame_of(["a red bird"], audio=[rec]), tmp_path / "speech", tmp_path / "rep",
                ESPEAK)
    index = read_index(tmp_path / "speech").set_index("caption_id")
    assert m["tts/real_clips"] == 1 and m["tts/unique_syntheses"] == 1
    assert index.loc["rec0#0", "path"] == str(rec) and index.loc["rec0#0", "sample_rate"] == 8000
    listen(tmp_path / "speech", "rec0#0", tmp_path / "r.wav")
    assert sf.info(tmp_path / "r.wav").samplerate == 16000


def test_bad_caption_errors_atomically_or_is_skipped(tmp_path):
    zero = tmp_path / "zero.wav"
    zero.write_bytes(b"")
    frame = frame_of(["a red bird", "  ", "a blue bird"], audio=[zero])
    speech = tmp_path / "speech"
    speech.mkdir()
    (speech / "old.txt").write_text("previous run")
    with pytest.raises(BadInputError, match="0 bytes"):
        run_tts(frame, speech, tmp_path / "rep", ESPEAK)
    assert [p.name for p in speech.iterdir()] == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speech", "zero.wav"]
    cfg = TTSConfig(backend="espeak", workers=1, on_bad_input="skip")
    m = run_tts(frame, speech, tmp_path / "rep", cfg)
    skipped = json.loads((tmp_path / "rep/skipped.json").read_text())
    assert m["tts/skipped"] == 2 and skipped["count"] == 2
    assert {s["id"] for s in skipped["items"]} == {"im1#0", "rec0#0"}
    assert set(read_index(speech)["caption_id"]) == {"im0#0", "im2#0"}


@pytest.mark.slow  # ~15 s: a subprocess importing torch and MLflow
def test_stage_script_runs_from_params(tmp_path):
    manifest.write(frame_of(["a red bird", "a green bird"]), tmp_path / "prep/manifest.parquet")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["tts"].update(backend="espeak", workers=1)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db",
               PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(ROOT / "stages/tts.py"), "prep", "speech", "rep"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    metrics = json.loads((tmp_path / "rep/metrics.json").read_text())
    assert metrics["tts/captions"] == 2 and (tmp_path / "speech/index.parquet").is_file()


def test_voices_per_text_bounds_the_syntheses_and_keeps_every_voice():
    voices = [f"v{i}" for i in range(7)]
    ids = [f"c{i:04d}" for i in range(600)]
    texts = [f"text {i % 20}" for i in range(600)]
    picked = assign_voices(ids, voices, 0, texts=texts, per_text=3)
    pairs = set(zip(texts, picked))
    assert len(pairs) <= 3 * 20 < len(set(zip(texts, assign_voices(ids, voices, 0))))
    assert set(picked) == set(voices)
    for t in set(texts):
        assert len({v for tt, v in pairs if tt == t}) <= 3
    # a caption's voice depends on its id and text only, not on the other captions
    assert assign_voices(ids[100:], voices, 0, texts=texts[100:], per_text=3) == picked[100:]
