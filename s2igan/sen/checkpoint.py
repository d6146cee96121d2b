"""SEN checkpoints: plain dicts saved with ``torch.save`` (nanoGPT style), loaded weights-only.

Keys: ``speech_encoder``, ``image_encoder``, ``classifier`` (state dicts, classifier None without
the distinctive loss), ``optimizer``, ``scheduler``, ``epoch`` (epochs completed), ``config``
(SENConfig as a dict), ``dims`` (feat_dim, n_mels, n_classes), ``rng`` (torch / numpy / cuda
states), ``history`` (per-epoch losses), ``best`` (best val/map, its epoch), ``fingerprint``
(identity of the training data, so a resumed run never mixes data sets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from s2igan.config import from_dict
from s2igan.io import BadInputError, atomic_path
from s2igan.sen.config import SENConfig
from s2igan.sen.model import ImageEncoder, SpeechEncoder


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "SEN checkpoint not found (run the `sen` stage first)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for a broken/foreign file
        raise BadInputError(path, f"not a readable SEN checkpoint ({exc})") from None


def build_encoders(cfg: SENConfig, dims: dict[str, int]) -> tuple[SpeechEncoder, ImageEncoder]:
    return (SpeechEncoder(cfg, n_mels=dims["n_mels"]),
            ImageEncoder(dims["feat_dim"], cfg.embed_dim))


def load_sen(path: str | Path, device: str | torch.device = "cpu"
             ) -> tuple[SpeechEncoder, ImageEncoder, SENConfig]:
    """(speech encoder, image encoder, config) from a SEN checkpoint, in eval mode on ``device``."""
    state = load_checkpoint(path)
    cfg = from_dict(SENConfig, state["config"], "checkpoint config")
    speech, image = build_encoders(cfg, state["dims"])
    speech.load_state_dict(state["speech_encoder"])
    image.load_state_dict(state["image_encoder"])
    return speech.to(device).eval(), image.to(device).eval(), cfg
