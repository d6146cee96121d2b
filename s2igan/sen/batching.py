"""Hard-negative batches for the SEN's matching loss (``sen.batch_groups``; our choice, the
paper draws its batches at random).

Eq. (3) asks a caption to pick its image among the other images of its batch. With random
batches the other images are nearly always of classes with other colours altogether, so an
embedding that says which colours were spoken, but not on which part, meets the loss (README
"Binding": the SEN's embedding is a bag of colours). Here every epoch the training classes (the
images, for scene data) are cut into groups of ``k`` that lie nearest to each other under the
current image encoder, and a batch is a few such groups: a caption must then tell its image from
the images it is most easily confused with, which for SynthBirds are mostly the same colours on
other parts. Every image still appears once per epoch.
"""

from __future__ import annotations

import numpy as np

from s2igan.sen.data import rows_by_label

POOL = 2048   # keys grouped together at most (a (POOL, POOL) similarity; scene data has many)


def greedy_groups(sim: np.ndarray, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Cut the ``n`` keys of an ``(n, n)`` similarity into groups of ``size`` (the last one may
    be smaller): the keys are visited in random order, and each one not yet taken takes the
    ``size - 1`` most similar keys not yet taken."""
    free = np.ones(len(sim), dtype=bool)
    groups = []
    for a in rng.permutation(len(sim)):
        if not free[a]:
            continue
        free[a] = False
        left = np.flatnonzero(free)
        take = left[np.argsort(-sim[a, left], kind="stable")[:size - 1]]
        free[take] = False
        groups.append(np.concatenate([[a], take]))
    return groups


def neighbour_order(emb: np.ndarray, keys: np.ndarray, rows: np.ndarray, size: int,
                    rng: np.random.Generator) -> np.ndarray:
    """The image ``rows`` in one epoch's order. Their keys (``keys[rows]``: class, or image for
    scene data) are grouped ``size`` at a time by the cosine of their mean embedding
    ``emb[rows]`` (:func:`greedy_groups`). The epoch runs in rounds: round r holds the r-th
    image (in a random order) of every key that has one, its keys group after group, the groups
    in a random order. Cut into consecutive batches, a batch holds as many distinct keys as a
    random one would, arranged in groups of mutually near keys."""
    uniq, inv = np.unique(keys[rows], return_inverse=True)
    e = emb[rows] / np.maximum(np.linalg.norm(emb[rows], axis=1, keepdims=True), 1e-12)
    means = np.zeros((len(uniq), e.shape[1]))
    np.add.at(means, inv, e)
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    groups = []
    order = rng.permutation(len(uniq))
    for start in range(0, len(order), POOL):
        chunk = order[start:start + POOL]
        groups += [chunk[g] for g in greedy_groups(means[chunk] @ means[chunk].T, size, rng)]
    members = [rng.permutation(rows[at]) for at in rows_by_label(inv, len(uniq))]
    out = []
    for r in range(max(len(m) for m in members)):
        out += [members[k][r] for g in rng.permutation(len(groups)) for k in groups[g]
                if r < len(members[k])]
    return np.asarray(out, dtype=rows.dtype)
