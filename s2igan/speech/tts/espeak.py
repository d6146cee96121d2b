"""espeak-ng backend (Debian package ``espeak-ng``): formant synthesis, 22.05 kHz.

Robotic, but many real accents and voice variants. Voice strings:
``"<voice>[+<variant>][,speed=<words/min>][,pitch=<0-99>]"``, e.g. ``"en-gb-scotland+m3,speed=165,pitch=40"``
(``espeak-ng --voices=en`` and ``--voices=variant`` list what exists).
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import soundfile as sf

from s2igan.speech.tts.base import TTSBackend, parse_options

OPTIONS = {"speed": int, "pitch": int}
# Eight English accents/variants, male and female, at different speeds and pitches.
DEFAULT_VOICES = [
    "en-us,speed=175,pitch=50",
    "en-gb,speed=165,pitch=45",
    "en-gb-scotland,speed=160,pitch=40",
    "en-gb-x-rp+f3,speed=170,pitch=60",
    "en-us+f2,speed=180,pitch=65",
    "en-029+m3,speed=155,pitch=35",
    "en-gb-x-gbclan+f4,speed=170,pitch=55",
    "en-us+m7,speed=185,pitch=45",
]


class EspeakBackend(TTSBackend):
    name = "espeak"
    sample_rate = 22050

    def __init__(self, executable: str = "espeak-ng"):
        found = shutil.which(executable)
        if found is None:
            raise RuntimeError(f"{executable!r} not found: install the Debian package espeak-ng")
        self.executable = found

    def voices(self) -> list[str]:
        return list(DEFAULT_VOICES)

    def check_voice(self, voice: str) -> None:
        parse_options(voice, OPTIONS)

    def synthesize(self, text: str, voice: str) -> np.ndarray:
        name, opts = parse_options(voice, OPTIONS)
        cmd = [self.executable, "--stdout", "-v", name]
        if "speed" in opts:
            cmd += ["-s", str(opts["speed"])]
        if "pitch" in opts:
            cmd += ["-p", str(opts["pitch"])]
        # Text on stdin: no shell, no argument injection ("-" leading captions are fine).
        out = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, check=False)
        if out.returncode != 0 or not out.stdout:
            raise RuntimeError(f"espeak-ng failed for voice {voice!r}: "
                               f"{out.stderr.decode(errors='replace').strip()[:200]}")
        audio, rate = sf.read(io.BytesIO(out.stdout), dtype="float32")
        if rate != self.sample_rate:
            raise RuntimeError(f"espeak-ng gave {rate} Hz, expected {self.sample_rate}")
        return audio
