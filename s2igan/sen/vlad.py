"""VLAD pooling of the SEN's BiGRU states: the part of the generator's condition that keeps
which part a colour was said of (our addition; README "The binding is in the SEN's frame
states").

The SEN's self-attention, Eq. (1)-(2), sums the states of a whole utterance into one vector, and
"red" said of the crown lands near "red" said of the wings. Each state also carries its
neighbouring words, so the states themselves keep the binding. VLAD (Jegou et al., CVPR 2010;
NetVLAD, Arandjelovic et al., CVPR 2016) pools them without losing it: k-means on training
states gives K centres (word contexts, no labels); an utterance becomes the K per-centre sums of
its states' residuals, each sum L2-normalised ("intra-normalisation", an empty centre stays 0),
the whole L2-normalised again: K x 2H numbers.

Measured on the committed run's frozen SEN (``scripts/vlad_screen.py``, K 16): a linear probe
reads the part colours of unseen classes from the VLAD at 0.88 / 0.90 / 0.82 (crown / wing /
belly; the pooled embedding 0.86 / 0.73 / 0.70), and for a held-out voice at 0.89 / 0.87 / 0.80.

:class:`SpeechWithVLAD` is what the generator reads when ``dg.condition_vlad`` is on: the pooled
SEN embedding followed by the VLAD, ``(B, E + K * 2H)``; the generator's condition projection
(:mod:`s2igan.rdg.condition`) fits one CCA on each part.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from s2igan.arrays import Ragged
from s2igan.sen.data import pad_batch

FRAMES_PER_CAPTION = 20   # states drawn from each training caption for k-means (our choice)
CENTRE_CAPTIONS = 1500    # ... of at most this many captions: 30,000 states for 16 centres, a
                          # quarter of the SEN passes over SynthBirds' 6,000 (our choice)


def vlad_pool(h: torch.Tensor, steps: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """``h (B, T, D)`` states with ``steps (B,)`` valid steps, ``centres (K, D)`` ->
    ``(B, K * D)``: every valid state assigned to its nearest centre, the residuals ``h_t - c_k``
    summed per centre, each sum L2-normalised (an empty one stays 0), the whole L2-normalised."""
    K, D = centres.shape
    dist = (centres ** 2).sum(1)[None, None, :] - 2 * h @ centres.T          # (B, T, K) + |h|^2
    valid = torch.arange(h.shape[1], device=h.device)[None, :] < steps[:, None].to(h.device)
    assign = F.one_hot(dist.argmin(-1), K).to(h.dtype) * valid[..., None]    # (B, T, K)
    sums = assign.transpose(1, 2) @ h - assign.sum(1)[..., None] * centres    # (B, K, D)
    return F.normalize(F.normalize(sums, dim=-1).reshape(len(h), K * D), dim=-1)


class SpeechWithVLAD(nn.Module):
    """``forward(fbank, lengths) -> (B, E + K * 2H)``: the SEN embedding (``encoder``'s own
    output, Eq. 1-2) followed by the VLAD of its BiGRU states over ``centres (K, 2H)``."""

    def __init__(self, encoder: nn.Module, centres: torch.Tensor):
        super().__init__()
        self.encoder = encoder
        self.register_buffer("centres", centres.detach().clone().float())

    def forward(self, fbank: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h, steps = self.encoder.states(fbank, lengths)
        return torch.cat([self.encoder.pooled(h, steps), vlad_pool(h, steps, self.centres)], 1)


@torch.no_grad()
def sample_states(encoder: nn.Module, fbank: Ragged, per_caption: int = FRAMES_PER_CAPTION,
                  seed: int = 0, batch_size: int = 128,
                  max_captions: int | None = CENTRE_CAPTIONS) -> np.ndarray:
    """``(M, 2H)`` float32: at most ``per_caption`` BiGRU states of every caption of ``fbank``
    (of ``max_captions`` of them drawn at random where there are more; None: all), drawn at
    random (``seed``), for fitting the centres."""
    rng = np.random.default_rng(seed)
    captions = np.arange(len(fbank))
    if max_captions is not None and len(fbank) > max_captions:
        captions = np.sort(rng.choice(len(fbank), max_captions, replace=False))
    was_training = encoder.training
    encoder.eval()
    out = []
    for start in range(0, len(captions), batch_size):
        rows = captions[start:start + batch_size]
        x, lengths = pad_batch(fbank, rows)
        h, steps = encoder.states(x, lengths)
        for i, n in enumerate(steps.tolist()):
            pick = rng.choice(n, min(n, per_caption), replace=False)
            out.append(h[i, np.sort(pick)].float().cpu().numpy())
    encoder.train(was_training)
    return np.concatenate(out)


def fit_centres(states: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """``(k, D)`` float32 k-means centres of ``states (M, D)`` (scikit-learn's mini-batch
    k-means, 3 initialisations)."""
    from sklearn.cluster import MiniBatchKMeans   # here: sklearn takes ~1 s to import

    if len(states) < k:
        raise ValueError(f"dg.condition_vlad: {k} centres need at least {k} states, "
                         f"the training captions give {len(states)}")
    km = MiniBatchKMeans(k, random_state=seed, n_init=3, batch_size=4096).fit(states)
    return km.cluster_centers_.astype(np.float32)
