"""Spoken-caption store: a few int16 shards plus one index, instead of thousands of small files.

Layout of ``data/speech/``::

    shard-000.npy ...   int16 (n_samples,) 16 kHz mono, synthesised clips concatenated
    index.parquet       one row per caption

``index.parquet`` columns: ``caption_id``, ``source`` (``tts`` | ``real``), ``shard`` (file name,
``""`` for real speech), ``start`` / ``length`` (samples in the shard; for real speech ``length``
is the recording's frame count at its own rate), ``path`` (the real recording as written in the
manifest, ``""`` for TTS), ``voice``, ``text`` and ``sample_rate``. Identical (text, voice) pairs
share one shard segment. Real recordings are not copied: the index points at them and they are
validated and resampled when read (:func:`load_clip`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from s2igan.io import BadInputError, atomic_path
from s2igan.speech.audio import SAMPLE_RATE, check_clip, load_audio

INDEX = "index.parquet"
COLUMNS = ["caption_id", "source", "shard", "start", "length", "path", "voice", "text",
           "sample_rate"]
SHARD_SAMPLES = 1 << 25  # 32 Mi samples = 64 MB = 35 min of audio per shard


class ShardWriter:
    """Append int16 clips; a new ``shard-NNN.npy`` starts once ``max_samples`` are reached."""

    def __init__(self, directory: str | Path, max_samples: int = SHARD_SAMPLES):
        self.directory, self.max_samples = Path(directory), max_samples
        self._parts: list[np.ndarray] = []
        self._filled = 0
        self._count = 0

    def _name(self) -> str:
        return f"shard-{self._count:03d}.npy"

    def add(self, clip: np.ndarray) -> tuple[str, int, int]:
        """Store one clip; returns ``(shard, start, length)``."""
        if self._filled and self._filled + len(clip) > self.max_samples:
            self.flush()
        location = (self._name(), self._filled, len(clip))
        self._parts.append(np.asarray(clip, dtype=np.int16))
        self._filled += len(clip)
        return location

    def flush(self) -> None:
        if self._parts:
            np.save(self.directory / self._name(), np.concatenate(self._parts), allow_pickle=False)
            self._count += 1
        self._parts, self._filled = [], 0


def to_int16(wave: np.ndarray) -> np.ndarray:
    return (np.clip(wave, -1.0, 1.0) * 32767.0).round().astype(np.int16)


def write_index(directory: str | Path, rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame = frame.astype({"start": "int64", "length": "int64", "sample_rate": "int64"})
    with atomic_path(Path(directory) / INDEX) as tmp:
        frame.to_parquet(tmp, index=False)
    return frame


def read_index(directory: str | Path) -> pd.DataFrame:
    path = Path(directory) / INDEX
    if not path.is_file():
        raise BadInputError(path, "speech index not found (run the `tts` stage first)")
    frame = pd.read_parquet(path)
    missing = sorted(set(COLUMNS) - set(frame.columns))
    if missing:
        raise BadInputError(path, f"speech index lacks column(s) {missing}")
    return frame


class ClipReader:
    """Reads clips of an index as validated 16 kHz mono float32, memory-mapping each shard once;
    with ``max_samples``, a real recording is read only as far as that many 16 kHz samples
    (synthesised clips are short and memory-mapped, so they are returned whole)."""

    def __init__(self, directory: str | Path, max_samples: int | None = None):
        self.directory = Path(directory)
        self.max_samples = max_samples
        self._shards: dict[str, np.ndarray] = {}

    def _shard(self, name: str) -> np.ndarray:
        if name not in self._shards:
            path = self.directory / name
            if not path.is_file():
                raise BadInputError(path, "audio shard not found (re-run the `tts` stage)")
            self._shards[name] = np.load(path, mmap_mode="r", allow_pickle=False)
        return self._shards[name]

    def __call__(self, row) -> np.ndarray:
        if row.source == "real":
            return load_audio(row.path, self.max_samples)
        shard = self._shard(row.shard)
        if row.start + row.length > len(shard):
            raise BadInputError(self.directory / row.shard,
                                f"clip {row.caption_id!r} lies beyond the end of the shard")
        wave = shard[row.start:row.start + row.length].astype(np.float32) / 32767.0
        check_clip(wave, f"{self.directory / row.shard} [{row.caption_id}]")
        return wave


def load_clip(directory: str | Path, caption_id: str) -> tuple[np.ndarray, pd.Series]:
    """One caption's audio (16 kHz mono float32) and its index row."""
    index = read_index(directory)
    hits = index[index["caption_id"] == caption_id]
    if hits.empty:
        raise BadInputError(Path(directory) / INDEX, f"no spoken caption {caption_id!r}")
    row = hits.iloc[0]
    return ClipReader(directory)(row), row


def listen(speech_dir: str | Path, caption_id: str, out_wav: str | Path) -> str:
    """Write one caption's audio to ``out_wav`` (16 kHz 16-bit WAV); returns its text."""
    wave, row = load_clip(speech_dir, caption_id)
    with atomic_path(out_wav) as tmp:
        sf.write(tmp, wave, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return str(row["text"] or "")
