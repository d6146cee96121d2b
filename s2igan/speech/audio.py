"""Load, validate, downmix and resample audio to 16 kHz mono float32.

Every clip that reaches the filterbank goes through :func:`to_16k_mono` and :func:`check_clip`, so
real recordings (Flickr8k, Places) and synthesised speech are treated alike. Reading uses
``soundfile`` (libsndfile: WAV/FLAC/OGG, 8/16/24/32-bit PCM and float), never ``torchaudio.load``
(which needs torchcodec + FFmpeg from torchaudio 2.9 on).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from s2igan.io import BadInputError

SAMPLE_RATE = 16_000
MIN_SAMPLES = SAMPLE_RATE * 25 // 1000  # one 25 ms analysis window (Sec. III-B)
MAX_SECONDS = 600  # longest recording accepted (10 min; a spoken caption takes seconds)


def probe(path: str | Path) -> tuple[int, int]:
    """Cheap header check of a recording: ``(sample_rate, frames)``; refuses missing/empty/corrupt."""
    path = Path(path)
    _check_file(path)
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile raises LibsndfileError / RuntimeError
        raise BadInputError(path, f"unreadable audio header ({_short(exc)})") from None
    if info.frames <= 0:
        raise BadInputError(path, "audio file holds no samples")
    if info.samplerate <= 0:
        raise BadInputError(path, f"invalid sample rate {info.samplerate}")
    if info.frames > MAX_SECONDS * info.samplerate:
        raise BadInputError(path, f"recording too long: {info.frames / info.samplerate / 60:.1f} "
                                  f"min, more than the {MAX_SECONDS / 60:g} min ceiling "
                                  f"(MAX_SECONDS)")
    return int(info.samplerate), int(info.frames)


def load_audio(path: str | Path, max_samples: int | None = None) -> np.ndarray:
    """Read any clip as validated 16 kHz mono float32 in [-1, 1] (stereo mixed down, resampled).

    ``max_samples`` (16 kHz samples): read only the start of the file that yields them (plus
    10 ms for the resampling filter) and return at most that many, so a long recording costs
    the memory of the part the filterbank keeps. A file over :data:`MAX_SECONDS` is refused from
    its header before anything is read.
    """
    path = Path(path)
    rate, frames = probe(path)
    if max_samples is not None:
        frames = min(frames, -(-max_samples * rate // SAMPLE_RATE) + rate // 100)
    try:
        data, rate = sf.read(str(path), frames=frames, dtype="float32",
                             always_2d=True)  # (N, channels)
    except Exception as exc:
        raise BadInputError(path, f"unreadable audio ({_short(exc)})") from None
    wave = to_16k_mono(data, rate)
    if max_samples is not None:
        wave = wave[:max_samples]
    check_clip(wave, path)
    return wave


def to_16k_mono(data: np.ndarray, rate: int) -> np.ndarray:
    """(N,) or (N, C) samples at ``rate`` -> (M,) float32 at 16 kHz (channel mean, polyphase sinc)."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)  # (N,)
    if rate != SAMPLE_RATE and len(data):
        if not np.all(np.isfinite(data)):
            return data  # check_clip names the NaN/Inf problem; resampling would smear it
        data = AF.resample(torch.from_numpy(data), int(rate), SAMPLE_RATE).numpy()
    return np.ascontiguousarray(data, dtype=np.float32)


def check_clip(wave: np.ndarray, where: str | Path) -> None:
    """Refuse clips the filterbank cannot use: NaN/Inf, digital silence, shorter than a window."""
    if not np.all(np.isfinite(wave)):
        bad = int(np.count_nonzero(~np.isfinite(wave)))
        raise BadInputError(where, f"{bad} NaN/Inf sample(s)")
    if len(wave) < MIN_SAMPLES:
        raise BadInputError(where, f"clip too short: {1000 * len(wave) / SAMPLE_RATE:.1f} ms, "
                                   f"shorter than one 25 ms window")
    if not np.any(wave):
        raise BadInputError(where, "silent clip (all samples are zero)")


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise BadInputError(path, "is a directory, not an audio file")
    if not path.is_file():
        raise BadInputError(path, "audio file not found")
    if path.stat().st_size == 0:
        raise BadInputError(path, "empty audio file (0 bytes)")


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
