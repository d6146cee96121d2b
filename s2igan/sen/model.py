"""The SEN dual encoder (Sec. III-B, Fig. 3): speech encoder (SED) and image encoder (IED).

SpeechEncoder: log-mel filterbanks ``(B, T, 40)`` -> two 1-D convolutions (40 -> 64 -> 128
channels, kernel 6, stride 2, no padding, each followed by batch norm; the official code has no
non-linearity between them and neither do we) -> two-layer bidirectional GRU (512 per direction)
over the real lengths only -> additive self-attention pooling, Eq. (1)-(2) -> L2-normalised
1024-d ``y``.

Eq. (1): ``w_t = softmax_t(W2 tanh(W1 h_t + b1) + b2)`` with W1 of 128 units and W2 of 1024 units
(one attention weight per time step AND channel), softmax over time; Eq. (2):
``y = sum_t w_t * h_t``.
Difference from the official code: its softmax also runs over the zero-padded GRU outputs of
shorter utterances in a batch, so an embedding depends on the batch it is computed in; here
padded steps are masked out before the softmax, so a padded utterance gives the same embedding as
the utterance alone.

ImageEncoder: cached backbone feature ``(B, D)`` -> Linear -> L2-normalised 1024-d ``x``.

Other systems (``sen.kind``, README "Systems"): ``teacher_student`` (Li et al.) gives the speech
encoder ``out_dim`` = the backbone's feature size, a linear layer after the pooling, and no L2
normalisation (it regresses the raw feature, Li's Eq. 8; Li's RNN outputs GoogLeNet's 1024-d
directly, ours maps 2 x gru_hidden to the backbone's size, 1280 for EfficientNet-Lite0); its image
side is :class:`TeacherImageEncoder`, the backbone feature itself. ``classifier`` uses the
S2IGAN speech encoder as it is and has no image side.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from s2igan.sen.config import SENConfig
from s2igan.sen.gru import bigru


def recurrent(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor, impl: str = "auto"
              ) -> torch.Tensor:
    """The bidirectional ``gru`` over ``x (B, T, I)`` with real ``lengths (B,)`` -> ``(B, T, 2H)``
    (zeros at padded steps). ``impl`` (``sen.gru_impl``): ``auto`` = cuDNN on a GPU; without
    gradients (embedding) PyTorch's fused CPU kernel is the faster one; for training on a CPU,
    the fast scan of :mod:`s2igan.sen.gru`."""
    if impl == "auto":
        impl = "torch" if x.is_cuda or not torch.is_grad_enabled() else "fast"
    if impl == "fast":
        return bigru(x, lengths, gru)  # (B, T, 2H)
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, _ = pad_packed_sequence(gru(packed)[0], batch_first=True, total_length=x.shape[1])
    return out  # (B, T, 2H)


def attention_weights(h: torch.Tensor, steps: torch.Tensor, w1: nn.Linear, w2: nn.Linear
                      ) -> torch.Tensor:
    """Eq. (1): ``w_t = softmax_t(W2 tanh(W1 h_t + b1) + b2)`` over the ``steps (B,)`` valid steps
    of ``h (B, T, D)`` (padded steps get 0) -> ``(B, T, D)``, one weight per step and channel."""
    scores = w2(torch.tanh(w1(h)))  # (B, T, D), Eq. (1) logits
    valid = torch.arange(h.shape[1], device=h.device)[None, :] < steps[:, None]  # (B, T)
    scores = scores.masked_fill(~valid.unsqueeze(-1), float("-inf"))
    return torch.softmax(scores, dim=1)  # over time


def attention_pool(h: torch.Tensor, steps: torch.Tensor, w1: nn.Linear, w2: nn.Linear
                   ) -> torch.Tensor:
    """Eq. (1)-(2): ``y = sum_t w_t * h_t`` -> ``(B, D)`` with the weights of
    :func:`attention_weights`."""
    return (attention_weights(h, steps, w1, w2) * h).sum(dim=1)  # (B, D), Eq. (2)


def add_recurrent_pooling(module: nn.Module, in_dim: int, cfg: SENConfig) -> int:
    """Give ``module`` the two-layer BiGRU and the attention of Eq. (1)-(2) as ``gru``,
    ``att_w1``, ``att_w2`` (the checkpoints' key names), created and initialised in this order;
    returns the pooled size ``2 * gru_hidden``. Shared by the speech and the text encoder."""
    module.gru = nn.GRU(in_dim, cfg.gru_hidden, cfg.gru_layers, batch_first=True,
                        bidirectional=True)
    dim = 2 * cfg.gru_hidden
    module.att_w1 = nn.Linear(dim, cfg.att_hidden)  # Eq. (1), W1, b1
    module.att_w2 = nn.Linear(cfg.att_hidden, dim)  # Eq. (1), W2, b2
    nn.init.orthogonal_(module.att_w1.weight)
    module.gru_impl = cfg.gru_impl
    return dim


def recurrent_pool(module: nn.Module, x: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """``x (B, T, I)`` with ``steps (B,)`` valid steps -> the module's BiGRU -> Eq. (1)-(2)
    pooling -> ``(B, 2H)`` (not normalised)."""
    h = recurrent(module.gru, x, steps, module.gru_impl)  # (B, T, 2H)
    return attention_pool(h, steps, module.att_w1, module.att_w2)


class SpeechEncoder(nn.Module):
    """``forward(fbank (B, T, n_mels), lengths (B,)) -> (B, embed_dim)`` L2-normalised; with
    ``out_dim``: ``(B, out_dim)``, a linear map of the pooled vector, not normalised."""

    def __init__(self, cfg: SENConfig = SENConfig(), n_mels: int = 40,
                 out_dim: int | None = None):
        super().__init__()
        c1, c2 = cfg.conv_channels
        self.kernel, self.stride = cfg.conv_kernel, cfg.conv_stride
        self.conv1 = nn.Conv1d(n_mels, c1, self.kernel, self.stride)
        self.bn1 = nn.BatchNorm1d(c1)
        self.conv2 = nn.Conv1d(c1, c2, self.kernel, self.stride)
        self.bn2 = nn.BatchNorm1d(c2)
        dim = add_recurrent_pooling(self, c2, cfg)
        self.n_mels = n_mels
        # teacher_student: pooled (2H) -> the teacher's feature size (created last, so that the
        # default encoder draws its initial weights exactly as before)
        self.proj = nn.Linear(dim, out_dim) if out_dim else None
        self.output_dim = out_dim or dim          # size of the speech embedding

    @property
    def min_frames(self) -> int:
        """Fewest input frames that give one GRU step after both convolutions."""
        return self.kernel + (self.kernel - 1) * self.stride

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """GRU steps per utterance after the two unpadded strided convolutions."""
        for _ in range(2):
            lengths = torch.div(lengths - self.kernel, self.stride, rounding_mode="floor") + 1
        return lengths.clamp(min=1)

    def _convolved(self, fbank: torch.Tensor, lengths: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """The two convolutions: ``(B, T2, 128)`` features and their ``(B,)`` valid steps."""
        B, T, _ = fbank.shape
        if T < self.min_frames:  # very short clips: zero-pad so the convolutions have one output
            fbank = F.pad(fbank, (0, 0, 0, self.min_frames - T))
        lengths = lengths.to(fbank.device).long()
        x = self.bn1(self.conv1(fbank.transpose(1, 2)))  # (B, 64, T1)
        x = self.bn2(self.conv2(x)).transpose(1, 2)  # (B, T2, 128)
        steps = self.output_lengths(lengths).clamp(max=x.shape[1])  # (B,)
        return x[:, :int(steps.max())], steps  # frames beyond the longest utterance carry nothing

    def states(self, fbank: torch.Tensor, lengths: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The BiGRU states ``h (B, T2, 2H)`` the pooling of Eq. (1)-(2) sums (zeros beyond
        each utterance) and their ``(B,)`` valid steps (one step covers ``stride^2`` filterbank
        frames)."""
        x, steps = self._convolved(fbank, lengths)
        return recurrent(self.gru, x, steps, self.gru_impl), steps

    def attention(self, fbank: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The Eq. (1) weights ``(B, T2, D)`` the pooling puts on each GRU step, for drawing
        over the filterbank."""
        h, steps = self.states(fbank, lengths)
        return attention_weights(h, steps, self.att_w1, self.att_w2)

    def pooled(self, h: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        """The speech embedding of :meth:`states`' output (what :meth:`forward` returns)."""
        y = attention_pool(h, steps, self.att_w1, self.att_w2)  # (B, 2H), Eq. (1)-(2)
        if self.proj is not None:
            return self.proj(y)  # (B, out_dim) teacher_student: the backbone's feature space
        return F.normalize(y, dim=-1)

    def forward(self, fbank: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.pooled(*self.states(fbank, lengths))


class ImageEncoder(nn.Module):
    """``forward(features (B, D)) -> (B, embed_dim)``: one linear layer, L2-normalised."""

    def __init__(self, feat_dim: int, embed_dim: int = 1024):
        super().__init__()
        self.linear = nn.Linear(feat_dim, embed_dim)
        self.feat_dim = feat_dim

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(features), dim=-1)  # (B, embed_dim)


class TeacherImageEncoder(nn.Module):
    """The image side of ``sen.kind: teacher_student``: the frozen backbone feature ``(B, D)``
    itself (Li et al.'s teacher, Eq. 3), no parameters."""

    def __init__(self, feat_dim: int):
        super().__init__()
        self.feat_dim = feat_dim

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features  # (B, D)
