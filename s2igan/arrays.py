"""Large intermediates as a few array files per split (never pickle, never one file per item).

* :class:`Ragged` -- variable-length sequences (filterbanks): all frames concatenated into one
  ``(total_frames, dim)`` array plus ``offsets`` of length ``n + 1``; sequence ``i`` is
  ``data[offsets[i]:offsets[i + 1]]``.
* :func:`save_vectors` / :func:`load_vectors` -- one fixed-size vector per id (image features,
  embeddings).

Layout on disk for a name ``NAME`` inside a directory: ``NAME.npy`` (data), ``NAME.offsets.npy``
(ragged only) and ``NAME.ids.parquet`` (one row per item: ``id`` plus any extra columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from s2igan.io import BadInputError, atomic_path


@dataclass
class Ragged:
    data: np.ndarray  # (total_frames, dim)
    offsets: np.ndarray  # (n + 1,) int64, offsets[0] == 0, offsets[-1] == len(data)
    index: pd.DataFrame  # (n, ...) with an ``id`` column, aligned with offsets

    def __post_init__(self) -> None:
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        if len(self.offsets) != len(self.index) + 1:
            raise ValueError(f"{len(self.offsets)} offsets for {len(self.index)} items")
        if self.offsets[0] != 0 or self.offsets[-1] != len(self.data):
            raise ValueError("offsets must start at 0 and end at len(data)")
        if np.any(np.diff(self.offsets) < 0):
            raise ValueError("offsets must be non-decreasing")

    @classmethod
    def from_list(cls, items: list[np.ndarray], index: pd.DataFrame) -> "Ragged":
        lengths = np.array([len(x) for x in items], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        dim = items[0].shape[1:] if items else (0,)
        data = np.concatenate(items) if items else np.zeros((0, *dim), np.float32)
        return cls(data, offsets, index.reset_index(drop=True))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.data[self.offsets[i]:self.offsets[i + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def save(self, directory: str | Path, name: str) -> None:
        directory = Path(directory)
        _save_npy(directory / f"{name}.npy", self.data)
        _save_npy(directory / f"{name}.offsets.npy", self.offsets)
        _save_index(directory / f"{name}.ids.parquet", self.index)

    @classmethod
    def load(cls, directory: str | Path, name: str, mmap: bool = True) -> "Ragged":
        directory = Path(directory)
        data = _load_npy(directory / f"{name}.npy", mmap)
        offsets = _load_npy(directory / f"{name}.offsets.npy", False)
        index = _load_index(directory / f"{name}.ids.parquet")
        return cls(data, offsets, index)


def save_vectors(directory: str | Path, name: str, index: pd.DataFrame, data: np.ndarray) -> None:
    """Save ``data`` (n, dim) with its ``index`` frame (must have an ``id`` column)."""
    if len(index) != len(data):
        raise ValueError(f"{len(index)} ids for {len(data)} vectors")
    directory = Path(directory)
    _save_npy(directory / f"{name}.npy", np.asarray(data))
    _save_index(directory / f"{name}.ids.parquet", index)


def load_vectors(directory: str | Path, name: str) -> tuple[pd.DataFrame, np.ndarray]:
    directory = Path(directory)
    data = _load_npy(directory / f"{name}.npy", False)
    index = _load_index(directory / f"{name}.ids.parquet")
    if len(index) != len(data):
        raise BadInputError(directory / f"{name}.npy", f"{len(data)} vectors for {len(index)} ids")
    return index, data


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)


def _load_npy(path: Path, mmap: bool) -> np.ndarray:
    if not path.is_file():
        raise BadInputError(path, "array file not found (run the stage that makes it)")
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def _save_index(path: Path, index: pd.DataFrame) -> None:
    if "id" not in index:
        raise ValueError("index frame needs an 'id' column")
    with atomic_path(path) as tmp:
        index.reset_index(drop=True).to_parquet(tmp, index=False)


def _load_index(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise BadInputError(path, "index file not found (run the stage that makes it)")
    return pd.read_parquet(path)
