"""Densely-stacked generator (DG), Eq. (10)-(11) of Sec. III-C1.

``h_0 = F_0(z, F^ca(y))``; ``h_i = F_i(h_0, ..., h_{i-1}, F^ca(y))``; ``x_i = G_i(h_i)``.
With ``dense=False`` every ``F_i`` sees only ``h_{i-1}`` (StackGAN-v2 stacking, the paper's
"w/o Dense" ablation). With ``dense=True`` the earlier hidden features ``h_0 .. h_{i-2}`` are
upsampled (nearest) to the size of ``h_{i-1}`` and concatenated with it (DenseNet-style fusion)
before the joint convolution of ``F_i``.

Building blocks follow StackGAN-v2 (GLU activations, BatchNorm, residual blocks, nearest
upsampling + 3x3 conv). One efficiency change: the condition code enters the joint convolution as a
per-sample channel bias (a linear map of ``F^ca(y)``) instead of being tiled over the feature map
and concatenated; the two are the same function except at the zero-padded border, and the bias
form costs nothing at high resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from s2igan.rdg.condition import ConditionProjection
from s2igan.rdg.config import DGConfig
from s2igan.rdg.conv import Conv2d, conv2d
from s2igan.sen.vlad import SpeechWithVLAD


class GLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * torch.sigmoid(b)


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return Conv2d(cin, cout, 3, 1, 1, bias=False)


# Row taps of "nearest x2 upsampling then a 3x3 conv" seen from the low-resolution map: output
# rows 2i use input rows (i-1, i) with kernel rows (0, 1+2); rows 2i+1 use (i, i+1) with (0+1, 2).
_PHASE = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]],
                       [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])          # (phase, 2 taps, 3 rows)


class UpConv3x3(nn.Module):
    """Nearest x2 upsampling followed by a 3x3 conv (padding 1, no bias), computed exactly as
    four 2x2 convs on the low-resolution map (sub-pixel form): 16 instead of 36 multiply-adds
    per input pixel and channel pair. The parameter is the ordinary 3x3 kernel."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin, 3, 3))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        self.register_buffer("phase", _PHASE.clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        cout = self.weight.shape[0]
        p = self.phase.to(self.weight.dtype)
        # (a, b, cout, cin, 2, 2): kernel of output phase (a, b)
        k = torch.einsum("axi,ocij,byj->abocxy", p, self.weight, p)
        y = conv2d(F.pad(x, (1, 1, 1, 1)), k.reshape(4 * cout, -1, 2, 2))   # (B, 4cout, H+1, W+1)
        y = y.view(b, 2, 2, cout, h + 1, w + 1)
        rows = [torch.stack([y[:, a, c, :, a:a + h, c:c + w] for c in (0, 1)], dim=-1)
                for a in (0, 1)]                                            # (B, cout, H, W, 2)
        out = torch.stack(rows, dim=3)                                      # (B, cout, H, 2, W, 2)
        return out.reshape(b, cout, 2 * h, 2 * w)


class CondBatchNorm2d(nn.Module):
    """BatchNorm whose scale and shift are also modulated by the condition code (``dg.cond_norm``;
    our deviation, the paper conditions only at F_0 and the joint convolution of each F_i):
    ``BN(x) * (1 + gamma(c)) + beta(c)``, as the conditional batch norm of BigGAN (Brock et al.,
    ICLR 2019) and the deep text-image fusion of DF-GAN (Tao et al., CVPR 2022). Every block of
    the generator then sees the speech condition, not just the first layer of each stage.
    ``gamma`` and ``beta`` start at zero, so the network starts as the unconditioned one.
    With ``cond_dim == 0`` it is a plain BatchNorm and ``c`` is ignored."""

    def __init__(self, ch: int, cond_dim: int = 0):
        super().__init__()
        self.bn = nn.BatchNorm2d(ch)
        self.affine = nn.Linear(cond_dim, 2 * ch) if cond_dim else None

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        x = self.bn(x)
        if self.affine is None:
            return x
        gamma, beta = self.affine(c)[:, :, None, None].chunk(2, dim=1)     # (B, ch, 1, 1) each
        return x * (1 + gamma) + beta


