"""Condition vectors for training the generator on the image side of the CCA (#9 diagnostic).

LAFITE (Zhou et al., CVPR 2022) trains a text-to-image generator on image features and feeds it
text features at test time, both in one aligned space. Here the aligned space is the pipeline's
own condition (``dg.condition_projection: cca`` with ``dg.condition_vlad``, rdg/condition.py):
the 64 leading canonical directions of the SEN embedding and the 64 of the VLAD of its frame
states, each against the backbone features of the captions' images, weighted by their canonical
correlation, each block L2-normalised. The CCA gives both sides of every direction, so a training
caption can be replaced by the image-side variates of its image: a condition that depends on the
image alone, free of voice and phrasing.

Reads the outputs of `dvc repro` (``models/rdg/condition``: each caption's SEN embedding followed
by its VLAD; ``data/features``) and writes two folders under ``OUT`` for
``scripts/condition_diagnostic.py --condition vectors --vectors OUT/<name> --set
dg.condition_projection=none --set dg.condition_vlad=0``:

* ``control``: the speech-side condition for training and test captions (the pipeline's);
* ``imageside``: the image-side variates of each training caption's image; test captions keep
  the speech side (only the unseen-class numbers compare with ``control``).

usage: python scripts/imageside_vectors.py OUT
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from s2igan.arrays import load_vectors
from s2igan.rdg.condition import CCA_PCA_DIMS, VLAD_PCA_DIMS, canonical_correlations
from s2igan.rdg.data import image_features_in_order

DIRECTIONS = 64   # per block, as the pipeline's dg.condition_dims: 128 with the VLAD


def normalised(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.strip().splitlines()[-1])
    out = Path(sys.argv[1])
    vectors = {s: load_vectors("models/rdg/condition", f"{s}_speech") for s in ("train", "test")}
    f = image_features_in_order("data/features", "train",
                                vectors["train"][0]["image_id"]).astype(np.float64)
    x = {s: np.asarray(v, np.float64) for s, (_, v) in vectors.items()}
    # the SEN embedding's size (the VLAD follows it in each row); its shape alone is read
    e = np.load("data/embeddings/train_speech.npy", mmap_mode="r").shape[1]
    blocks = []
    for cols, pca, fpca in ((slice(0, e), CCA_PCA_DIMS, None),
                            (slice(e, None), VLAD_PCA_DIMS, CCA_PCA_DIMS)):
        mean, a, rho, fmean, b = canonical_correlations(x["train"][:, cols], f, pca, fpca,
                                                        feature_side=True)
        w = rho[:DIRECTIONS]
        blocks.append((cols, mean, a[:, :DIRECTIONS] * w, fmean, b[:, :DIRECTIONS] * w))
    speech = {s: np.concatenate([normalised((v[:, c] - m) @ a) for c, m, a, _, _ in blocks], 1)
              for s, v in x.items()}
    image = np.concatenate([normalised((f - fm) @ b) for _, _, _, fm, b in blocks], 1)
    cos = float(np.mean((normalised(speech["train"]) * normalised(image)).sum(1)))
    print(f"mean cosine of a training caption's speech-side and image-side condition: {cos:.3f}")
    for name, train in (("control", speech["train"]), ("imageside", image)):
        (out / name).mkdir(parents=True, exist_ok=True)
        np.save(out / name / "train_speech.npy", train.astype(np.float32))
        np.save(out / name / "test_speech.npy", speech["test"].astype(np.float32))


if __name__ == "__main__":
    main()
