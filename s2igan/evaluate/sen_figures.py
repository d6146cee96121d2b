"""Two figures of the speech side that the papers show, drawn by the `evaluate` stage:

* the interpolation between the speech embeddings of two captions of different classes, with
  the noise fixed (Li et al., Fig. 5): what the generator does between two descriptions;
* the SEN's self-attention weights, Eq. (1), under the filterbank of a spoken caption: which
  parts of the utterance the pooled embedding listens to.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from s2igan.evaluate.figures import attention_over_fbank, interpolation_grid
from s2igan.rdg.generator import Generator
from s2igan.rdg.sampling import fixed_noise, generate
from s2igan.speech.frontend import pad_fbanks


def interpolate(ya: torch.Tensor, yb: torch.Tensor, ts: list[float]) -> torch.Tensor:
    """``normalize((1 - t) y_a + t y_b)`` for each ``t`` -> ``(len(ts), E)``: the SEN's
    embeddings are unit vectors, and so is every point of the path."""
    t = torch.tensor(ts, dtype=ya.dtype)[:, None]
    return F.normalize((1 - t) * ya[None] + t * yb[None], dim=-1)


def interpolation_figure(g: Generator, speech: torch.Tensor, texts: list[str],
                         pairs: list[tuple[int, int]], seed: int, path: Path,
                         steps: int = 7) -> Path:
    """Rows = ``pairs`` of rows of ``speech (N, E)`` (captions ``texts``); one noise for all."""
    ts = list(np.linspace(0.0, 1.0, steps))
    y = torch.cat([interpolate(speech[a], speech[b], ts) for a, b in pairs])
    z = fixed_noise(1, g.cfg.z_dim, seed).repeat(len(y), 1)
    images = generate(g, y, z).numpy()
    interpolation_grid(images.reshape(len(pairs), steps, *images.shape[1:]),
                       [(texts[a], texts[b]) for a, b in pairs], ts, path)
    return path


def frame_centres(encoder, n_steps: int) -> np.ndarray:
    """The filterbank frame at the centre of each GRU step's receptive field (two strided
    convolutions of kernel k and stride s: step i covers frames from s * s * i)."""
    k, s = encoder.kernel, encoder.stride
    return s * (s * np.arange(n_steps) + (k - 1) / 2) + (k - 1) / 2


def attention_figure(encoder, fbank: np.ndarray, text: str, path: Path) -> Path:
    """Eq. (1) weights of ``encoder`` (a :class:`~s2igan.sen.model.SpeechEncoder`) for one
    filterbank ``(T, C)``, drawn under it."""
    x, lengths = pad_fbanks([fbank])
    device = next(encoder.parameters()).device
    with torch.no_grad():
        w = encoder.eval().attention(x.to(device), lengths.to(device))[0].float().cpu().numpy()
    attention_over_fbank(fbank, frame_centres(encoder, len(w)), w, text, path)
    return path
