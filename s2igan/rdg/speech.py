"""The speech encoder trained inside the RDG (``rdg.speech_encoder``; Sec. IV-D3, Table IV).

* ``frozen`` (the paper's S2IGAN, default): no module here; the RDG reads the pretrained SEN's
  precomputed embeddings (``data/embeddings``).
* ``joint`` ("S2IGAN w/o SEN"): a speech encoder built from the ``sen`` config, randomly
  initialised, trained together with the generator by the GAN losses alone: its gradient is that
  of L_D (Eq. 16, through the condition F^ca(y) and D's matching head) plus L_G (Eq. 14, with
  the KL term of Eq. 11 and the other generator terms). Its image side is the pretrained SEN
  image encoder, unchanged: only the speech encoder (SED) forgoes pretraining, as the paper
  writes; the relation supervisor keeps the pretrained image encoder of ``models/sen/best.pt``.
* ``end_to_end`` ("S2IGAN end-to-end"): the SEN of ``models/sen/best.pt`` (speech encoder, image
  encoder and the distinctive classifier) trained on L_D + L_G + ``rdg.sen_weight`` * L_SEN,
  L_SEN = matching (Eq. 6) + distinctive (Eq. 7), Eq. (8), on the batch's captions and the
  cached backbone features of their images. The paper adds "the loss function for training
  SEN" without a weight: ``sen_weight`` 1. ``sen.feature_regression`` (our addition to the
  `sen` stage) is not part of this L_SEN: the paper's Eq. (8) is.

The encoder is saved beside the generator as a SEN checkpoint (``speech_encoder.pt``, loadable
with :func:`s2igan.sen.checkpoint.load_sen`), its EMA with the generator's decay, so that the
EMA generator is always paired with an encoder averaged over the same steps.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from s2igan.config import from_dict, to_dict
from s2igan.io import BadInputError
from s2igan.sen.checkpoint import build_encoders, load_state
from s2igan.sen.config import SENConfig
from s2igan.sen.train import batch_losses


class SpeechSide(nn.Module):
    """``forward(fbank (B, T, n_mels), lengths (B,)) -> (B, E)`` speech embeddings, plus (for
    ``end_to_end``) the SEN's own objective on a batch, :meth:`sen_losses`."""

    def __init__(self, mode: str, cfg: SENConfig, dims: dict[str, int], speech: nn.Module,
                 image: nn.Module, classifier: nn.Module | None):
        super().__init__()
        self.mode, self.cfg, self.dims = mode, cfg, dict(dims)
        self.speech, self.image, self.classifier = speech, image, classifier
        if mode == "joint":          # the image side stays the pretrained one (not trained)
            self.image.requires_grad_(False)

    @property
    def embed_dim(self) -> int:
        return int(self.cfg.embed_dim)

    def forward(self, fbank: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.speech(fbank, lengths)  # (B, E), L2-normalised

    def trainable(self) -> list[nn.Parameter]:
        """What the RDG's speech optimiser updates: the speech encoder (joint), the whole SEN
        (end_to_end)."""
        mods = [self.speech] if self.mode == "joint" else [self.speech, self.image,
                                                           self.classifier]
        return [p for m in mods if m is not None for p in m.parameters()]

    def sen_losses(self, y: torch.Tensor, features: torch.Tensor, keys: torch.Tensor,
                   labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Eq. (8) (Eq. 9 without a classifier) on one batch, as the `sen` stage computes it:
        ``y (B, E)`` speech embeddings, ``features (B, D)`` their images' backbone features,
        ``keys (B,)`` class (fine-grained) or image (scene) of each pair, ``labels (B,)``."""
        return batch_losses(self.cfg, y, features, keys, labels, self.image, self.classifier)

    def checkpoint(self) -> dict:
        """A SEN checkpoint dict (:mod:`s2igan.sen.checkpoint` keys) of this encoder."""
        return {"speech_encoder": self.speech.state_dict(),
                "image_encoder": self.image.state_dict(),
                "classifier": None if self.classifier is None else self.classifier.state_dict(),
                "config": to_dict(self.cfg), "dims": dict(self.dims),
                "trained_by": f"rdg.speech_encoder: {self.mode}"}


def build_speech_side(mode: str, sen_cfg: SENConfig | None, n_mels: int, feat_dim: int,
                      n_classes: int, sen_checkpoint: str | Path) -> SpeechSide:
    """The trainable speech side of ``rdg.speech_encoder`` ``mode`` (joint / end_to_end).

    joint: the speech encoder of ``sen_cfg`` (params ``sen``), freshly initialised from the
    current torch seed; the image encoder of ``sen_checkpoint`` (the pretrained SEN). end_to_end:
    every part of ``sen_checkpoint`` (its own config); ``n_classes`` training classes must match
    its classifier."""
    state = load_state(sen_checkpoint)
    saved = from_dict(SENConfig, state["config"], "SEN checkpoint config")
    if mode == "joint":
        if sen_cfg is None:
            raise ValueError("rdg.speech_encoder: joint builds its encoder from the sen config")
        cfg = sen_cfg
        if saved.embed_dim != cfg.embed_dim or state["dims"]["feat_dim"] != feat_dim:
            raise BadInputError(sen_checkpoint, f"its image encoder gives {saved.embed_dim}-d "
                                f"embeddings of {state['dims']['feat_dim']}-d features; the sen "
                                f"config asks for {cfg.embed_dim}-d (re-run the sen stage)")
    else:
        cfg = saved
    if cfg.kind != "s2igan" or saved.kind != "s2igan":
        raise BadInputError(sen_checkpoint, f"rdg.speech_encoder: {mode} trains the S2IGAN "
                            f"speech encoder (sen.kind: s2igan), not sen.kind: {cfg.kind}")
    dims = {"feat_dim": int(feat_dim), "n_mels": int(n_mels), "n_classes": 0}
    speech, image = build_encoders(cfg, dims)
    image.load_state_dict(state["image_encoder"])
    classifier = None
    if mode == "end_to_end":
        if int(state["dims"]["n_mels"]) != n_mels:
            raise BadInputError(sen_checkpoint, f"trained on {state['dims']['n_mels']} mel "
                                f"bins, the filterbanks have {n_mels}")
        speech.load_state_dict(state["speech_encoder"])
        if state.get("classifier") is not None:
            if int(state["dims"]["n_classes"]) != n_classes:
                raise BadInputError(sen_checkpoint, f"its classifier knows "
                                    f"{state['dims']['n_classes']} classes, the training split "
                                    f"has {n_classes}")
            classifier = nn.Linear(cfg.embed_dim, n_classes)
            classifier.load_state_dict(state["classifier"])
            dims["n_classes"] = int(n_classes)
    return SpeechSide(mode, cfg, dims, speech, image, classifier)
