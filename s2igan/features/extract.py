"""Image feature cache (Sec. III-B, image encoder input): every manifest image -> one pooled
backbone feature vector, computed once, plus the real-image FID statistics (Eq. 19).

Layout written into the output directory (CONTRACT.md, ``data/features/``):

* ``<split>.npy`` float32 ``(n_images, dim)`` + ``<split>.ids.parquet`` (``id`` = image_id,
  ``class_id``), one pair per split present in the manifest (:func:`s2igan.arrays.save_vectors`);
* ``backbone.json``: ``{"backbone", "weights", "dim", "input_size", "fid_split", "fid_n"}``;
* ``fid_<split>_mu.npy`` (dim,) and ``fid_<split>_sigma.npy`` (dim, dim), float64: mean and
  covariance of the real test images' features, for FID against generated images.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm import tqdm

from s2igan.arrays import save_vectors
from s2igan.config import at_least
from s2igan.data import manifest as mf
from s2igan.data.images import load_image, to_float
from s2igan.device import resolve_device
from s2igan.features.backbones import Backbone, load_backbone
from s2igan.io import read_json, write_json
from s2igan.metrics.fid import gaussian_stats


@dataclass(frozen=True)
class FeaturesConfig:
    backbone: str = "efficientnet_lite0"  # efficientnet_lite0 | inception_v3
    weights: str | None = None  # explicit weights file (inception_v3); None = default location
    batch_size: int = 32
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 2  # torch CPU threads
    fid_split: str = "test"  # real images whose feature statistics FID compares against

    def __post_init__(self) -> None:
        at_least("features.batch_size", self.batch_size, 1)
        at_least("features.threads", self.threads, 1)


@torch.no_grad()
def image_features(backbone: Backbone, images: pd.DataFrame, batch_size: int,
                   device: torch.device, desc: str = "features") -> np.ndarray:
    """Features ``(n, dim)`` float32 of the rows of an image table (``image_path``, ``bbox``)."""
    size = backbone.input_size
    paths, boxes = list(images["image_path"]), list(images["bbox"])
    starts = range(0, len(paths), batch_size)

    def load_batch(start: int) -> torch.Tensor:  # (B, 3, size, size) in [-1, 1]
        stop = start + batch_size
        return to_float(torch.stack([
            torch.from_numpy(load_image(p, size, b, Image.Resampling.BILINEAR)).permute(2, 0, 1)
            for p, b in zip(paths[start:stop], boxes[start:stop])]))

    out = np.zeros((len(paths), backbone.dim), np.float32)
    # Decode the next batches in background threads (PIL releases the GIL) while the network runs.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for start, batch in zip(starts, tqdm(pool.map(load_batch, starts), total=len(starts),
                                             desc=desc, unit="batch")):
            feats = backbone(batch.to(device))  # (B, dim)
            out[start:start + len(batch)] = feats.float().cpu().numpy()
    return out


def extract_all(manifest_path: str | Path, out_dir: str | Path, cfg: FeaturesConfig) -> dict:
    """Cache the features of every image of the manifest into ``out_dir``; returns metrics."""
    torch.set_num_threads(cfg.threads)
    frame = mf.read(manifest_path)
    table = mf.images(frame)
    device = resolve_device(cfg.device)
    backbone = load_backbone(cfg.backbone, cfg.weights).to(device)
    out_dir = Path(out_dir)
    metrics: dict[str, float | int | str] = {"dim": backbone.dim}
    t0 = time.perf_counter()
    fid_feats = None
    for split in [s for s in mf.SPLITS if s in set(table["split"])]:
        rows = table[table["split"] == split].reset_index(drop=True)
        feats = image_features(backbone, rows, cfg.batch_size, device, desc=f"features {split}")
        index = pd.DataFrame({"id": rows["image_id"].astype(str),
                              "class_id": rows["class_id"].astype(np.int64)})
        save_vectors(out_dir, split, index, feats)
        metrics[f"{split}/images"] = len(rows)
        if split == cfg.fid_split:
            fid_feats = feats
    meta = {"backbone": backbone.name, "weights": backbone.weights_id, "dim": backbone.dim,
            "input_size": backbone.input_size, "crop": "bbox 1.5x longer side (CUB) else full",
            "resize": "PIL bilinear (antialiased) to input_size"}
    if fid_feats is not None:
        mu, sigma = gaussian_stats(fid_feats)
        for name, arr in (("mu", mu), ("sigma", sigma)):
            np.save(out_dir / f"fid_{cfg.fid_split}_{name}.npy", arr, allow_pickle=False)
        meta.update(fid_split=cfg.fid_split, fid_n=int(len(fid_feats)))
    write_json(out_dir / "backbone.json", meta)
    metrics["time/extract_seconds"] = round(time.perf_counter() - t0, 2)
    metrics["backbone"] = backbone.name
    return metrics


def read_backbone_info(features_dir: str | Path) -> dict:
    """``backbone.json`` of a features directory: the backbone every later stage must use."""
    return read_json(Path(features_dir) / "backbone.json")


def load_features_backbone(features_dir: str | Path, weights: str | Path | None = None
                           ) -> Backbone:
    """The backbone that computed ``features_dir`` (named in its ``backbone.json``); the
    weights file path, when the backbone needs one, comes from the caller (params)."""
    return load_backbone(read_backbone_info(features_dir)["backbone"], weights)
