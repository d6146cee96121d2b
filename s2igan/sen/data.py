"""SEN data: filterbanks (Ragged, one row per caption) paired with cached image features
(one row per image), per split; the validation carve-out; padded batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from s2igan.arrays import Ragged, load_vectors
from s2igan.io import BadInputError


def rows_by_label(labels: np.ndarray, n: int) -> list[np.ndarray]:
    """For each label ``0 .. n - 1``, the positions in ``labels`` that hold it, in order (an
    empty array for a label that does not occur)."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(n)]


@dataclass
class SENSplit:
    """Captions and images of one split. ``caption_image[k]`` = row of caption k's image."""

    fbank: Ragged  # captions; index: id (caption_id), image_id, class_id, n_frames
    features: np.ndarray  # (n_images, D) float32
    images: pd.DataFrame  # (n_images,) id (image_id), class_id
    caption_image: np.ndarray  # (n_captions,) int64

    @property
    def captions(self) -> pd.DataFrame:
        return self.fbank.index

    def image_captions(self) -> list[np.ndarray]:
        """Caption rows of every image (row order of ``images``)."""
        return rows_by_label(self.caption_image, len(self.images))

    def subset(self, image_rows: np.ndarray, max_captions: int = 0) -> "SENSplit":
        """The images ``image_rows`` (and their captions, at most ``max_captions`` per image
        when > 0), in that order."""
        image_rows = np.asarray(image_rows, dtype=np.int64)
        new_row = np.full(len(self.images), -1, np.int64)
        new_row[image_rows] = np.arange(len(image_rows))
        keep = np.flatnonzero(new_row[self.caption_image] >= 0)
        if max_captions > 0:
            rank = pd.Series(self.caption_image[keep]).groupby(self.caption_image[keep]).cumcount()
            keep = keep[rank.to_numpy() < max_captions]
        items = [np.asarray(self.fbank[k]) for k in keep]
        index = self.fbank.index.iloc[keep].reset_index(drop=True)
        if not items:
            raise ValueError("empty subset")
        return SENSplit(Ragged.from_list(items, index), self.features[image_rows],
                        self.images.iloc[image_rows].reset_index(drop=True),
                        new_row[self.caption_image[keep]])


def available_splits(directory: str | Path) -> list[str]:
    """Names ``NAME`` with a ``NAME.ids.parquet`` in ``directory`` (e.g. train, val, test)."""
    return sorted(p.name[:-len(".ids.parquet")] for p in Path(directory).glob("*.ids.parquet"))


def load_split(fbank_dir: str | Path, features_dir: str | Path, split: str) -> SENSplit:
    """Join the split's filterbanks with its image features through ``image_id``."""
    fbank = Ragged.load(fbank_dir, split, mmap=False)
    images, feats = load_vectors(features_dir, split)
    images = images.assign(id=images["id"].astype(str)).reset_index(drop=True)
    row_of = pd.Series(np.arange(len(images)), index=images["id"])
    caption_image = fbank.index["image_id"].astype(str).map(row_of)
    if caption_image.isna().any():
        missing = fbank.index.loc[caption_image.isna(), "image_id"].iloc[0]
        raise BadInputError(Path(features_dir) / f"{split}.ids.parquet",
                            f"no features for image {missing!r} of split {split!r} "
                            f"(re-run the features stage)")
    return SENSplit(fbank, np.asarray(feats, np.float32), images,
                    caption_image.to_numpy(np.int64))


def carve_validation(split: SENSplit, fraction: float,
                     rng: np.random.Generator) -> tuple[SENSplit, SENSplit]:
    """Hold out ``fraction`` of the images of every class (at least one image of each class
    with two or more images; a random subset when there are no classes) -> (train, val)."""
    classes = split.images["class_id"].to_numpy()
    val_rows = []
    for c in np.unique(classes):
        rows = np.flatnonzero(classes == c)
        if c < 0:  # unlabelled (e.g. Flickr8k): a plain random subset
            n_val = int(round(fraction * len(rows)))
        else:
            n_val = max(1, int(round(fraction * len(rows)))) if len(rows) >= 2 else 0
        val_rows.append(rng.choice(rows, size=n_val, replace=False))
    val_rows = np.sort(np.concatenate(val_rows)) if val_rows else np.zeros(0, np.int64)
    if fraction <= 0 or len(val_rows) == 0:
        raise ValueError("validation carve-out is empty: raise sen.val_fraction")
    train_rows = np.setdiff1d(np.arange(len(classes)), val_rows)
    return split.subset(train_rows), split.subset(val_rows)


def pad_batch(fbank: Ragged, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded ``(B, T_max, n_mels)`` float32 batch of the captions ``rows`` + lengths (B,)."""
    lengths = fbank.lengths[rows]
    out = np.zeros((len(rows), int(lengths.max()), fbank.data.shape[1]), np.float32)
    for i, k in enumerate(rows):
        out[i, :lengths[i]] = fbank[k]
    return torch.from_numpy(out), torch.from_numpy(lengths.astype(np.int64))
