"""Adapters: the paper's four datasets, read from their original public layouts.

Each adapter's ``load(root)`` returns the common caption manifest (:mod:`s2igan.data.manifest`),
one row per caption; the layout each expects is documented in its module.

============  =================  ===========================================================
name          kind               module
============  =================  ===========================================================
cub           fine_grained       :mod:`s2igan.data.adapters.cub` (CUB-200-2011 + Reed et al.)
oxford        fine_grained       :mod:`s2igan.data.adapters.oxford` (Oxford-102 + Reed et al.)
flickr8k      scene              :mod:`s2igan.data.adapters.flickr8k` (+ Flickr Audio Captions)
places        scene              :mod:`s2igan.data.adapters.places` (7-class spoken subset)
============  =================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from s2igan.data.adapters import cub, flickr8k, oxford, places
from s2igan.io import BadInputError

ADAPTERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "cub": cub.load,
    "oxford": oxford.load,
    "flickr8k": flickr8k.load,
    "places": places.load,
}


def load_dataset(name: str, root: str | Path) -> pd.DataFrame:
    """The manifest of dataset ``name`` (a key of :data:`ADAPTERS`) found under ``root``."""
    if name not in ADAPTERS:
        raise BadInputError(None, f"unknown dataset {name!r}; known: {sorted(ADAPTERS)}")
    root = Path(root)
    if not root.is_dir():
        raise BadInputError(root, f"dataset root for {name!r} does not exist (set data.root to "
                            "the folder holding the dataset in its original layout)")
    return ADAPTERS[name](root)
