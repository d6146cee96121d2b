"""The spoken attributes as a discrete code beside the fitted condition
(``dg.condition_attributes``; our choice, not in the paper, which feeds the SEN embedding to F^ca
of Eq. (11) as it is).

Why (measured, README "A discrete attribute code"): the generator binds colours to parts when
its condition is a clean one-hot code of the attributes (the oracle of
``scripts/condition_diagnostic.py``: unseen wing and belly 0.65-0.81 at 2,000 steps), and it
does not when the condition is a continuous vector that merely carries them (the CCA condition:
0.37 / 0.43), although a linear probe reads them from that vector. So the speech side is read
by a linear classifier per attribute, fitted on the training captions against the attribute
labels of their images, and the generator is given the arg-max of each as a one-hot code:

* input: what the generator reads, the SEN embedding followed by the VLAD of its frame states
  (``dg.condition_vlad``), standardised with the training captions' statistics;
* classifier: ridge regression on the one-hot targets of every attribute at once (one
  regularisation strength for all, chosen among ``ALPHAS`` by scikit-learn's efficient
  leave-one-out error), the arg-max within each attribute's columns;
* code: the concatenated one-hots through a fixed Gaussian projection (seed 0) to
  ``dg.condition_attributes`` numbers, L2-normalised; :class:`ConditionProjection` puts it beside
  its own normalised output and normalises the whole, so the code and the CCA weigh the same.

It needs per-image attribute labels (SynthBirds has them; CUB ships 312 binary attributes per
image, which the CUB adapter does not read yet); data without them is refused with one line. On
training captions the classifier is exact (training accuracy 1.0 on SynthBirds), so the
generator learns on the true codes; on new speech it sees the classifier's reading, right 0.90 /
0.89 / 0.82 of the time for crown / wing / belly of unseen classes. The speech never passes
through text: the labels only teach the classifier which part a spoken colour belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

ALPHAS = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4)   # ridge strengths tried (standardised inputs)
CODE_SEED = 0                                # the fixed projection of the one-hot code


@dataclass
class AttributeFit:
    """A fitted attribute classifier: scores = (y - mean) @ weight + bias; ``group`` (K,) is the
    attribute of each score column, ``code`` (K, dims) the projection of the one-hot code."""

    mean: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    group: np.ndarray
    code: np.ndarray
    names: list[str]            # "<attribute>=<value>" of each column
    alpha: float
    train_accuracy: dict[str, float]


def one_hot_targets(labels: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """(targets (N, K) in {0, 1}, group (K,), column names, attributes used) of an attribute
    table, one string column per attribute; an attribute with one value only is left out."""
    blocks, group, names, used = [], [], [], []
    for attr in labels.columns:
        y = labels[attr].astype(str).to_numpy()
        values = sorted(set(y))
        if len(values) < 2:
            continue
        blocks.append((y[:, None] == np.asarray(values)[None, :]).astype(np.float64))
        group += [len(used)] * len(values)
        names += [f"{attr}={v}" for v in values]
        used.append(attr)
    if not blocks:
        raise ValueError("dg.condition_attributes: no attribute with two or more values in the "
                         "training images' labels")
    return np.concatenate(blocks, axis=1), np.asarray(group), names, used


def value_indices(labels: pd.DataFrame) -> tuple[np.ndarray, tuple[int, ...]]:
    """(indices (N, A) int64: each row's value of each attribute, counted in
    :func:`one_hot_targets`' column order; sizes (A,): values per attribute) of an attribute
    table: the targets of D's attribute head (``dg.d_attributes``)."""
    targets, group, _, _ = one_hot_targets(labels)
    sizes = tuple(int(n) for n in np.bincount(group))
    blocks = np.split(targets, np.cumsum(sizes)[:-1], axis=1)
    return np.stack([b.argmax(1) for b in blocks], axis=1).astype(np.int64), sizes


def fit_attribute_code(x: np.ndarray, labels: pd.DataFrame, dims: int) -> AttributeFit:
    """Fit :class:`AttributeCode` on the training captions' generator inputs ``x`` (N, D) and the
    attribute labels of their images (N rows, one column per attribute)."""
    from sklearn.linear_model import RidgeCV   # (imported here: sklearn takes ~1 s to import)

    if len(labels) != len(x) or labels.empty or labels.isna().any().any():
        raise ValueError("dg.condition_attributes needs the attribute labels of every training "
                         "caption's image (the manifest's attributes column)")
    targets, group, names, used = one_hot_targets(labels)
    x = np.asarray(x, dtype=np.float64)
    mean, std = x.mean(0), x.std(0)
    std[std < 1e-12] = 1.0
    ridge = RidgeCV(alphas=ALPHAS).fit((x - mean) / std, targets)
    weight = ridge.coef_.T / std[:, None]
    bias = np.asarray(ridge.intercept_, dtype=np.float64)
    picked = one_hot_argmax(torch.from_numpy((x - mean) @ weight + bias), torch.from_numpy(group))
    accuracy = {a: float((picked.numpy()[:, group == g] == targets[:, group == g]).all(1).mean())
                for g, a in enumerate(used)}
    code = np.random.default_rng(CODE_SEED).normal(size=(len(names), dims))
    return AttributeFit(mean, weight, bias, group, code, names, float(ridge.alpha_), accuracy)


def one_hot_argmax(scores: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """(B, K) scores -> (B, K) one-hot: a 1 at the highest score of each attribute's columns."""
    out = torch.zeros_like(scores)
    rows = torch.arange(len(scores), device=scores.device)
    for g in torch.unique(group):
        cols = torch.nonzero(group == g).squeeze(1)
        out[rows, cols[scores[:, cols].argmax(1)]] = 1.0
    return out


class AttributeCode(nn.Module):
    """y (B, in_dim) -> normalize(one-hot of each attribute's arg-max score @ code) (B, dims);
    zeros until :meth:`set` is called. The buffers' sizes depend on the data (how many attribute
    values), so loading a state dict takes its shapes."""

    RESIZED = ("weight", "bias", "group", "code")

    def __init__(self, in_dim: int, dims: int):
        super().__init__()
        self.dims = dims
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("weight", torch.zeros(in_dim, 0))
        self.register_buffer("bias", torch.zeros(0))
        self.register_buffer("group", torch.zeros(0, dtype=torch.long))
        self.register_buffer("code", torch.zeros(0, dims))

    def set(self, fit: AttributeFit) -> None:
        in_dim = self.mean.shape[0]
        if fit.mean.shape != (in_dim,) or fit.weight.shape[0] != in_dim or \
                fit.code.shape[1] != self.dims:
            raise ValueError(f"attribute classifier of shape {fit.weight.shape} / code "
                             f"{fit.code.shape} does not fit ({in_dim}, K) / (K, {self.dims})")
        dev, dt = self.mean.device, self.mean.dtype
        self.mean = torch.as_tensor(fit.mean, dtype=dt, device=dev)
        self.weight = torch.as_tensor(fit.weight, dtype=dt, device=dev)
        self.bias = torch.as_tensor(fit.bias, dtype=dt, device=dev)
        self.group = torch.as_tensor(fit.group, dtype=torch.long, device=dev)
        self.code = torch.as_tensor(fit.code, dtype=dt, device=dev)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in self.RESIZED:
            given = state_dict.get(prefix + name)
            if given is not None and given.shape != getattr(self, name).shape:
                old = getattr(self, name)
                setattr(self, name, old.new_zeros(given.shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if not self.group.numel():
            return y.new_zeros(len(y), self.dims)
        scores = (y - self.mean) @ self.weight + self.bias
        return F.normalize(one_hot_argmax(scores, self.group) @ self.code, dim=1)
