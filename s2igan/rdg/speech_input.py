"""Speech in, speech embedding out, for sampling from a trained S2IGAN (the `generate` command
and the colour-keyword figure): audio file or text (through a TTS backend) -> 16 kHz wave ->
log-mel filterbank (the `fbank` stage's function and config) -> SEN speech encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from s2igan.io import BadInputError


def text_to_wave(text: str, backend: str = "piper", voice: str | None = None, seed: int = 0,
                 **backend_kwargs) -> np.ndarray:
    """Synthesise ``text`` with a TTS backend (``s2igan.speech.tts``) -> (N,) 16 kHz float32.

    The backend is reseeded with ``seed`` first, so the same text gives the same speech.
    """
    from s2igan.speech.audio import check_clip, to_16k_mono
    from s2igan.speech.text import clean_text
    from s2igan.speech.tts import make_backend

    tts = make_backend(backend, **backend_kwargs)
    voice = voice or tts.voices()[0]
    tts.reseed(seed)
    wave = to_16k_mono(tts.synthesize(clean_text(text, "text"), voice), tts.sample_rate)
    check_clip(wave, f"TTS output for {text!r}")
    return wave


def audio_to_wave(path: str | Path) -> np.ndarray:
    """Read an audio file as validated 16 kHz mono float32 (BadInputError if unreadable)."""
    from s2igan.speech.audio import load_audio

    return load_audio(path)


def wave_to_fbank(wave: np.ndarray, fbank_cfg=None) -> np.ndarray:
    """(N,) 16 kHz wave -> (T, n_mels) filterbank, exactly as the `fbank` stage computes it."""
    from s2igan.speech.fbank import FbankConfig, compute_fbank

    return compute_fbank(wave, fbank_cfg or FbankConfig())


def pad_fbanks(fbanks: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """List of (T_i, C) -> zero-padded (B, T_max, C) and lengths (B,)."""
    lengths = torch.tensor([len(f) for f in fbanks])
    out = torch.zeros(len(fbanks), int(lengths.max()), fbanks[0].shape[1])
    for i, f in enumerate(fbanks):
        out[i, :len(f)] = torch.from_numpy(np.asarray(f, dtype=np.float32))
    return out, lengths


@torch.no_grad()
def embed_fbanks(speech_encoder: torch.nn.Module, fbanks: list[np.ndarray]) -> torch.Tensor:
    """SEN speech embeddings (B, E) of filterbanks (T_i, C)."""
    if not fbanks:
        raise BadInputError(None, "no speech to embed")
    device = next(speech_encoder.parameters()).device
    x, lengths = pad_fbanks(fbanks)
    return speech_encoder.eval()(x.to(device), lengths.to(device)).float().cpu()
