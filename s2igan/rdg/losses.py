"""Adversarial losses of the RDG, Eq. (15)-(17), and the conditioning-augmentation KL term.

Discriminator heads return logits; ``-log D`` and ``-log(1 - D)`` are written with
``binary_cross_entropy_with_logits`` (numerically stable, AMP-safe).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from s2igan.rdg.discriminator import Discriminator
from s2igan.rdg.relation import damsm_matching_loss


def _bce(logits: torch.Tensor, real: bool, weight: torch.Tensor | None = None) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    if weight is None:
        return F.binary_cross_entropy_with_logits(logits, target)
    per = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (per * weight).sum() / weight.sum().clamp(min=1.0)


def _augmented(x: torch.Tensor, augment: Callable[[torch.Tensor], torch.Tensor] | None
               ) -> torch.Tensor:
    return x if augment is None else augment(x)


@dataclass(frozen=True)
class Matching:
    """What the contrastive matching head of D (``dg.d_match``) compares images with."""

    y: torch.Tensor                    # (B, E) speech embeddings of the batch
    class_id: torch.Tensor | None      # (B,) same-class pairs are masked, as Eq. (4)
    weight: float
    beta: float = 10.0


def match_loss(d: Discriminator, code: torch.Tensor, m: Matching | None) -> torch.Tensor | float:
    """Weighted Eq. (3)-(6) between D's matching vectors of ``code`` and the speech embeddings."""
    if m is None or not m.weight or d.match is None:
        return 0.0
    return m.weight * damsm_matching_loss(m.y, d.match_vectors(code).float(), m.class_id, m.beta)


@dataclass(frozen=True)
class AttributeTargets:
    """What the attribute head of D (``dg.d_attributes``) is taught: the labels of each
    caption's image, one value index per attribute."""

    labels: torch.Tensor               # (B, A) long: value index of each attribute
    sizes: tuple[int, ...]             # (A,) number of values of each attribute
    weight: float


def attribute_loss(d: Discriminator, code: torch.Tensor,
                   t: AttributeTargets | None) -> torch.Tensor | float:
    """Weighted mean over the attributes of the cross-entropy of D's attribute logits of
    ``code`` (each attribute's softmax over its own values) against ``t.labels``."""
    if t is None or not t.weight or d.attributes is None:
        return 0.0
    logits = torch.split(d.attribute_logits(code).float(), list(t.sizes), dim=1)
    return t.weight * torch.stack([F.cross_entropy(part, t.labels[:, a])
                                   for a, part in enumerate(logits)]).mean()


def discriminator_loss(d: Discriminator, real: torch.Tensor, fake: torch.Tensor, c: torch.Tensor,
                       uncond_weight: float = 1.0, wrong: torch.Tensor | None = None,
                       wrong_mask: torch.Tensor | None = None,
                       augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                       matching: Matching | None = None,
                       attributes: AttributeTargets | None = None) -> torch.Tensor:
    """Eq. (17) for one scale.

    real / fake (B, 3, S, S), c (B, ca) the (detached) condition. ``wrong`` (B,) is an optional
    permutation of the batch giving each caption a real image of another class (StackGAN-v2's
    mismatch term: real image + wrong condition = fake; ``wrong_mask`` (B,) marks the usable
    pairs). The mismatched image codes are the real codes permuted, so this costs no extra pass.
    ``augment`` (DiffAugment, :mod:`s2igan.rdg.augment`) transforms real and fake images alike.
    ``matching`` adds the matching head's loss on the real images (``dg.d_match``),
    ``attributes`` the attribute head's on them (``dg.d_attributes``).
    """
    code_real = d(_augmented(real, augment))                                 # (B, C, 4, 4)
    code_fake = d(_augmented(fake.detach(), augment))
    loss = _bce(d.cond_logits(code_real, c), True) + _bce(d.cond_logits(code_fake, c), False)
    if wrong is not None:
        loss = loss + _bce(d.cond_logits(code_real[wrong], c), False, wrong_mask)
    loss = loss + match_loss(d, code_real, matching) + attribute_loss(d, code_real, attributes)
    if uncond_weight:
        loss = loss + uncond_weight * (_bce(d.uncond_logits(code_real), True)
                                       + _bce(d.uncond_logits(code_fake), False))
    return loss


def generator_adv_loss(d: Discriminator, fake: torch.Tensor, c: torch.Tensor,
                       uncond_weight: float = 1.0,
                       augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                       matching: Matching | None = None,
                       attributes: AttributeTargets | None = None) -> torch.Tensor:
    """Eq. (15) for one scale: -log D_i(x_i, c) - log D_i(x_i) (+ the matching head's loss on the
    fakes, ``dg.d_match``, and the attribute head's, ``dg.d_attributes``: D should read the
    caption's labels from the fake)."""
    code = d(_augmented(fake, augment))
    loss = (_bce(d.cond_logits(code, c), True) + match_loss(d, code, matching)
            + attribute_loss(d, code, attributes))
    if uncond_weight:
        loss = loss + uncond_weight * _bce(d.uncond_logits(code), True)
    return loss


def kl_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) of the conditioning augmentation (Eq. 11), element mean."""
    return -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())


def mode_seeking_loss(images: torch.Tensor, z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mode-seeking term of MSGAN (Mao et al., CVPR 2019), not in the paper.

    ``images`` (B, 3, S, S) and ``z`` (B, z_dim) where rows ``i`` and ``i + B/2`` share a caption:
    ``1 / (mean |x_i - x_j| / mean |z_i - z_j| + eps)``, averaged over the pairs. Minimising it makes
    two noises of one caption give different images (the noise must matter).
    """
    half = len(images) // 2
    dx = (images[:half] - images[half:2 * half]).abs().flatten(1).mean(1)
    dz = (z[:half] - z[half:2 * half]).abs().mean(1)
    return (1.0 / (dx / dz + eps)).mean()


def recon_loss(fakes: list[torch.Tensor], real: torch.Tensor, size: int) -> torch.Tensor:
    """Low-resolution L1 between every scale's fake and the caption's real image (not in the paper).

    ``fakes`` [(B, 3, S_i, S_i)], ``real`` (B, 3, S, S), all in [-1, 1]. Each image is averaged
    down to ``size`` x ``size`` (area pooling), so the term fixes where which colour goes and
    leaves texture, edges and the noise's variation to the adversarial terms; it is summed over
    the scales. The pix2pix recipe (Isola et al., CVPR 2017: L1 beside the GAN loss), at a
    coarse scale so that it does not pull the image towards the blurry mean.
    """
    target = F.adaptive_avg_pool2d(real.float(), size)
    return torch.stack([(F.adaptive_avg_pool2d(f.float(), size) - target).abs().mean()
                        for f in fakes]).sum()
