"""Differentiable augmentation of discriminator inputs (DiffAugment, Zhao et al., NeurIPS 2020).

Not part of S2IGAN. The embedded CPU profile trains on 360 images for a few thousand steps;
there the per-scale discriminators memorise the real images and their gradient stops being
useful to the generator. DiffAugment applies the same random, differentiable transform to real
and generated images alike before every discriminator call (D and G updates), so the generator
is still trained toward the unaugmented distribution. Only ``translation`` is offered: colour
transforms would change exactly what the captions describe. ``rdg.diff_augment: none`` (the
paper profile) turns it off.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

KINDS = ("none", "translation")


def translate(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift every image of (B, C, H, W) by its own random offset of up to ``ratio`` of its
    size in each direction, filling with the replicated border (gradients flow to ``x``)."""
    b, _, h, w = x.shape
    pad = max(1, int(round(h * ratio)))
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    dy = torch.randint(0, 2 * pad + 1, (b,), device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), device=x.device)
    rows = torch.arange(h, device=x.device)[None, :] + dy[:, None]               # (B, H)
    cols = torch.arange(w, device=x.device)[None, :] + dx[:, None]               # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)


def augmenter(kind: str):
    """The augmentation function for ``rdg.diff_augment`` (None for ``none``)."""
    if kind not in KINDS:
        raise ValueError(f"rdg.diff_augment must be one of {KINDS}, got {kind!r}")
    return translate if kind == "translation" else None
