"""Inception Score, Eq. (18): ``IS = exp(E_x KL(p(l|x) || p(l)))``, computed on ``n_splits``
disjoint consecutive splits of the predictions; mean and standard deviation over the splits (the
customary 10 splits; fewer when there are few images)."""

from __future__ import annotations

import numpy as np


def inception_score(probs: np.ndarray, n_splits: int = 10, eps: float = 1e-12
                    ) -> tuple[float, float]:
    """probs (N, C) class probabilities (rows sum to 1) -> (mean IS, std IS) over the splits."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"need probabilities (N, C), got {p.shape}")
    n_splits = max(1, min(n_splits, len(p)))
    scores = []
    for part in np.array_split(p, n_splits):
        marginal = part.mean(axis=0, keepdims=True)                           # (1, C) p(l)
        kl = (part * (np.log(part + eps) - np.log(marginal + eps))).sum(axis=1)   # (n,)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))
