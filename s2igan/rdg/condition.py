"""A fitted linear projection of the speech embedding y before F^ca, Eq. (11) (our choice: the
paper feeds the SEN embedding to the conditioning augmentation as it is).

Why (measured, README "Binding, not colour"): the SEN embeddings carry the part
colours of unseen classes (a linear probe reads them), yet a generator conditioned on them puts
the spoken colours on the wrong parts (``gen/anypart_*`` far above ``gen/acc_*``). The same
generator conditioned on a clean, factorised code of the attributes binds them within 600
steps. The part-specific directions of y are small beside the ones shared by every part (which
colour words were said) and beside voice and phrasing; a fixed projection fitted on the
training captions scales them up before the generator sees them.

Kinds (``dg.condition_projection``):

* ``none``: the identity (the paper).
* ``lda``: Fisher's linear discriminant of the training captions' embeddings by class, the
  within-class covariance shrunk by the Ledoit-Wolf estimate (scikit-learn's ``eigen`` solver;
  its ``transform``, which does not centre). Directions that separate classes are kept and
  whitened against what varies within a class (voices, phrasings, omitted words). Needs
  class labels (fine-grained data).
* ``whiten``: PCA whitening of the top principal components, no labels (scene data).
* ``cca``: canonical correlation analysis of the training captions' embeddings with the
  cached backbone features of their images (Hotelling 1936): the directions of y that best
  predict what the image shows, each weighted by its canonical correlation, so that directions
  the image does not confirm (voice, phrasing, omitted words) shrink. No class labels: it fits
  on speech-image pairs alone, i.e. on any dataset. Both sides are first reduced to their top
  ``CCA_PCA_DIMS`` principal components and whitened (the regulariser of a CCA with more
  dimensions than the data supports); the canonical directions are the singular vectors of the
  whitened cross-covariance.

The output is L2-normalised like a SEN embedding and padded with zero columns up to
``dg.condition_dims`` (LDA has at most classes - 1 directions), so the generator's shapes depend
on the config alone. The projection lives in the generator as buffers: checkpoints, the bundle
and ``s2igan generate`` apply it to raw SEN embeddings without knowing about it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from s2igan.rdg.attributes import AttributeCode

PROJECTIONS = ("none", "lda", "whiten", "cca")
WEIGHTS = ("train", "heldout")   # dg.condition_weights: how cca weighs its directions
HELDOUT_FRACTION = 0.2   # groups held out to measure each direction's correlation (our choice)
CCA_PCA_DIMS = 128   # principal components kept on each side before the CCA (our choice)
VLAD_PCA_DIMS = 1024  # ... of the VLAD side of dg.condition_vlad (vlad_screen.py, README)


class ConditionProjection(nn.Module):
    """y (B, E) -> normalize((y - mean) @ weight) (B, dims); zero until :meth:`set` is called.

    With ``clusters`` K > 0 (``dg.condition_vlad``) y is the SEN embedding followed by the VLAD
    of its frame states, ``(B, E + K * state_dim)`` (:class:`s2igan.sen.vlad.SpeechWithVLAD`,
    over the ``centres`` buffer): the first ``dims // 2`` output columns read the embedding, the
    rest the VLAD (:func:`fit_vlad_projection`), each half L2-normalised before the whole, so
    that both weigh the same. With ``attributes`` > 0 (``dg.condition_attributes``) the output
    gains that many columns more: the discrete attribute code of y
    (:class:`s2igan.rdg.attributes.AttributeCode`), normalised beside the normalised projection
    before the whole, so that the two weigh the same."""

    def __init__(self, embed_dim: int, dims: int, clusters: int = 0, state_dim: int = 0,
                 attributes: int = 0):
        super().__init__()
        in_dim = embed_dim + clusters * state_dim
        self.attributes = AttributeCode(in_dim, attributes) if attributes else None
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("weight", torch.zeros(in_dim, dims))
        self.split = dims // 2 if clusters else 0
        if clusters:
            self.register_buffer("centres", torch.zeros(clusters, state_dim))

    def set(self, mean: np.ndarray, weight: np.ndarray, centres: np.ndarray | None = None
            ) -> None:
        """Load a fitted (E,) mean and (E, k) weight, k <= dims (the rest stays zero), and the
        VLAD's (K, D) centres when it has them."""
        E, dims = self.weight.shape
        if mean.shape != (E,) or weight.ndim != 2 or weight.shape[0] != E or weight.shape[1] > dims:
            raise ValueError(f"projection of shape {weight.shape} (mean {mean.shape}) does not "
                             f"fit ({E}, <= {dims})")
        want = tuple(self.centres.shape) if self.split else None
        if (None if centres is None else tuple(centres.shape)) != want:
            raise ValueError(f"VLAD centres of shape {None if centres is None else centres.shape}"
                             f" given to a projection that takes {want or 'none'}")
        with torch.no_grad():
            self.mean.copy_(torch.as_tensor(mean, dtype=self.mean.dtype))
            self.weight.zero_()
            self.weight[:, :weight.shape[1]] = torch.as_tensor(weight, dtype=self.weight.dtype)
            if centres is not None:
                self.centres.copy_(torch.as_tensor(centres, dtype=self.centres.dtype))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        h = (y - self.mean) @ self.weight
        if self.split:
            h = torch.cat([F.normalize(h[:, :self.split], dim=1),
                           F.normalize(h[:, self.split:], dim=1)], dim=1)
        h = F.normalize(h, dim=1)
        if self.attributes is not None:
            h = F.normalize(torch.cat([h, self.attributes(y)], dim=1), dim=1)
        return h


