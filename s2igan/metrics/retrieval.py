"""Retrieval metrics on a similarity matrix: average precision, mAP and recall@k.

Used for the SEN evaluation (Table VII: each spoken caption retrieves the test images, relevant =
same class; scene data: R@1/5/10 with relevant = the caption's own image) and for the paper's
image-retrieval scores of generated images (Eq. 20-21: mAP and R@50).

Conventions: ``sim`` is ``(Q, N)`` (higher = more similar), ``relevant`` is a boolean ``(Q, N)``
matrix. Items are ranked by descending similarity; ties are broken by item order (stable sort).
AP of one query = mean over its relevant items of the precision at that item's rank (the
non-interpolated AP of ``sklearn.metrics.average_precision_score`` for tie-free scores). Queries
without any relevant item are left out of the means and counted in ``n_skipped``.
"""

from __future__ import annotations

import numpy as np


def relevance(query_labels, item_labels) -> np.ndarray:
    """``(Q, N)`` boolean: query ``q`` and item ``n`` carry the same label."""
    q = np.asarray(query_labels)
    n = np.asarray(item_labels)
    return q[:, None] == n[None, :]


def _ranked_relevance(sim: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    order = np.argsort(-sim, axis=1, kind="stable")  # (Q, N) best first
    return np.take_along_axis(relevant, order, axis=1)


def average_precisions(sim, relevant, chunk: int = 1024) -> np.ndarray:
    """AP of every query, ``(Q,)`` float64; NaN for queries without a relevant item."""
    sim = np.asarray(sim)  # converted chunk by chunk: a CUB-size matrix is ~86M scores
    relevant = np.asarray(relevant, dtype=bool)
    if sim.shape != relevant.shape or sim.ndim != 2:
        raise ValueError(f"sim {sim.shape} and relevant {relevant.shape} must be equal (Q, N)")
    out = np.full(len(sim), np.nan)
    ranks = np.arange(1, sim.shape[1] + 1, dtype=np.float64)  # (N,)
    for start in range(0, len(sim), chunk):  # bounded memory for large query sets
        block = np.asarray(sim[start:start + chunk], dtype=np.float64)
        rel = _ranked_relevance(block, relevant[start:start + chunk])
        hits = np.cumsum(rel, axis=1)  # (q, N) relevant items up to each rank
        n_rel = hits[:, -1] if rel.shape[1] else np.zeros(len(rel))
        precision_sum = (rel * (hits / ranks)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + chunk] = np.where(n_rel > 0, precision_sum / n_rel, np.nan)
    return out


def average_precision(scores, relevant) -> float:
    """AP of a single query: ``scores (N,)``, ``relevant (N,)``."""
    return float(average_precisions(np.asarray(scores)[None], np.asarray(relevant)[None])[0])


def mean_average_precision(sim, relevant) -> dict[str, float]:
    """``{"map": mean AP over queries with >= 1 relevant item, "n_queries", "n_skipped"}``."""
    aps = average_precisions(sim, relevant)
    valid = ~np.isnan(aps)
    return {"map": float(aps[valid].mean()) if valid.any() else float("nan"),
            "n_queries": int(valid.sum()), "n_skipped": int((~valid).sum())}


def recall_at_k(sim, relevant, ks=(1, 5, 10)) -> dict[int, float]:
    """Fraction of queries (with >= 1 relevant item) that find one in their top ``k``."""
    sim = np.asarray(sim, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    has = relevant.any(axis=1)
    kmax = min(max(ks), sim.shape[1])
    # Only the top kmax items matter: argpartition then sort those (stable on ties by index).
    if kmax < sim.shape[1]:
        part = np.argpartition(-sim, kmax - 1, axis=1)[:, :kmax]  # (Q, kmax) unordered
        part = np.sort(part, axis=1)  # item order first, so the stable sort breaks ties by index
        sub = np.take_along_axis(sim, part, axis=1)
        top = np.take_along_axis(part, np.argsort(-sub, axis=1, kind="stable"), axis=1)
    else:
        top = np.argsort(-sim, axis=1, kind="stable")
    hit_rank = np.take_along_axis(relevant, top, axis=1)  # (Q, kmax)
    first_hit = np.cumsum(hit_rank, axis=1) > 0
    out = {}
    for k in ks:
        found = first_hit[:, min(k, kmax) - 1]
        out[k] = float(found[has].mean()) if has.any() else float("nan")
    return out
