"""SEN checkpoints (:mod:`s2igan.checkpoint` dicts) and the trained encoders they hold.

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

from s2igan.checkpoint import load_checkpoint
from s2igan.config import from_dict
from s2igan.sen.config import SENConfig
from s2igan.sen.model import ImageEncoder, SpeechEncoder


def load_state(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A SEN checkpoint dict (:class:`BadInputError` if missing or unreadable)."""
    return load_checkpoint(path, map_location, "SEN checkpoint", "run the `sen` stage first",
                           ("config", "dims", "speech_encoder", "image_encoder"))


def build_encoders(cfg: SENConfig, dims: dict[str, int]) -> tuple[SpeechEncoder, ImageEncoder]:
    return (SpeechEncoder(cfg, n_mels=dims["n_mels"]),
            ImageEncoder(dims["feat_dim"], cfg.embed_dim))


def load_sen(path: str | Path, device: str | torch.device = "cpu"
             ) -> tuple[SpeechEncoder, ImageEncoder, SENConfig]:
    """(speech encoder, image encoder, config) from a SEN checkpoint, in eval mode on ``device``."""
    state = load_state(path)
    cfg = from_dict(SENConfig, state["config"], "checkpoint config")
    speech, image = build_encoders(cfg, state["dims"])
    speech.load_state_dict(state["speech_encoder"])
    image.load_state_dict(state["image_encoder"])
    return speech.to(device).eval(), image.to(device).eval(), cfg