def _whitening(x: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, W (D, k)) with ``(x - mean) @ W`` of identity covariance: the top k <= dims
    principal components of ``x``, each divided by its standard deviation."""
    mean = x.mean(axis=0)
    xc = x - mean
    n = len(x)
    gram = n <= x.shape[1]
    # many rows (6,000 x 1,280 features): the covariance's eigenvectors; more dimensions than
    # rows (6,000 x 8,192 VLAD): those of the Gram matrix, u, give the same components as
    # xc.T @ u / sqrt(n var), 4x faster than an SVD of xc (26 s against 91 s on 2 cores)
    var, vecs = np.linalg.eigh(xc @ xc.T / n if gram else xc.T @ xc / n)
    var, vecs = var[::-1], vecs[:, ::-1]
    k = min(dims, int((var > var[0] * 1e-12).sum()))
    if gram:
        vecs = xc.T @ vecs[:, :k] / np.sqrt(n * var[:k])[None, :]
    return mean, vecs[:, :k] / np.sqrt(var[:k])[None, :]


def canonical_correlations(x: np.ndarray, f: np.ndarray, dims: int = CCA_PCA_DIMS,
                           feature_dims: int | None = None, feature_side: bool = False
                           ) -> tuple[np.ndarray, ...]:
    """(mean of x, directions A (E, k), correlations rho (k,)), descending: ``(x - mean) @ A``
    has identity covariance and its column j correlates with the j-th canonical variate of the
    paired rows of ``f`` by rho_j (``x`` reduced to ``dims`` whitened components first, ``f`` to
    ``feature_dims``, default the same). ``feature_side``: also (mean of f, B (D, k)), the
    directions of those variates, ``(f - fmean) @ B``."""
    mean, wx = _whitening(x, dims)
    fmean, wf = _whitening(f, dims if feature_dims is None else feature_dims)
    u, rho, vt = np.linalg.svd(((x - mean) @ wx).T @ ((f - fmean) @ wf) / len(x))
    out = (mean, wx @ u[:, :len(rho)], rho)
    return out + (fmean, wf @ vt.T[:, :len(rho)]) if feature_side else out


def heldout_correlations(x: np.ndarray, f: np.ndarray, groups: np.ndarray, pca: int,
                         feature_pca: int | None, fraction: float = HELDOUT_FRACTION,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, directions A (E, k), held-out correlations (k,)): the CCA of the rows whose group
    (class, or image on scene data) is not among a ``fraction`` of the groups drawn at random
    (``seed``); each direction's correlation is then measured on the rows of those held-out
    groups, i.e. on combinations the fit never saw, not on the pairs it fitted."""
    groups = np.asarray(groups)
    names = np.unique(groups)
    n_out = max(1, int(round(fraction * len(names))))
    if len(names) - n_out < 2:
        raise ValueError(f"dg.condition_weights: heldout needs at least 3 classes (or images), "
                         f"got {len(names)}")
    out = np.isin(groups, np.random.default_rng(seed).choice(names, n_out, replace=False))
    mean, a, _, fmean, b = canonical_correlations(x[~out], f[~out], pca, feature_pca,
                                                  feature_side=True)
    u = (x[out] - mean) @ a
    v = (f[out] - fmean) @ b
    u, v = u - u.mean(0), v - v.mean(0)
    corr = (u * v).sum(0) / np.sqrt((u * u).sum(0) * (v * v).sum(0) + 1e-300)
    return mean, a, corr


