"""t-SNE of speech embeddings coloured by class (the paper's Fig. 9)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from s2igan.io import atomic_path


def plot_tsne(embeddings: np.ndarray, labels: np.ndarray, path: str | Path,
              max_classes: int = 10, max_points: int = 2000, seed: int = 0,
              title: str = "SEN speech embeddings (test)") -> None:
    """2-D t-SNE of up to ``max_points`` embeddings of up to ``max_classes`` random classes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) > max_classes:
        classes = np.sort(rng.choice(classes, size=max_classes, replace=False))
    rows = np.flatnonzero(np.isin(labels, classes))
    if len(rows) > max_points:
        rows = np.sort(rng.choice(rows, size=max_points, replace=False))
    fig, ax = plt.subplots(figsize=(6, 6))
    if len(rows) >= 5:
        perplexity = float(min(30, (len(rows) - 1) / 3))
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed
                  ).fit_transform(np.asarray(embeddings[rows], np.float64))
        cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
        for i, c in enumerate(classes):
            sel = labels[rows] == c
            ax.scatter(xy[sel, 0], xy[sel, 1], s=8, color=cmap(i % cmap.N), label=str(c))
        ax.legend(title="class", fontsize=7, markerscale=2, loc="best")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
