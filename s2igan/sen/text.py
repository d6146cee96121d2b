"""The two-stage baseline's text encoder (``sen.kind: text``; Li et al., Table II: speech ->
ASR -> text -> text encoder -> the same generator) and its token data.

TextEncoder: word ids ``(B, T)`` -> word embeddings ``(B, T, word_dim)`` -> bidirectional GRU
(``sen.gru_layers`` layers of ``sen.gru_hidden`` per direction, as the speech encoder's) over
the real lengths -> the speech encoder's self-attention pooling, Eq. (1)-(2)
(:func:`s2igan.sen.model.attention_pool`) -> L2-normalised ``2 * gru_hidden`` = ``embed_dim``
vector. It is trained exactly as the S2IGAN speech encoder (matching loss Eq. 3-6 with beta and
the same-class mask M, plus the distinctive loss Eq. 7; :func:`s2igan.sen.train.batch_losses`)
on the ground-truth training captions, against the same image encoder.

Tokens travel through the SEN's data path as a one-column :class:`~s2igan.arrays.Ragged` of
word ids stored as float32 (exact below 2**24), in place of the filterbanks: batching, the
validation carve-out, training, evaluation and :func:`s2igan.sen.evaluate.embed_speech` run
unchanged on it. Id 0 is padding, 1 is ``<unk>`` (a word outside the vocabulary, or the whole
of an empty text, e.g. a clip the recogniser heard nothing in).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from s2igan.arrays import Ragged
from s2igan.asr.wer import words
from s2igan.io import BadInputError
from s2igan.sen.config import SENConfig
from s2igan.sen.model import add_recurrent_pooling, recurrent_pool

PAD, UNK = "<pad>", "<unk>"


def build_vocab(texts: Iterable[str], min_count: int = 1) -> list[str]:
    """``[<pad>, <unk>, words...]``: the words of ``texts`` seen ``min_count`` times or more, most
    frequent first (ties alphabetical), so the list is the same for the same captions."""
    counts = Counter(w for t in texts for w in words(t))
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return [PAD, UNK, *kept]


def token_ids(text: str, vocab_index: Mapping[str, int]) -> np.ndarray:
    """``(T, 1)`` float32 word ids of ``text``; unknown words -> ``<unk>``; an empty text ->
    one ``<unk>`` (the encoder needs one step)."""
    ids = [vocab_index.get(w, 1) for w in words(text)] or [1]
    return np.asarray(ids, np.float32)[:, None]


def tokens(texts: list[str], index: pd.DataFrame, vocab: list[str]) -> Ragged:
    """One-column Ragged of the word ids of ``texts`` (aligned with ``index``)."""
    lookup = {w: i for i, w in enumerate(vocab)}
    return Ragged.from_list([token_ids(t, lookup) for t in texts], index)


def caption_texts(ids: pd.Series, texts: Mapping[str, str], where: str) -> list[str]:
    """The text of every caption id (:class:`BadInputError` naming ``where`` if one has none)."""
    out = []
    for cid in ids.astype(str):
        text = texts.get(cid)
        if text is None or (isinstance(text, float) and np.isnan(text)):
            raise BadInputError(where, f"caption {cid!r} has no text: sen.kind: text needs a "
                                "text for every spoken caption")
        out.append(str(text))
    return out


class TextEncoder(nn.Module):
    """``forward(ids (B, T) or (B, T, 1), lengths (B,)) -> (B, embed_dim)`` L2-normalised.
    ``vocab`` (the word list, ids = positions) travels with the checkpoint."""

    def __init__(self, cfg: SENConfig, vocab_size: int, vocab: list[str] | None = None):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.text.word_dim, padding_idx=0)
        dim = add_recurrent_pooling(self, cfg.text.word_dim, cfg)
        self.proj = None                 # as SpeechEncoder without out_dim
        self.output_dim = dim
        self.vocab = list(vocab) if vocab is not None else None

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if ids.dim() == 3:                     # (B, T, 1): the Ragged token layout
            ids = ids[..., 0]
        ids = ids.round().long()               # (B, T)
        steps = lengths.to(ids.device).long().clamp(min=1, max=ids.shape[1])  # (B,)
        ids = ids[:, :int(steps.max())]
        return F.normalize(recurrent_pool(self, self.embed(ids), steps), dim=-1)  # (B, 2H)

    def token_arrays(self, texts: list[str]) -> list[np.ndarray]:
        """``(T_i, 1)`` id arrays of ``texts`` in this encoder's vocabulary: what
        :func:`s2igan.speech.frontend.embed_fbanks` takes in place of filterbanks."""
        if self.vocab is None:
            raise ValueError("this TextEncoder has no vocabulary")
        lookup = {w: i for i, w in enumerate(self.vocab)}
        return [token_ids(t, lookup) for t in texts]
