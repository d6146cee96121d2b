"""Evaluation figures: test captions with real and generated images, the colour-keyword grid
of paper Fig. 7 (the caption text is shown for the reader only; the model hears speech), the
interpolation grid of Li et al. Fig. 5 and the SEN attention under a filterbank."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import torch

from s2igan.io import atomic_path


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (imported when a figure is drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)


def _show(ax, image) -> None:
    """One grid cell: a (3, S, S) uint8 image (array or tensor), no ticks."""
    ax.imshow(np.transpose(np.asarray(image), (1, 2, 0)))
    ax.set_xticks([])
    ax.set_yticks([])


def caption_grid(texts: list[str], real: torch.Tensor, generated: list[torch.Tensor],
                 path: str | Path, row_labels: list[str] | None = None) -> None:
    """Columns = captions; row 0 the real image, rows 1.. the generated images (uint8 NCHW),
    labelled ``row_labels`` (default "generated 1", ...)."""
    plt = _pyplot()
    n, rows = len(texts), 1 + len(generated)
    fig, axes = plt.subplots(rows, n, figsize=(1.9 * n, 2.0 * rows + 0.9), squeeze=False)
    for j in range(n):
        cells = [real[j]] + [g[j] for g in generated]
        for i, img in enumerate(cells):
            ax = axes[i][j]
            _show(ax, img)
            if j == 0:
                label = row_labels[i - 1] if row_labels and i else f"generated {i}"
                ax.set_ylabel("real" if i == 0 else label, fontsize=8)
        axes[0][j].set_title("\n".join(textwrap.wrap(texts[j], 22)), fontsize=7)
    _save(fig, Path(path))


def colour_grid(images: np.ndarray, row_colours: list[str], col_colours: list[str],
                path: str | Path, row_label: str = "belly", col_label: str = "wings") -> None:
    """Fig. 7: images (R, C, 3, S, S) uint8 for "a small bird with a <row> belly and <col> wings"."""
    plt = _pyplot()
    r, c = len(row_colours), len(col_colours)
    fig, axes = plt.subplots(r, c, figsize=(1.6 * c + 0.8, 1.6 * r + 0.8), squeeze=False)
    for i in range(r):
        for j in range(c):
            ax = axes[i][j]
            _show(ax, images[i, j])
            if i == 0:
                ax.set_title(f"{col_colours[j]} {col_label}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{row_colours[i]} {row_label}", fontsize=8)
    fig.suptitle('"a small bird with a <belly colour> belly and <wing colour> wings" (spoken)',
                 fontsize=8)
    _save(fig, Path(path))


def interpolation_grid(rows: np.ndarray, ends: list[tuple[str, str]], ts: list[float],
                       path: str | Path) -> None:
    """Li et al. Fig. 5: ``rows (P, K, 3, S, S)`` uint8, row p generated from the speech
    embeddings between caption A and caption B of ``ends[p]`` at the mixing weights ``ts``."""
    plt = _pyplot()
    p, k = rows.shape[:2]
    fig, axes = plt.subplots(p, k, figsize=(1.5 * k, 1.9 * p + 0.4), squeeze=False)
    for i in range(p):
        for j in range(k):
            ax = axes[i][j]
            _show(ax, rows[i, j])
            if i == 0:
                ax.set_title(f"t = {ts[j]:.2f}", fontsize=7)
        a, b = ends[i]
        axes[i][0].set_xlabel("\n".join(textwrap.wrap(f"A: {a}", 24)), fontsize=6)
        axes[i][-1].set_xlabel("\n".join(textwrap.wrap(f"B: {b}", 24)), fontsize=6)
    fig.suptitle("speech embedding normalize((1 - t) y_A + t y_B), fixed noise", fontsize=8)
    _save(fig, Path(path))


def attention_over_fbank(fbank: np.ndarray, frames: np.ndarray, weights: np.ndarray, text: str,
                         path: str | Path) -> None:
    """The SEN's Eq. (1) attention drawn under the caption's filterbank ``(T, C)``: ``weights``
    ``(N, D)`` per GRU step and channel at filterbank frame ``frames (N,)``; the channel mean and
    the band between the 10th and 90th channel percentile."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.2), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    top.imshow(fbank.T, origin="lower", aspect="auto", cmap="magma",
               extent=(0, len(fbank), 0, fbank.shape[1]))
    top.set_ylabel("mel channel")
    top.set_title("\n".join(textwrap.wrap(f'"{text}"', 90)), fontsize=8)
    lo, hi = np.percentile(weights, [10, 90], axis=1)
    bottom.fill_between(frames, lo, hi, color="C0", alpha=0.25, label="10-90 % of channels")
    bottom.plot(frames, weights.mean(axis=1), color="C0", label="mean over channels")
    bottom.axhline(1.0 / len(frames), color="grey", lw=0.8, ls="--", label="uniform")
    bottom.set_xlabel("filterbank frame (10 ms)")
    bottom.set_ylabel("attention weight")
    bottom.legend(fontsize=7, loc="upper right")
    _save(fig, Path(path))
