"""Mixed backend: voices of several engines in one voice set (multi-speaker SynthBirds).

A voice string names its engine first: ``"<engine>:<that engine's voice string>"``, e.g.
``"piper:joe,length_scale=0.85"`` or ``"espeak:en-gb-scotland+m3,speed=160,pitch=40"``. The
engines are built lazily (Piper loads its model only when a Piper voice is spoken), every clip is
resampled to 16 kHz so that clips of different engines share one rate, and a reseed reaches every
engine that samples.

Default voice set (``tts.voices: []``): two settings of the Piper voice and five espeak-ng
accents/variants, male and female. :data:`HELDOUT_VOICES` are voices the default set never uses:
the evaluation re-speaks the test captions with them to measure generalisation to a new voice.
"""

from __future__ import annotations

import numpy as np

from s2igan.speech.audio import SAMPLE_RATE, to_16k_mono
from s2igan.speech.tts.base import TTSBackend

DEFAULT_VOICES = [
    "piper:joe,length_scale=1.0,noise_scale=0.667,noise_w=0.8",
    "piper:joe,length_scale=0.85,noise_scale=0.5,noise_w=0.6",
    "espeak:en-us,speed=175,pitch=50",
    "espeak:en-gb-scotland,speed=160,pitch=40",
    "espeak:en-gb-x-rp+f3,speed=170,pitch=60",
    "espeak:en-029+m3,speed=155,pitch=35",
    "espeak:en-us+f2,speed=180,pitch=65",
]
# Accent + variant pairs that no default voice uses (held out of training).
HELDOUT_VOICES = ["espeak:en-gb+m2,speed=165,pitch=45"]


def split_voice(voice: str) -> tuple[str, str]:
    """``"engine:voice"`` -> ``(engine, voice)``; ValueError without a known engine prefix."""
    engine, sep, rest = voice.partition(":")
    if not sep or engine not in ("piper", "espeak", "coqui"):
        raise ValueError(f"mixed voice {voice!r}: expected 'piper:...', 'espeak:...' or 'coqui:...'")
    return engine, rest


class MixedBackend(TTSBackend):
    name = "mixed"
    sample_rate = SAMPLE_RATE

    def __init__(self, make_engine):
        """``make_engine(name) -> TTSBackend`` builds one engine (called once per engine)."""
        self._make = make_engine
        self._engines: dict[str, TTSBackend] = {}
        self._seed: int | None = None

    def _engine(self, name: str) -> TTSBackend:
        if name not in self._engines:
            engine = self._make(name)
            if self._seed is not None:
                engine.reseed(self._seed)
            self._engines[name] = engine
        return self._engines[name]

    def voices(self) -> list[str]:
        return list(DEFAULT_VOICES)

    def check_voice(self, voice: str) -> None:
        engine, rest = split_voice(voice)
        self._engine(engine).check_voice(rest)

    def reseed(self, seed: int) -> None:
        self._seed = int(seed)
        for engine in self._engines.values():
            engine.reseed(self._seed)

    def synthesize(self, text: str, voice: str) -> np.ndarray:
        name, rest = split_voice(voice)
        engine = self._engine(name)
        return to_16k_mono(engine.synthesize(text, rest), engine.sample_rate)
