"""Evaluation figures: test captions with real and generated images, and the colour-keyword grid
of paper Fig. 7 (the caption text is shown for the reader only; the model hears speech)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import torch

from s2igan.io import atomic_path


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def caption_grid(texts: list[str], real: torch.Tensor, generated: list[torch.Tensor],
                 path: str | Path) -> None:
    """Columns = captions; row 0 the real image, rows 1.. the generated images (uint8 NCHW)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, rows = len(texts), 1 + len(generated)
    fig, axes = plt.subplots(rows, n, figsize=(1.9 * n, 2.0 * rows + 0.9), squeeze=False)
    for j in range(n):
        cells = [real[j]] + [g[j] for g in generated]
        for i, img in enumerate(cells):
            ax = axes[i][j]
            ax.imshow(img.permute(1, 2, 0).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel("real" if i == 0 else f"generated {i}", fontsize=8)
        axes[0][j].set_title("\n".join(textwrap.wrap(texts[j], 22)), fontsize=7)
    _save(fig, Path(path))


def colour_grid(images: np.ndarray, row_colours: list[str], col_colours: list[str],
                path: str | Path, row_label: str = "belly", col_label: str = "wings") -> None:
    """Fig. 7: images (R, C, 3, S, S) uint8 for "a small bird with a <row> belly and <col> wings"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r, c = len(row_colours), len(col_colours)
    fig, axes = plt.subplots(r, c, figsize=(1.6 * c + 0.8, 1.6 * r + 0.8), squeeze=False)
    for i in range(r):
        for j in range(c):
            ax = axes[i][j]
            ax.imshow(np.transpose(images[i, j], (1, 2, 0)))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"{col_colours[j]} {col_label}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{row_colours[i]} {row_label}", fontsize=8)
    fig.suptitle('"a small bird with a <belly colour> belly and <wing colour> wings" (spoken)',
                 fontsize=8)
    _save(fig, Path(path))
