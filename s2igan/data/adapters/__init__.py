"""Adapters: the paper's four datasets, read from their original public layouts, and your own.

Each adapter's ``load(root)`` returns the common caption manifest (:mod:`s2igan.data.manifest`),
one row per caption; the layout each expects is documented in its module.

============  =================  ===========================================================
name          kind               module
============  =================  ===========================================================
cub           fine_grained       :mod:`s2igan.data.adapters.cub` (CUB-200-2011 + Reed et al.)
oxford        fine_grained       :mod:`s2igan.data.adapters.oxford` (Oxford-102 + Reed et al.)
flickr8k      scene              :mod:`s2igan.data.adapters.flickr8k` (+ Flickr Audio Captions)
places        scene              :mod:`s2igan.data.adapters.places` (7-class spoken subset)
manifest      either             :mod:`s2igan.data.adapters.own` (your own data: one CSV/JSONL
                                 file; fine-grained with a ``class`` column, scene without)
============  =================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from s2igan.data.adapters import cub, flickr8k, oxford, own, places
from s2igan.io import BadInputError

ADAPTERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "cub": cub.load,
    "oxford": oxford.load,
    "flickr8k": flickr8k.load,
    "places": places.load,
    "manifest": own.load,
}
SEEDED = {"manifest"}   # adapters whose split is drawn (from ``data.seed``) when not given


def load_dataset(name: str, root: str | Path, seed: int = 0) -> pd.DataFrame:
    """The manifest of dataset ``name`` (a key of :data:`ADAPTERS`) found under ``root``;
    ``seed`` draws the split of an adapter in :data:`SEEDED` that has none."""
    if name not in ADAPTERS:
        raise BadInputError(None, f"unknown dataset {name!r}; known: {sorted(ADAPTERS)}")
    root = Path(root)
    if not root.is_dir():
        raise BadInputError(root, f"dataset root for {name!r} does not exist (set data.root to "
                            "the folder holding the dataset in its original layout, or your "
                            "manifest.csv / manifest.jsonl for data.name: manifest)")
    if name in SEEDED:
        return ADAPTERS[name](root, seed=seed)
    return ADAPTERS[name](root)
