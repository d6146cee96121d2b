"""Shared tiny configurations and artifacts: the real configs shrunk to shapes that train in
milliseconds, so every test builds the same small models instead of its own copy.

Plain names (``from conftest import tiny_dg, TINY_SEN, E``) for parametrised tests and module
helpers; fixtures for the artifacts written to disk (a SEN checkpoint, a generator checkpoint, a
few manifest images).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from s2igan.checkpoint import save_checkpoint
from s2igan.config import to_dict
from s2igan.data import manifest
from s2igan.rdg.config import DGConfig
from s2igan.rdg.generator import Generator
from s2igan.sen.checkpoint import build_encoders
from s2igan.sen.config import SENConfig

REPO = Path(__file__).resolve().parents[1]


@functools.cache
def check_stage():
    """``stages/check.py`` as a module (its ``problems(params)`` and ``load_params``)."""
    spec = importlib.util.spec_from_file_location("check_stage", REPO / "stages/check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


E = 16  # tiny embedding size (speech and image embeddings)

# The SEN at its smallest: one GRU layer of 8 units per direction, embedding E.
TINY_SEN = SENConfig(embed_dim=E, gru_hidden=E // 2, gru_layers=1, conv_channels=(8, 8),
                     att_hidden=8)
TINY_SEN_DIMS = {"feat_dim": 8, "n_mels": 40, "n_classes": 3}


def tiny_dg(sizes: tuple[int, ...] = (16, 32), dense: bool = True) -> DGConfig:
    """Generator/discriminators at 16 (and 32, 64) px with a handful of channels."""
    return DGConfig(dense=dense, image_sizes=sizes, ngf=16, ndf=4, z_dim=8, ca_dim=6,
                    res_blocks=1)


class TinyBackbone(nn.Module):
    """A real (small) differentiable stand-in for the ImageNet backbone: resize + conv + pool."""

    dim, input_size, weights_id = 8, 16, "tiny"

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 2, 1)

    def forward(self, x):
        x = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
        return self.conv(x).mean(dim=(2, 3))


class TinyImageEncoder(nn.Module):
    """Backbone features (8) -> L2-normalised embedding (E), like the SEN image encoder."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, E)

    def forward(self, x):
        return F.normalize(self.linear(x), dim=-1)


@pytest.fixture()
def sen_checkpoint(tmp_path: Path) -> Path:
    """A SEN checkpoint of :data:`TINY_SEN` (random weights) in the trained format."""
    torch.manual_seed(0)
    speech, image = build_encoders(TINY_SEN, TINY_SEN_DIMS)
    path = tmp_path / "sen.pt"
    save_checkpoint(path, {"speech_encoder": speech.state_dict(),
                           "image_encoder": image.state_dict(),
                           "config": to_dict(TINY_SEN), "dims": TINY_SEN_DIMS})
    return path


@pytest.fixture()
def generator_checkpoint(tmp_path: Path) -> Path:
    """A generator.pt of :func:`tiny_dg` (random weights, 32 px) for embeddings of size E."""
    torch.manual_seed(0)
    dg = tiny_dg()
    path = tmp_path / "generator.pt"
    save_checkpoint(path, {"generator": Generator(dg, E).eval().state_dict(),
                           "config": to_dict(dg), "embed_dim": E})
    return path


@pytest.fixture()
def image_manifest(tmp_path: Path):
    """A manifest of 6 noise PNGs (48x64), 3 classes, train and test, 2 captions each."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(6):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
        for k in range(2):
            rows.append(dict(image_id=f"im{i}", image_path=str(path), class_id=i % 3,
                             class_name=f"class {i % 3}", split="test" if i >= 4 else "train",
                             caption_idx=k, text=f"caption {k} of image {i}",
                             bbox="[5, 5, 20, 20]" if i == 0 else "[]"))
    return manifest.build(rows, "toy", "fine_grained")