class UpBlock(nn.Module):
    """(B, cin, S, S) -> (B, cout, 2S, 2S): nearest x2 + 3x3 conv (sub-pixel form), BN, GLU."""

    def __init__(self, cin: int, cout: int, cond_dim: int = 0):
        super().__init__()
        self.conv = UpConv3x3(cin, 2 * cout)
        self.norm = CondBatchNorm2d(2 * cout, cond_dim)
        self.act = GLU()

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.act(self.norm(self.conv(x), c))


class ResBlock(nn.Module):
    def __init__(self, ch: int, cond_dim: int = 0):
        super().__init__()
        self.conv1, self.norm1 = conv3x3(ch, 2 * ch), CondBatchNorm2d(2 * ch, cond_dim)
        self.act = GLU()
        self.conv2, self.norm2 = conv3x3(ch, ch), CondBatchNorm2d(ch, cond_dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.act(self.norm1(self.conv1(x), c))
        return x + self.norm2(self.conv2(h), c)


class CondAugment(nn.Module):
    """Eq. (11): ``F^ca(y) = mu(y) + sigma(y) * eps``, eps ~ N(0, I); returns (c, mu, logvar).

    ``standardize``: the SEN's embeddings are L2-normalised, so each of their E components is
    about 1/sqrt(E) in size, and mu(y) starts out buried under the unit-variance eps; scaling y by
    sqrt(E) gives it unit RMS per component, like the noise (our choice, not the paper's).
    """

    def __init__(self, embed_dim: int, ca_dim: int, standardize: bool = False):
        super().__init__()
        self.ca_dim = ca_dim
        self.scale = embed_dim ** 0.5 if standardize else 1.0
        self.fc = nn.Linear(embed_dim, 4 * ca_dim)
        self.glu = GLU()

    def forward(self, y: torch.Tensor, eps: torch.Tensor | None = None):
        h = self.glu(self.fc(y * self.scale))         # (B, 2 * ca)
        mu, logvar = h[:, :self.ca_dim], h[:, self.ca_dim:]
        if eps is None:
            eps = torch.randn_like(mu)
        return mu + torch.exp(0.5 * logvar) * eps, mu, logvar


class InitStage(nn.Module):
    """F_0: (z, c) -> h_0 of shape (B, ngf, S_0, S_0) via a 4x4 seed and nearest upsampling."""

    def __init__(self, z_dim: int, ca_dim: int, ngf: int, size: int, cond_dim: int = 0):
        super().__init__()
        n_up = (size // 4).bit_length() - 1
        c0 = ngf * 2 ** n_up
        self.c0 = c0
        self.fc = nn.Sequential(nn.Linear(z_dim + ca_dim, c0 * 16 * 2, bias=False),
                                nn.BatchNorm1d(c0 * 16 * 2), GLU())
        self.ups = nn.ModuleList(UpBlock(c0 // 2 ** k, c0 // 2 ** (k + 1), cond_dim)
                                 for k in range(n_up))

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([c, z], dim=1)).view(len(z), self.c0, 4, 4)   # (B, c0, 4, 4)
        for up in self.ups:
            h = up(h, c)
        return h                                                            # (B, ngf, S0, S0)


class NextStage(nn.Module):
    """F_i, i >= 1: (h_{i-1} [+ upsampled h_0..h_{i-2}], c) -> h_i at twice the size, half the
    width."""

    def __init__(self, ch: int, extra_ch: int, ca_dim: int, res_blocks: int, cond_dim: int = 0):
        super().__init__()
        self.joint = conv3x3(ch + extra_ch, 2 * ch)
        self.cond = nn.Linear(ca_dim, 2 * ch)          # the condition as a per-sample bias
        self.joint_act = nn.Sequential(nn.BatchNorm2d(2 * ch), GLU())
        self.res = nn.ModuleList(ResBlock(ch, cond_dim) for _ in range(res_blocks))
        self.up = UpBlock(2 * ch, ch // 2, cond_dim)

    def forward(self, h_prev: torch.Tensor, earlier: list[torch.Tensor], c: torch.Tensor):
        size = h_prev.shape[-1]
        fused = [h_prev] + [F.interpolate(h, size=size, mode="nearest") for h in earlier]
        x = self.joint(torch.cat(fused, dim=1)) + self.cond(c)[:, :, None, None]  # (B, 2ch, S, S)
        x = self.joint_act(x)
        for block in self.res:
            x = block(x, c)                                                       # (B, ch, S, S)
        return self.up(torch.cat([x, h_prev], dim=1), c)                     # (B, ch/2, 2S, 2S)


class Generator(nn.Module):
    """Eq. (10): returns one image per scale in [-1, 1], plus (mu, logvar) of Eq. (11)."""

    def __init__(self, cfg: DGConfig, embed_dim: int):
        super().__init__()
        self.cfg = cfg
        self.embed_dim = embed_dim
        sizes = tuple(cfg.image_sizes)
        self.project = (nn.Identity() if cfg.condition_projection == "none"
                        else ConditionProjection(embed_dim, cfg.condition_dims,
                                                 cfg.condition_vlad, embed_dim,
                                                 cfg.condition_attributes))
        self.ca = CondAugment(self.condition_dim, cfg.ca_dim, cfg.standardize_condition)
        cond_dim = cfg.ca_dim if cfg.cond_norm else 0
        self.init = InitStage(cfg.z_dim, cfg.ca_dim, cfg.ngf, sizes[0], cond_dim)
        chans = [cfg.ngf // 2 ** i for i in range(len(sizes))]     # width of h_i
        self.stages = nn.ModuleList(
            NextStage(chans[i - 1], sum(chans[:i - 1]) if cfg.dense else 0, cfg.ca_dim,
                      cfg.res_blocks, cond_dim) for i in range(1, len(sizes)))
        self.to_image = nn.ModuleList(nn.Sequential(conv3x3(ch, 3), nn.Tanh()) for ch in chans)

    @property
    def condition_dim(self) -> int:
        """Size of the projected condition that F^ca and D's matching head read."""
        if self.cfg.condition_projection == "none":
            return self.embed_dim
        return self.cfg.condition_dims + self.cfg.condition_attributes

    @property
    def input_dim(self) -> int:
        """Size of the speech vector y the generator reads: the SEN embedding, followed by the
        VLAD of its frame states with ``dg.condition_vlad`` (K x E: the states of the S2IGAN
        speech encoder have the embedding's size, 2 x gru_hidden)."""
        return self.embed_dim * (1 + self.cfg.condition_vlad)

    def speech_input(self, speech_encoder: nn.Module) -> nn.Module:
        """``speech_encoder`` (filterbanks -> SEN embedding) extended to what this generator
        reads (:attr:`input_dim`): itself, or with ``dg.condition_vlad`` the embedding followed
        by the VLAD over the centres fitted in training (:mod:`s2igan.sen.vlad`)."""
        if not self.cfg.condition_vlad:
            return speech_encoder
        return SpeechWithVLAD(speech_encoder, self.project.centres)

    def forward(self, z: torch.Tensor, y: torch.Tensor, eps: torch.Tensor | None = None):
        """z (B, z_dim), y (B, input_dim) -> ([x_0 (B,3,S0,S0), ...], mu, logvar)."""
        c, mu, logvar = self.ca(self.project(y), eps)
        hidden = [self.init(z, c)]
        for stage in self.stages:
            earlier = hidden[:-1] if self.cfg.dense else []
            hidden.append(stage(hidden[-1], earlier, c))
        return [g(h) for g, h in zip(self.to_image, hidden)], mu, logvar


def init_weights(module: nn.Module) -> None:
    """Orthogonal conv/linear weights, N(1, 0.02) BatchNorm scales (as StackGAN-v2)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, UpConv3x3)):
            nn.init.orthogonal_(m.weight)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    for m in module.modules():               # conditional norms start as plain BatchNorm
        if isinstance(m, CondBatchNorm2d) and m.affine is not None:
            nn.init.zeros_(m.affine.weight)
            nn.init.zeros_(m.affine.bias)
