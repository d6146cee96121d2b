"""Coqui TTS backend (``coqui-tts``, import name ``TTS``), strictly offline.

Either a local model (``model_path`` + ``config_path``) or a model name already downloaded into
``TTS_HOME`` (``model_name``, e.g. ``tts_models/en/vctk/vits``). Nothing is ever downloaded: when
the files are missing, construction fails with a message saying what to fetch and where to put it.
Voice strings: a speaker name of a multi-speaker model, or ``"default"`` for single-speaker models;
the default voice set is all the model's speakers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from s2igan.io import BadInputError
from s2igan.speech.tts.base import TTSBackend

HOWTO = ("download a Coqui model on a machine with internet (e.g. `tts --model_name "
         "tts_models/en/vctk/vits --list_speaker_idxs`, which fills ~/.local/share/tts), then either "
         "copy its model.pth + config.json here and set tts.coqui_model_path / "
         "tts.coqui_config_path, or copy the whole folder into $TTS_HOME/tts and set "
         "tts.coqui_model_name")


def model_dir(model_name: str, tts_home: Path) -> Path:
    """Where Coqui keeps a downloaded model: ``<TTS_HOME>/tts/<type>--<lang>--<data>--<model>``."""
    return Path(tts_home) / "tts" / model_name.replace("/", "--")


class CoquiBackend(TTSBackend):
    name = "coqui"

    def __init__(self, model_path: str | Path | None = None, config_path: str | Path | None = None,
                 model_name: str | None = None, tts_home: Path | None = None, threads: int = 1):
        if model_path is None and model_name:
            folder = model_dir(model_name, tts_home or Path.home() / ".local/share")
            names = ("model_file.pth", "model.pth", "checkpoint.pth")
            found = [folder / n for n in names if (folder / n).is_file()]
            model_path, config_path = (found or [folder / names[0]])[0], folder / "config.json"
        if model_path is None or config_path is None:
            raise BadInputError(None, f"tts.backend=coqui needs a local model: {HOWTO}")
        for path in (Path(model_path), Path(config_path)):
            if not path.is_file():
                raise BadInputError(path, f"Coqui model file missing (nothing is downloaded): {HOWTO}")
        self.model_path, self.config_path, self.threads = Path(model_path), Path(config_path), threads
        self._tts = None
        self.sample_rate = self._read_rate()

    def _read_rate(self) -> int:
        import json

        config = json.loads(self.config_path.read_text(encoding="utf-8"))
        args = config.get("model_args") or {}
        return int(args.get("output_sample_rate") or config.get("audio", {}).get("sample_rate")
                   or config.get("audio", {}).get("output_sample_rate"))

    def _load(self):
        if self._tts is None:
            for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "COQUI_TOS_AGREED"):
                os.environ.setdefault(key, "1")
            import torch
            from TTS.api import TTS

            torch.set_num_threads(self.threads)
            self._tts = TTS(model_path=str(self.model_path), config_path=str(self.config_path),
                            progress_bar=False)
            self.sample_rate = int(self._tts.synthesizer.output_sample_rate)
        return self._tts

    def voices(self) -> list[str]:
        speakers = self._load().speakers
        return list(speakers) if speakers else ["default"]

    def reseed(self, seed: int) -> None:
        import torch

        torch.manual_seed(int(seed))  # Coqui models sample with torch (e.g. VITS noise)

    def synthesize(self, text: str, voice: str) -> np.ndarray:
        tts = self._load()
        speaker = None if voice == "default" else voice
        wave = tts.tts(text, speaker=speaker)
        return np.asarray(wave, dtype=np.float32)
