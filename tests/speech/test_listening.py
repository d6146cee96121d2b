"""Listening check: Piper speech transcribed by the offline recogniser pocketsphinx (bundled
US-English model) recovers the colour words of its caption.

espeak-ng is not tested this way: its formant speech is understandable to people but
pocketsphinx recovers only a few of its words (see the speech helper's report).
"""

import numpy as np
import pytest

from s2igan.speech.audio import to_16k_mono
from s2igan.speech.store import to_int16
from s2igan.speech.tts import make_backend

pocketsphinx = pytest.importorskip("pocketsphinx")

CAPTIONS = {
    "this bird has a red crown, blue wings and a yellow belly": {"red", "blue", "yellow"},
    "this bird has a black crown, white wings and a green belly": {"black", "white", "green"},
}


def transcribe(decoder, wave16k: np.ndarray) -> str:
    decoder.start_utt()
    decoder.process_raw(to_int16(wave16k).tobytes(), full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp else ""


def test_piper_colour_words_are_recognised():
    """Every default voice, two synthesis seeds each: 8 draws of 6 colour words.

    Piper samples its noise, so one draw is a coin flip over a few words (3 to 6 of 6 measured
    per draw over 24 draws); the sum over the 8 draws here was 36 of 48 (0.75) when written.
    """
    decoder = pocketsphinx.Decoder(samprate=16000, loglevel="FATAL")
    backend = make_backend("piper")
    found = total = 0
    for voice in backend.voices():
        for seed in (0, 1):
            backend.reseed(seed)
            for caption, colours in CAPTIONS.items():
                wave = to_16k_mono(backend.synthesize(caption, voice), backend.sample_rate)
                found += len(colours & set(transcribe(decoder, wave).split()))
                total += len(colours)
    assert found >= 0.6 * total, f"{found} of {total} colour words recognised"