def weighted_cca(x: np.ndarray, f: np.ndarray, dims: int, pca: int = CCA_PCA_DIMS,
                  feature_pca: int | None = None, groups: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(mean (E,), weight (E, k)): the leading k <= ``dims`` canonical directions of ``x``
    against ``f``, each weighted by its correlation. With ``groups`` (``dg.condition_weights:
    heldout``): the directions of :func:`heldout_correlations`, ordered and weighted by their
    held-out correlation (negative ones count as 0)."""
    if groups is None:
        mean, a, rho = canonical_correlations(x, f, pca, feature_pca)
    else:
        mean, a, rho = heldout_correlations(x, f, groups, pca, feature_pca)
        rho = np.clip(rho, 0.0, None)
        order = np.argsort(-rho, kind="stable")
        a, rho = a[:, order], rho[order]
    k = min(dims, len(rho))
    return mean, a[:, :k] * rho[None, :k]


def fit_vlad_projection(x: np.ndarray, embed_dim: int, features: np.ndarray, dims: int,
                        vlad_pca: int = VLAD_PCA_DIMS, groups: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(mean, weight (E + K * D, dims)) of ``dg.condition_vlad``: ``x`` (N, E + K * D) holds
    the SEN embedding (first ``embed_dim`` columns) and the VLAD of each training caption; the
    embedding's CCA (as ``cca``) fills the first ``dims // 2`` columns, the VLAD's the rest.

    The VLAD side keeps ``vlad_pca`` whitened components of its own and ``CCA_PCA_DIMS`` of the
    image features: whitening the features of the ~1,000 training images to as many components
    as the VLAD lets every canonical direction fit the training pairs (measured with
    ``scripts/vlad_screen.py``: correlations 0.91-1.0 on training captions, about 0 on unseen
    ones beyond the 16th; with 128 image components they decay alike). ``groups``: weight
    both blocks' directions by held-out correlations (:func:`weighted_cca`)."""
    x = np.asarray(x, dtype=np.float64)
    f = np.asarray(features, dtype=np.float64)
    half = dims // 2
    mean_p, w_p = weighted_cca(x[:, :embed_dim], f, half, groups=groups)
    mean_v, w_v = weighted_cca(x[:, embed_dim:], f, dims - half, vlad_pca, CCA_PCA_DIMS, groups)
    weight = np.zeros((x.shape[1], dims))
    weight[:embed_dim, :w_p.shape[1]] = w_p
    weight[embed_dim:, half:half + w_v.shape[1]] = w_v
    return np.concatenate([mean_p, mean_v]), weight


def fit_projection(kind: str, x: np.ndarray, classes: np.ndarray | None, dims: int,
                   features: np.ndarray | None = None, groups: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(mean (E,), weight (E, k)), k <= dims, fitted on training embeddings ``x`` (N, E), their
    class ids (N,) (``lda`` only; ids < 0 mean "no class") and the backbone features of each
    row's image (N, D) (``cca`` only; ``groups``: held-out weights, :func:`weighted_cca`;
    the other kinds ignore it)."""
    x = np.asarray(x, dtype=np.float64)
    if kind == "lda":
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        if classes is None or np.any(np.asarray(classes) < 0) or len(np.unique(classes)) < 2:
            raise ValueError("dg.condition_projection: lda needs two or more classes on every "
                             "training caption; use whiten (no labels) or none for scene data")
        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(x, classes)
        k = min(dims, len(lda.classes_) - 1, x.shape[1])
        return np.zeros(x.shape[1]), lda.scalings_[:, :k]
    if kind == "whiten":
        return _whitening(x, dims)
    if kind == "cca":
        if features is None or len(features) != len(x):
            raise ValueError("dg.condition_projection: cca needs the backbone features of every "
                             "training caption's image")
        return weighted_cca(x, np.asarray(features, dtype=np.float64), dims, groups=groups)
    raise ValueError(f"dg.condition_projection must be one of {PROJECTIONS}, got {kind!r}")
