"""The one small interface every TTS backend implements."""

from __future__ import annotations

import numpy as np


class TTSBackend:
    """A speech synthesiser. ``synthesize`` returns (N,) float32 at ``sample_rate``.

    A voice is a short string the backend parses (see each backend's docstring); ``voices()``
    is the backend's default voice set, used when ``tts.voices`` is empty. Construction is cheap;
    the model is loaded on first use (once per worker process).
    """

    name = "base"
    sample_rate: int

    def voices(self) -> list[str]:
        raise NotImplementedError

    def check_voice(self, voice: str) -> None:
        """Raise ``ValueError`` if ``voice`` is not a valid voice string for this backend."""

    def synthesize(self, text: str, voice: str) -> np.ndarray:
        raise NotImplementedError

    def reseed(self, seed: int) -> None:
        """Make the following syntheses a fixed function of ``seed`` (and of their order).

        A backend without randomness (espeak-ng) needs nothing; a sampling one overrides this.
        """


def parse_options(spec: str, known: dict[str, type]) -> tuple[str, dict]:
    """``"head,key=value,..."`` -> ``(head, {key: value})`` with typed values; unknown keys refused."""
    head, *pairs = [part.strip() for part in spec.split(",")]
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in known:
            raise ValueError(f"voice {spec!r}: bad option {pair!r}; known: {sorted(known)}")
        options[key] = known[key](value)
    return head, options
