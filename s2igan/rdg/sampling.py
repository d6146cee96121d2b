"""Sampling from a trained generator: the checkpoint loader, batched generation with fixed noise,
and image grids (per-epoch progress grid; evaluation figures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from s2igan.checkpoint import load_checkpoint
from s2igan.config import from_dict
from s2igan.data.images import to_uint8
from s2igan.io import BadInputError, atomic_path
from s2igan.rdg.config import DGConfig
from s2igan.rdg.generator import Generator


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> Generator:
    """The EMA generator saved by training (``models/rdg/generator.pt``), in eval mode."""
    ckpt = load_checkpoint(path, device, "trained generator", "run `dvc repro` first",
                           ("config", "embed_dim", "generator"))
    try:
        g = Generator(from_dict(DGConfig, ckpt["config"], "generator config"), ckpt["embed_dim"])
        g.load_state_dict(ckpt["generator"])
    except (KeyError, RuntimeError, OSError) as exc:
        raise BadInputError(path, f"not an RDG generator checkpoint ({exc})") from None
    return g.to(device).eval().requires_grad_(False)


def fixed_noise(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """(n, z_dim) noise from a seed alone (evaluation uses the same noise for every model)."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def generate(g: Generator, speech: torch.Tensor, z: torch.Tensor, batch_size: int = 64,
             all_scales: bool = False) -> torch.Tensor | list[torch.Tensor]:
    """uint8 images (N, 3, S, S) of the last scale (or a list of every scale) for speech (N, E).

    Evaluation is deterministic: the CA noise is zero (``F^ca(y) = mu``) and ``z`` is given.
    """
    device = next(g.parameters()).device
    outs: list[list[torch.Tensor]] = []
    for i in range(0, len(speech), batch_size):
        y = speech[i:i + batch_size].to(device).float()
        zz = z[i:i + batch_size].to(device)
        imgs, _, _ = g(zz, y, eps=torch.zeros(len(y), g.cfg.ca_dim, device=device))
        outs.append([to_uint8(x).cpu() for x in imgs])
    scales = [torch.cat([o[k] for o in outs]) for k in range(len(outs[0]))]
    return scales if all_scales else scales[-1]


def save_png(images: torch.Tensor, path: str | Path, nrow: int = 8, padding: int = 2) -> None:
    """Save uint8 (N, 3, S, S) images as one grid PNG (atomically)."""
    from torchvision.utils import make_grid   # here: torchvision takes ~1 s to import

    grid = make_grid(images, nrow=nrow, padding=padding, pad_value=255)       # (3, H, W) uint8
    with atomic_path(path) as tmp:
        Image.fromarray(grid.permute(1, 2, 0).numpy().astype(np.uint8)).save(tmp, format="PNG")


def save_grid(g: Generator, speech: torch.Tensor, z: torch.Tensor, real: torch.Tensor,
              path: str | Path) -> None:
    """Progress grid: first row the real images of the fixed captions, then one row per scale
    (upsampled to the last scale) generated with the fixed noise ``z``."""
    scales = generate(g, speech, z, all_scales=True)
    size = scales[-1].shape[-1]
    rows = [real.to(torch.uint8)]
    for x in scales:
        rows.append(x if x.shape[-1] == size else
                    F.interpolate(x.float(), size=size, mode="nearest").to(torch.uint8))
    save_png(torch.cat(rows), path, nrow=len(real))
