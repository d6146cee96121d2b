"""SEN checkpoints (:mod:`s2igan.checkpoint` dicts) and the trained encoders they hold.

Keys: ``speech_encoder``, ``image_encoder``, ``classifier`` (state dicts; classifier None without
the distinctive loss; ``image_encoder`` empty for ``sen.kind: teacher_student``, whose image side
is the backbone feature itself, and None for ``classifier``, which has no image side),
``optimizer``, ``scheduler``, ``epoch`` (epochs completed), ``config`` (SENConfig as a dict),
``dims`` (feat_dim, n_mels, n_classes), ``rng`` (torch / numpy / cuda states), ``history``
(per-epoch losses), ``best`` (best val/map, its epoch), ``fingerprint`` (identity of the
training data, so a resumed run never mixes data sets); ``sen.kind: text`` adds ``vocab`` (the
text encoder's word list) and ``dims["vocab_size"]``, and its ``speech_encoder`` is the
:class:`~s2igan.sen.text.TextEncoder` (it stands in for the speech encoder downstream).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from torch import nn

from s2igan.checkpoint import load_checkpoint
from s2igan.config import from_dict
from s2igan.io import BadInputError
from s2igan.sen.config import SENConfig
from s2igan.sen.model import ImageEncoder, SpeechEncoder, TeacherImageEncoder
from s2igan.sen.text import TextEncoder


def load_state(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A SEN checkpoint dict (:class:`BadInputError` if missing or unreadable)."""
    return load_checkpoint(path, map_location, "SEN checkpoint", "run the `sen` stage first",
                           ("config", "dims", "speech_encoder", "image_encoder"))


def build_encoders(cfg: SENConfig, dims: dict[str, int], vocab: list[str] | None = None
                   ) -> tuple[SpeechEncoder | TextEncoder, nn.Module | None]:
    """(speech encoder, image encoder) of ``cfg.kind``: the S2IGAN dual encoder; for
    ``teacher_student`` a speech encoder of the backbone's size ``feat_dim`` and the backbone
    feature as image side; for ``classifier`` the S2IGAN speech encoder and no image side; for
    ``text`` the text encoder over ``dims["vocab_size"]`` words (``vocab``) and the S2IGAN image
    encoder."""
    if cfg.kind == "text":
        return (TextEncoder(cfg, dims["vocab_size"], vocab),
                ImageEncoder(dims["feat_dim"], cfg.embed_dim))
    if cfg.kind == "teacher_student":
        return (SpeechEncoder(cfg, n_mels=dims["n_mels"], out_dim=dims["feat_dim"]),
                TeacherImageEncoder(dims["feat_dim"]))
    if cfg.kind == "classifier":
        return SpeechEncoder(cfg, n_mels=dims["n_mels"]), None
    return (SpeechEncoder(cfg, n_mels=dims["n_mels"]),
            ImageEncoder(dims["feat_dim"], cfg.embed_dim))


def load_sen(path: str | Path, device: str | torch.device = "cpu", speech_only: bool = False
             ) -> tuple[SpeechEncoder, nn.Module | None, SENConfig]:
    """(speech encoder, image encoder, config) from a SEN checkpoint, in eval mode on ``device``.

    A ``sen.kind: classifier`` SEN has no image encoder: it is None with ``speech_only``, and
    otherwise a :class:`BadInputError` saying so (the RDG's relation supervisor asks for it:
    ``rs.enabled: false`` goes with the classifier system)."""
    state = load_state(path)
    cfg = from_dict(SENConfig, state["config"], "checkpoint config")
    speech, image = build_encoders(cfg, state["dims"], state.get("vocab"))
    speech.load_state_dict(state["speech_encoder"])
    if image is None:
        if not speech_only:
            raise BadInputError(path, "this SEN is sen.kind: classifier, which learns no image "
                                "embedding, so nothing can embed images for the relation "
                                "supervisor; set rs.enabled: false with sen.kind: classifier")
        return speech.to(device).eval(), None, cfg
    image.load_state_dict(state["image_encoder"])
    return speech.to(device).eval(), image.to(device).eval(), cfg
