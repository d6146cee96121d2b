"""Per-scale discriminators with unconditional and conditional heads, Eq. (15)-(17).

StackGAN-v2 layout: strided 4x4 convolutions down to a 4x4 code (widths ndf, 2ndf, 4ndf, ...),
3x3 blocks back to at most 8ndf channels for the larger scales; the unconditional head reads the
code, the conditional head reads the code joined with the tiled condition ``F^ca(y)`` (the
official code feeds ``mu``). Heads return logits (the sigmoid lives in the loss).

``condition="projection"`` (``dg.d_condition``; our deviation, the paper concatenates) replaces the
concatenation head by a projection head (Miyato & Koyama, ICLR 2018): the logit is a score of the
code plus the inner product of the average-pooled code with a linear map of the condition. The
condition then scales image features directly instead of passing through one more convolution,
which makes the matching of image and condition (part colours) much faster to learn.

``match_dim > 0`` (``dg.d_match > 0``; our deviation, the paper has no such head) adds a matching head:
a linear map of the average-pooled code into the speech-embedding space. The loss
(:func:`s2igan.rdg.losses.match_loss`) is the batch contrastive matching loss of Eq. (3)-(6) between
these image vectors and the speech embeddings ``y``, as the cross-modal contrastive discriminator of
XMC-GAN (Zhang et al., CVPR 2021): D learns it on real images, G on its fakes. Every caption of a
batch of B is told apart from B - 1 others, a far denser signal than the single mismatched pair of
the conditional term.

``attribute_dim > 0`` (``dg.d_attributes > 0``; our deviation, the paper has none) adds an attribute
head: a linear map of the average-pooled code to one logit per attribute value (all attributes'
values side by side), as the auxiliary classifier of AC-GAN (Odena et al., ICML 2017). D learns
it on real images against their labels; G is trained so that D reads the labels of the caption's
image from its fake (:func:`s2igan.rdg.losses.attribute_loss`). The part colours are then a
loss of their own instead of one bit of the conditional term.
"""

from __future__ import annotations

import torch
from torch import nn

from s2igan.rdg.config import DGConfig
from s2igan.rdg.conv import Conv2d


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


class Discriminator(nn.Module):
    """D_i for ``size`` x ``size`` images."""

    def __init__(self, size: int, ndf: int, ca_dim: int, max_channels: int = 0,
                 condition: str = "concat", match_dim: int = 0, attribute_dim: int = 0):
        super().__init__()
        self.condition = condition
        n_down = (size // 4).bit_length() - 1

        def width(k: int) -> int:
            w = ndf * 2 ** k
            return min(w, max_channels) if max_channels else w

        layers: list[nn.Module] = [Conv2d(3, width(0), 4, 2, 1, bias=False), _lrelu()]
        for k in range(1, n_down):
            layers += [Conv2d(width(k - 1), width(k), 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width(k)), _lrelu()]
        ch = width(n_down - 1)
        target = min(ch, width(3))
        while ch > target:                    # 3x3 blocks back down to 8 ndf (scales > 64 px)
            nxt = max(ch // 2, target)
            layers += [Conv2d(ch, nxt, 3, 1, 1, bias=False), nn.BatchNorm2d(nxt), _lrelu()]
            ch = nxt
        self.encode = nn.Sequential(*layers)
        self.code_ch = ch
        self.uncond = Conv2d(ch, 1, 4, 4)
        if condition == "projection":
            self.embed = nn.Linear(ca_dim, ch, bias=False)
        else:
            self.joint = nn.Sequential(Conv2d(ch + ca_dim, ch, 3, 1, 1, bias=False),
                                       nn.BatchNorm2d(ch), _lrelu())
        self.cond = Conv2d(ch, 1, 4, 4)
        self.match = nn.Linear(ch, match_dim) if match_dim else None
        self.attributes = nn.Linear(ch, attribute_dim) if attribute_dim else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Image code: (B, 3, S, S) -> (B, C, 4, 4)."""
        return self.encode(x)

    def uncond_logits(self, code: torch.Tensor) -> torch.Tensor:
        return self.uncond(code).flatten()                                   # (B,)

    def match_vectors(self, code: torch.Tensor) -> torch.Tensor:
        """(B, C, 4, 4) code -> (B, match_dim) vectors compared with the speech embeddings."""
        return self.match(code.mean(dim=(2, 3)))

    def attribute_logits(self, code: torch.Tensor) -> torch.Tensor:
        """(B, C, 4, 4) code -> (B, attribute_dim) logits of every attribute value."""
        return self.attributes(code.mean(dim=(2, 3)))

    def cond_logits(self, code: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if self.condition == "projection":
            pooled = code.mean(dim=(2, 3))                                   # (B, C)
            return self.cond(code).flatten() + (self.embed(c) * pooled).sum(1)  # (B,)
        tiled = c[:, :, None, None].expand(-1, -1, *code.shape[-2:])         # (B, ca, 4, 4)
        return self.cond(self.joint(torch.cat([code, tiled], dim=1))).flatten()  # (B,)


def make_discriminators(cfg: DGConfig, embed_dim: int = 0,
                        attribute_dim: int = 0) -> nn.ModuleList:
    """One D per scale; ``embed_dim`` (the speech embedding size) is needed when ``cfg.d_match``,
    ``attribute_dim`` (the number of attribute values) when ``cfg.d_attributes``."""
    if cfg.d_match and not embed_dim:
        raise ValueError("dg.d_match needs the speech embedding size")
    if cfg.d_attributes and not attribute_dim:
        raise ValueError("dg.d_attributes needs the number of attribute values")
    match_dim = embed_dim if cfg.d_match else 0
    attribute_dim = attribute_dim if cfg.d_attributes else 0
    return nn.ModuleList(Discriminator(s, cfg.ndf, cfg.ca_dim, cfg.max_d_channels,
                                       cfg.d_condition, match_dim, attribute_dim)
                         for s in cfg.image_sizes)
