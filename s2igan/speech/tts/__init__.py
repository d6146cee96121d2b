"""TTS backends behind one interface (:class:`~s2igan.speech.tts.base.TTSBackend`).

Default voice sets (used when ``tts.voices`` is empty; with ``tts.multi_speaker: true`` each
caption draws one, seeded by ``tts.seed`` and its caption id):

* ``piper`` (default) -- the bundled single speaker ``joe`` (en-US) at four synthesis settings
  (length_scale, noise_scale, noise_w): (1.0, 0.667, 0.8) model default, (0.85, 0.5, 0.6) fast
  and flat, (1.1, 0.8, 0.9) slow and lively, (0.95, 0.33, 0.4) calm. Voice string:
  ``"joe,length_scale=0.9,noise_scale=0.5,noise_w=0.6"``.
* ``espeak`` -- eight accents/variants of espeak-ng at different speed (words/min) and pitch:
  en-us (175, 50), en-gb (165, 45), en-gb-scotland (160, 40), en-gb-x-rp+f3 (170, 60),
  en-us+f2 (180, 65), en-029+m3 (155, 35), en-gb-x-gbclan+f4 (170, 55), en-us+m7 (185, 45).
  Voice string: ``"en-gb-scotland+m3,speed=165,pitch=40"``.
* ``coqui`` -- every speaker of the local model (``"default"`` for a single-speaker model).
* ``mixed`` (SynthBirds default) -- voices of several engines, ``"<engine>:<voice>"``: two Piper
  settings and five espeak-ng accents/variants (:mod:`s2igan.speech.tts.mixed`); one more espeak
  voice is held out of training for the evaluation.

With ``multi_speaker: false`` every caption uses the first voice of the set.
"""

from __future__ import annotations

from pathlib import Path

from s2igan.speech.tts.base import TTSBackend
from s2igan.speech.tts.mixed import MixedBackend

BACKENDS = ("piper", "espeak", "coqui", "mixed")


def make_backend(name: str, threads: int = 1, coqui_model_path: str | Path | None = None,
                 coqui_config_path: str | Path | None = None,
                 coqui_model_name: str | None = None,
                 tts_home: str | Path | None = None) -> TTSBackend:
    """Construct a backend by name (cheap: models load on first synthesis)."""
    if name == "piper":
        from s2igan.speech.tts.piper import PiperBackend

        return PiperBackend(threads=threads)
    if name == "espeak":
        from s2igan.speech.tts.espeak import EspeakBackend

        return EspeakBackend()
    if name == "coqui":
        from s2igan.speech.tts.coqui import CoquiBackend

        return CoquiBackend(coqui_model_path, coqui_config_path, coqui_model_name,
                            tts_home=Path(tts_home) if tts_home else None, threads=threads)
    if name == "mixed":
        return MixedBackend(lambda engine: make_backend(
            engine, threads, coqui_model_path, coqui_config_path, coqui_model_name, tts_home))
    raise ValueError(f"unknown tts.backend {name!r}; expected one of {BACKENDS}")


__all__ = ["BACKENDS", "TTSBackend", "make_backend"]
