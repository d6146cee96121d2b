"""Training data of the RDG: real images resized to every scale (cached in memory as uint8,
:func:`s2igan.data.images.load_images`: bounding-box crop, PIL bicubic), the SEN speech
embeddings of their captions (``rdg.speech_encoder: frozen``) or their filterbanks and the
images' backbone features (``joint`` / ``end_to_end``: the RDG trains the speech encoder,
:mod:`s2igan.rdg.speech`), and per-epoch sampling of (GT, RI, MI) images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from s2igan.arrays import Ragged, load_vectors
from s2igan.data import manifest as mf
from s2igan.data.images import load_images
from s2igan.io import BadInputError


@dataclass
class TrainData:
    """Images of one split at every scale plus their captions' speech embeddings (or, when the
    RDG trains the speech encoder, their filterbanks: ``speech`` is None, ``fbank`` is set)."""

    images: list[torch.Tensor]          # per scale (N, 3, S, S) uint8
    image_ids: np.ndarray               # (N,)
    class_ids: np.ndarray               # (N,)
    speech: np.ndarray | None           # (M, E) float32, one row per caption (frozen SEN)
    caption_image: np.ndarray           # (M,) index of each caption's image
    image_emb: np.ndarray | None = None  # (N, E) real image embeddings (relation supervisor)
    fbank: Ragged | None = None         # M captions' (T_k, n_mels) filterbanks (trained encoder)
    features: np.ndarray | None = None  # (N, D) cached backbone features (end_to_end: L_SEN; cca)
    vlad_centres: np.ndarray | None = None  # (K, E) with dg.condition_vlad: ``speech`` holds the
                                            # embedding then its VLAD, (M, E + K * E)
    attributes: pd.DataFrame | None = None  # (N, attributes) labels of each image (SynthBirds),
                                            # None where the data has none

    @property
    def embed_dim(self) -> int:
        """Size of the cached SEN embeddings (0 when the speech encoder is trained here)."""
        if self.speech is None:
            return 0
        extra = 0 if self.vlad_centres is None else self.vlad_centres.size
        return int(self.speech.shape[1]) - extra

    @property
    def class_labels(self) -> np.ndarray:
        """(N,) index of each image's class among the sorted training classes (Eq. 7 targets,
        the order :func:`s2igan.sen.train.train_sen` gives its classifier)."""
        return np.unique(self.class_ids, return_inverse=True)[1].astype(np.int64)

    def __post_init__(self) -> None:
        self._by_class = {c: np.flatnonzero(self.class_ids == c)
                          for c in np.unique(self.class_ids)}
        self._captions_of = [np.flatnonzero(self.caption_image == i)
                             for i in range(len(self.image_ids))]
        empty = [self.image_ids[i] for i, c in enumerate(self._captions_of) if len(c) == 0]
        if empty:
            raise BadInputError(None, f"image(s) without speech embeddings, e.g. {empty[0]!r}")

    def epoch_order(self, rng: np.random.Generator, captions_per_image: int = 1) -> np.ndarray:
        """Caption indices of one epoch: ``captions_per_image`` random captions of every image."""
        picks = [rng.choice(c, size=min(captions_per_image, len(c)), replace=False)
                 for c in self._captions_of]
        return rng.permutation(np.concatenate(picks))

    def pairs(self, images: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """For each image index: a same-class other image (RI) and an other-class image (MI)."""
        ri, mi = np.empty_like(images), np.empty_like(images)
        n = len(self.image_ids)
        for k, i in enumerate(images):
            same = self._by_class[self.class_ids[i]]
            others = same[same != i]
            ri[k] = rng.choice(others) if len(others) else i
            j = int(rng.integers(n))
            while self.class_ids[j] == self.class_ids[i] and len(same) < n:
                j = int(rng.integers(n))
            mi[k] = j
        return ri, mi


def _vectors_of_images(directory: str | Path, name: str, image_ids, missing: str) -> np.ndarray:
    """(N, D) float32 rows of the ``name`` vectors in ``directory`` for ``image_ids``, in that
    order; an image without a row is one clear error, ``missing`` formatted with its id."""
    index, vectors = load_vectors(directory, name)
    row = {str(iid): i for i, iid in enumerate(index["id"])}
    lost = [iid for iid in image_ids if str(iid) not in row]
    if lost:
        raise BadInputError(Path(directory) / f"{name}.ids.parquet",
                            missing.format(repr(lost[0])))
    return np.ascontiguousarray(np.asarray(vectors, np.float32)[[row[str(i)] for i in image_ids]])


def image_features_in_order(features_dir: str | Path, split: str, image_ids) -> np.ndarray:
    """(N, D) float32 cached backbone features of ``image_ids``, in that order."""
    return _vectors_of_images(features_dir, split, image_ids,
                              "no features for image {} (re-run the features stage)")


def build_train_data(frame: pd.DataFrame, embeddings_dir: str | Path, split: str,
                     sizes: tuple[int, ...], features_dir: str | Path | None = None) -> TrainData:
    """Images of ``split`` (manifest order by image_id) with the ``<split>_speech`` embeddings
    (and, given ``features_dir``, their cached backbone features: ``dg.condition_projection:
    cca`` fits on them)."""
    table = mf.images(frame[frame["split"] == split])
    if table.empty:
        raise BadInputError(None, f"the manifest has no {split!r} images")
    index, speech = load_vectors(embeddings_dir, f"{split}_speech")
    pos = {iid: i for i, iid in enumerate(table["image_id"])}
    missing = sorted(set(index["image_id"]) - set(pos))
    if missing:
        raise BadInputError(Path(embeddings_dir) / f"{split}_speech.ids.parquet",
                            f"caption of unknown image {missing[0]!r} (stale embeddings?)")
    caption_image = index["image_id"].map(pos).to_numpy()
    images = load_images(table, tuple(sizes), desc=f"load {split} images")
    features = (None if features_dir is None else
                image_features_in_order(features_dir, split, table["image_id"]))
    return TrainData(images, table["image_id"].to_numpy(), table["class_id"].to_numpy(),
                     np.ascontiguousarray(speech, dtype=np.float32), caption_image,
                     features=features, attributes=image_attributes(table))


def image_attributes(table: pd.DataFrame) -> pd.DataFrame | None:
    """(N, attributes) string labels of the image table's rows, or None when any image has none
    (the manifest's ``attributes`` column: SynthBirds fills it, the other adapters write {})."""
    if "attributes" not in table.columns or table.empty:
        return None
    labels = mf.attributes(table).reset_index(drop=True)
    if labels.empty or labels.columns.empty or labels.isna().any().any():
        return None
    return labels.astype(str)


def build_fbank_train_data(frame: pd.DataFrame, fbank_dir: str | Path,
                           features_dir: str | Path, split: str, sizes: tuple[int, ...]
                           ) -> TrainData:
    """Images of ``split`` with their captions' filterbanks (``data/fbank``, the `fbank` stage's
    Ragged arrays; one row per caption) and their cached backbone features: the input of an RDG
    that trains its speech encoder (``rdg.speech_encoder: joint | end_to_end``)."""
    table = mf.images(frame[frame["split"] == split])
    if table.empty:
        raise BadInputError(None, f"the manifest has no {split!r} images")
    fbank = Ragged.load(fbank_dir, split, mmap=False)
    pos = {iid: i for i, iid in enumerate(table["image_id"])}
    image_id = fbank.index["image_id"].astype(str)
    missing = sorted(set(image_id) - set(pos))
    if missing:
        raise BadInputError(Path(fbank_dir) / f"{split}.ids.parquet",
                            f"caption of unknown image {missing[0]!r} (stale filterbanks?)")
    features = image_features_in_order(features_dir, split, table["image_id"])
    images = load_images(table, tuple(sizes), desc=f"load {split} images")
    return TrainData(images, table["image_id"].to_numpy(), table["class_id"].to_numpy(), None,
                     image_id.map(pos).to_numpy(), fbank=fbank, features=features)


def image_embeddings_from_file(data: TrainData, embeddings_dir: str | Path, split: str
                               ) -> np.ndarray:
    """The ``<split>_image`` SEN embeddings (of the cached backbone features), in data order."""
    return _vectors_of_images(embeddings_dir, f"{split}_image", data.image_ids,
                              "no embedding of image {}")
