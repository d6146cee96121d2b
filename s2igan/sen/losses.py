"""SEN objectives (Sec. III-B1): matching loss Eq. (3)-(6) and distinctive loss Eq. (7).

Reduction: both losses are MEANS over the batch (as the official code's cross-entropy), not the
sums written in Eq. (5) and (7); the sum is the mean times the batch size, so this only rescales
the learning rate. Eq. (8): L_SEN = L_m + L_d (fine-grained data); Eq. (9): L_SEN = L_m (scene).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def match_mask(keys: torch.Tensor) -> torch.Tensor:
    """Eq. (4) as a boolean ``(B, B)`` matrix of the pairs to DROP from the denominators
    (``M_ij = 0``): ``y_i`` matches ``x_j`` and ``i != j``.

    ``keys`` (B,) decides what "matches" means: class ids for fine-grained data (another image of
    the same class can be described by the caption), image ids for scene data (another caption of
    the same image).
    """
    same = keys.unsqueeze(0) == keys.unsqueeze(1)  # (B, B)
    return same & ~torch.eye(len(keys), dtype=torch.bool, device=keys.device)


def matching_loss(speech: torch.Tensor, image: torch.Tensor, keys: torch.Tensor,
                  beta: float = 10.0) -> torch.Tensor:
    """Eq. (6), ``L_m = L_{y-x} + L_{x-y}`` for speech ``y (B, E)`` and image ``x (B, E)``.

    Eq. (3): ``P(x_i|y_i) = exp(beta S(y_i, x_i)) / sum_j M_ij exp(beta S(y_i, x_j))``, with S the
    cosine similarity; Eq. (5): ``L_{y-x} = -mean_i log P(x_i|y_i)``; ``L_{x-y}`` symmetrically
    (M is symmetric).
    """
    s = beta * F.normalize(speech, dim=-1) @ F.normalize(image, dim=-1).T  # (B, B) rows: y_i
    s = s.masked_fill(match_mask(keys), float("-inf"))
    target = torch.arange(len(s), device=s.device)
    return F.cross_entropy(s, target) + F.cross_entropy(s.T, target)


def distinctive_loss(classifier: torch.nn.Module, speech: torch.Tensor, image: torch.Tensor,
                     labels: torch.Tensor) -> torch.Tensor:
    """Eq. (7): one linear classifier ``f`` shared by both modalities over the training classes,
    ``L_d = -mean_i [log P(c_i | f(y_i)) + log P(c_i | f(x_i))]``."""
    return F.cross_entropy(classifier(speech), labels) + F.cross_entropy(classifier(image), labels)


def feature_regression_loss(regressor: torch.nn.Module, speech: torch.Tensor,
                            target: torch.Tensor) -> torch.Tensor:
    """Our addition (``sen.feature_regression``; not in the paper): the mean squared error of a
    linear map of the L2-normalised speech embedding ``speech (B, E)`` against ``target (B, D)``,
    the standardised backbone feature of each caption's image.

    Eq. (6) is met by telling a caption's bag of colours from those of the other captions in the
    batch, so the embedding need not say which part wears which colour (README "Binding"); the
    backbone feature does say it, in part, and regressing it asks the embedding to keep that.
    Like Li et al.'s KDL, Eq. (9) of their paper, it distils the image feature into the speech
    side, but through a learnt linear head and beside the matching loss, not instead of it."""
    return F.mse_loss(regressor(F.normalize(speech, dim=-1)), target)
