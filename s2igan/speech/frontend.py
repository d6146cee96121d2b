"""The speech front end: spoken input as the SEN hears it. Text (through a TTS backend) or an
audio file -> 16 kHz mono wave -> log-mel filterbank -> SEN speech embedding.

The filterbank (Sec. III-B): 40 log-mel energies, 25 ms Hamming window, 10 ms shift,
Kaldi-compatible via ``torchaudio.compliance.kaldi``. With ``normalize: utterance`` every mel
channel is standardised over the utterance's frames (mean 0, std 1 over time), as the official
S2IGAN code does. ``max_frames`` keeps only the first ``max_frames`` frames of longer clips
(normalisation uses the kept frames).

One function per step, used alike by the ``fbank`` stage (:func:`compute_fbank` of every stored
clip), the ``evaluate`` stage (the spoken colour-grid sentences) and ``s2igan generate``;
:class:`SpeechFrontend` bundles them with the TTS backend and the filterbank config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torchaudio.compliance import kaldi

from s2igan.config import at_least, one_of, positive
from s2igan.io import BadInputError
from s2igan.speech.audio import SAMPLE_RATE, check_clip, load_audio, to_16k_mono
from s2igan.speech.text import clean_text
from s2igan.speech.tts import make_backend
from s2igan.stage import worker_pool

NORMALIZE = ("utterance", "none")


@dataclass(frozen=True)
class FbankConfig:
    num_mel_bins: int = 40
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    normalize: str = "utterance"  # utterance | none
    max_frames: int | None = 1024  # None = keep every frame
    on_bad_input: str = "error"  # error | skip
    threads: int = 1  # torch threads; clips are small, so more threads only add sync cost

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZE:
            raise ValueError(f"fbank.normalize must be one of {NORMALIZE}, got {self.normalize!r}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError("fbank.max_frames must be >= 1 or null")
        at_least("fbank.num_mel_bins", self.num_mel_bins, 1)
        positive("fbank.frame_length_ms", self.frame_length_ms)
        positive("fbank.frame_shift_ms", self.frame_shift_ms)
        one_of("fbank.on_bad_input", self.on_bad_input, ("error", "skip"))
        at_least("fbank.threads", self.threads, 1)

    @property
    def max_samples(self) -> int | None:
        """16 kHz samples that yield ``max_frames`` frames (None: no limit); longer clips are
        read only this far (:func:`s2igan.speech.audio.load_audio`)."""
        if self.max_frames is None:
            return None
        shift = int(SAMPLE_RATE * self.frame_shift_ms / 1000)
        window = int(SAMPLE_RATE * self.frame_length_ms / 1000)
        return self.max_frames * shift + window


def compute_fbank(wave: np.ndarray, cfg: FbankConfig) -> np.ndarray:
    """(N,) 16 kHz float32 in [-1, 1] -> (T, num_mel_bins) float32 log-mel energies.

    Kaldi conventions: samples scaled to the int16 range, no dither (deterministic), no energy
    term, power spectrum, Hamming window, DC offset removal and pre-emphasis 0.97 (defaults).
    """
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None] * 32768.0  # (1, N)
    feats = kaldi.fbank(x, num_mel_bins=cfg.num_mel_bins, frame_length=cfg.frame_length_ms,
                        frame_shift=cfg.frame_shift_ms, window_type="hamming", dither=0.0,
                        sample_frequency=SAMPLE_RATE, use_energy=False)  # (T, C)
    if cfg.max_frames is not None:
        feats = feats[: cfg.max_frames]
    if cfg.normalize == "utterance":
        mean = feats.mean(dim=0, keepdim=True)  # (1, C)
        std = feats.std(dim=0, unbiased=False, keepdim=True)  # (1, C)
        feats = (feats - mean) / (std + 1e-5)
    return feats.numpy().astype(np.float32, copy=False)


def text_to_wave(text: str, backend: str = "piper", voice: str | None = None, seed: int = 0,
                 **backend_kwargs) -> np.ndarray:
    """Synthesise ``text`` with a TTS backend (``s2igan.speech.tts``) -> (N,) 16 kHz float32.

    The backend is reseeded with ``seed`` first, so the same text gives the same speech.
    """
    text = clean_text(text, "text")   # refused before a backend loads
    tts = make_backend(backend, **backend_kwargs)
    voice = voice or tts.voices()[0]
    tts.reseed(seed)
    wave = to_16k_mono(tts.synthesize(text, voice), tts.sample_rate)
    check_clip(wave, f"TTS output for {text!r}")
    return wave


def audio_to_wave(path: str | Path, max_samples: int | None = None) -> np.ndarray:
    """Read an audio file as validated 16 kHz mono float32 (BadInputError if unreadable, a
    directory, or longer than :data:`~s2igan.speech.audio.MAX_SECONDS`); with ``max_samples``
    (:attr:`FbankConfig.max_samples`) only the start the filterbank keeps is read."""
    return load_audio(path, max_samples)


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


def _quiet_worker() -> None:
    torch.set_num_threads(1)   # the synthesis processes share the cores with each other


def _text_wave_job(job: tuple[str, str, str | None, int]) -> np.ndarray:
    return text_to_wave(*job)


@dataclass(frozen=True)
class SpeechFrontend:
    """Text or audio -> filterbank, as the `fbank` stage computes it: built from the filterbank
    config (params ``fbank``) and the TTS backend (params ``tts.backend``) with one voice.
    ``workers`` processes synthesise the texts of :meth:`text_fbanks`; every text is reseeded on
    its own (:func:`text_to_wave`), so the speech is the same for any number of workers."""

    fbank: FbankConfig = field(default_factory=FbankConfig)
    tts_backend: str = "piper"
    voice: str | None = None      # None: the backend's first voice
    seed: int = 0                 # TTS reseed (the same text gives the same speech)
    workers: int = 1              # synthesis processes of text_fbanks

    def text_wave(self, text: str) -> np.ndarray:
        return text_to_wave(text, self.tts_backend, self.voice, self.seed)

    def text_waves(self, texts: list[str]) -> list[np.ndarray]:
        """:meth:`text_wave` of every text, in order, over ``workers`` processes (forked; they
        return waves only, the filterbanks are computed here)."""
        jobs = [(t, self.tts_backend, self.voice, self.seed) for t in texts]
        if self.workers <= 1 or len(jobs) < 2:
            return [_text_wave_job(j) for j in jobs]

        with worker_pool(min(self.workers, len(jobs)), _quiet_worker) as pool:
            return pool.map(_text_wave_job, jobs, chunksize=max(1, len(jobs) // (4 * self.workers)))

    def text_fbanks(self, texts: list[str]) -> list[np.ndarray]:
        """:meth:`text_fbank` of every text, the synthesis spread over ``workers`` processes."""
        return [self.filterbank(w) for w in self.text_waves(texts)]

    def filterbank(self, wave: np.ndarray) -> np.ndarray:
        """(N,) 16 kHz wave -> (T, n_mels) filterbank."""
        return compute_fbank(wave, self.fbank)

    def text_fbank(self, text: str) -> np.ndarray:
        return self.filterbank(self.text_wave(text))

    def audio_fbank(self, path: str | Path) -> np.ndarray:
        return self.filterbank(audio_to_wave(path, self.fbank.max_samples))
