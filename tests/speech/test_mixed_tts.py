"""The mixed TTS backend: one voice set over several engines, with voices held out of training."""

import numpy as np
import pytest

from s2igan.speech.audio import SAMPLE_RATE, to_16k_mono
from s2igan.speech.tts import make_backend
from s2igan.speech.tts.mixed import DEFAULT_VOICES, HELDOUT_VOICES, split_voice

TEXT = "a small bird with a red crown"


def test_an_espeak_voice_speaks_as_espeak_itself_at_16k():
    mixed, espeak = make_backend("mixed"), make_backend("espeak")
    got = mixed.synthesize(TEXT, "espeak:en-gb-scotland,speed=160,pitch=40")
    want = to_16k_mono(espeak.synthesize(TEXT, "en-gb-scotland,speed=160,pitch=40"),
                       espeak.sample_rate)
    assert mixed.sample_rate == SAMPLE_RATE
    np.testing.assert_array_equal(got, want)


def test_a_piper_voice_is_reseeded_through_the_mixed_backend():
    mixed = make_backend("mixed")
    voice = DEFAULT_VOICES[0]
    assert split_voice(voice)[0] == "piper"
    mixed.reseed(3)
    a = mixed.synthesize(TEXT, voice)
    mixed.reseed(3)
    b = mixed.synthesize(TEXT, voice)
    mixed.reseed(4)
    c = mixed.synthesize(TEXT, voice)
    np.testing.assert_array_equal(a, b)
    assert len(a) != len(c) or not np.array_equal(a, c)


def test_held_out_voices_are_never_training_voices_and_every_engine_is_used():
    assert not set(HELDOUT_VOICES) & set(DEFAULT_VOICES)
    assert {split_voice(v)[0] for v in DEFAULT_VOICES} == {"piper", "espeak"}
    heldout_styles = {split_voice(v)[1].split(",")[0] for v in HELDOUT_VOICES}
    train_styles = {split_voice(v)[1].split(",")[0] for v in DEFAULT_VOICES}
    assert not heldout_styles & train_styles


@pytest.mark.parametrize("voice", ["en-us", "festival:en-us", "piper:joe,volume=2"])
def test_bad_mixed_voices_are_refused(voice):
    with pytest.raises(ValueError):
        make_backend("mixed").check_voice(voice)
