"""Where attribute fidelity is lost: pure functions behind the evaluate stage's diagnostics.

* :func:`attribute_probe` -- a linear probe (one-vs-rest ridge regression classifier, closed
  form, so it takes seconds on thousands of 1280-d vectors) trained on vectors
  of the TRAINING classes and scored on vectors of the unseen TEST classes, one per attribute. Run
  on the SEN speech embeddings, the SEN image embeddings and the raw backbone features, it shows
  at which step of the pipeline an attribute of an unseen combination stops being readable.
* :func:`attribute_accuracy` -- the share of predicted attribute values equal to the truth.
* :func:`colour_anywhere` -- the share of images whose predicted colour of a part is the spoken
  colour of ANY part. Far above the accuracy, it says the generator draws the spoken colours but
  on the wrong parts (a binding failure), not the wrong colours.
* :func:`part_entanglement` -- how far a vector space tells the parts apart: fit each vector as
  a sum of one term per attribute value (least squares on one-hot attributes), then take the
  cosine between the terms of the same colour on two parts ("red crown" against "red wing").
  Near 1, the space says which colours were spoken, not on which part: a generator conditioned
  on it cannot bind them (README, "Binding, not colour").
* :func:`noise_diversity` -- how much the noise ``z`` changes the image: the mean absolute pixel
  difference (in [0, 1]) between two images generated from the same caption with different noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def attribute_probe(train_x: np.ndarray, train_attrs: pd.DataFrame, test_x: np.ndarray,
                    test_attrs: pd.DataFrame,
                    alphas: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4)
                    ) -> dict[str, float]:
    """Test accuracy of a per-attribute linear probe: train (N, D) + labels -> {attr: accuracy}.

    Features are standardised with the training statistics; the probe is ridge regression on
    one-hot targets, predicting the arg-max; its regularisation is picked from ``alphas`` by
    leave-one-out error on the training vectors (efficient closed form). An attribute with one
    value in training is skipped.
    """
    from sklearn.linear_model import RidgeClassifierCV   # here: sklearn takes ~1 s to import
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    a, b = scaler.transform(train_x), scaler.transform(test_x)
    out = {}
    for attr in train_attrs.columns:
        y = train_attrs[attr].astype(str).to_numpy()
        if len(np.unique(y)) < 2:
            continue
        clf = RidgeClassifierCV(alphas=alphas).fit(a, y)
        out[attr] = attribute_accuracy(clf.predict(b), test_attrs[attr].astype(str).to_numpy())
    return out


def attribute_accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    if predicted.shape != truth.shape or predicted.size == 0:
        raise ValueError(f"need equal non-empty shapes, got {predicted.shape} and {truth.shape}")
    return float((predicted == truth).mean())


def colour_anywhere(predicted: dict[str, np.ndarray], truth: pd.DataFrame,
                    parts: tuple[str, ...]) -> dict[str, float]:
    """{part: share of rows whose predicted colour of ``part`` equals the true colour of any of
    ``parts`` in that row}; ``predicted`` maps each part to (N,) colour names, ``truth`` has one
    column per part. Chance is about 1 - (1 - 1/K)^len(parts) for K colours (0.27 for 3 of 10)."""
    spoken = np.stack([truth[p].astype(str).to_numpy() for p in parts], axis=1)      # (N, P)
    out = {}
    for part in parts:
        pred = np.asarray(predicted[part])
        if pred.shape != (len(spoken),):
            raise ValueError(f"{part}: need {len(spoken)} predictions, got shape {pred.shape}")
        out[part] = float((pred[:, None] == spoken).any(axis=1).mean())
    return out


def part_entanglement(x: np.ndarray, attrs: pd.DataFrame, parts: tuple[str, ...]
                      ) -> dict[str, float]:
    """{"<p>_<q>": mean cosine over the colours that both parts take, between the additive
    terms of "colour on p" and "colour on q"} for every pair of ``parts``.

    The terms are the least-squares coefficients of the centred ``x`` (N, D) on the one-hot
    codes of every column of ``attrs`` (with an intercept); each attribute's coefficients are
    centred over its values (the one-hot codes of an attribute sum to one, so only differences
    between its values are identified)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    codes, names = [], []
    for col in attrs.columns:
        values = attrs[col].astype(str).to_numpy()
        vocab = np.unique(values)
        codes.append((values[:, None] == vocab[None, :]).astype(np.float64))
        names.append((col, vocab))
    design = np.concatenate(codes + [np.ones((len(x), 1))], axis=1)
    coef = np.linalg.lstsq(design, x, rcond=None)[0]
    terms, i = {}, 0
    for (col, vocab), code in zip(names, codes):
        block = coef[i:i + code.shape[1]]
        block = block - block.mean(axis=0)
        terms[col] = dict(zip(vocab, block))
        i += code.shape[1]
    out = {}
    for a, p in enumerate(parts):
        for q in parts[a + 1:]:
            shared = sorted(set(terms[p]) & set(terms[q]))
            cos = [terms[p][c] @ terms[q][c] / (np.linalg.norm(terms[p][c]) * np.linalg.norm(terms[q][c]))
                   for c in shared]
            if cos:
                out[f"{p}_{q}"] = float(np.mean(cos))
    return out


def noise_diversity(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |a - b| / 255 of two uint8 image batches (N, 3, S, S) of the same captions."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"image batches differ in shape: {a.shape} vs {b.shape}")
    return float(np.abs(a - b).mean() / 255.0)
