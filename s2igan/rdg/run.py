"""Wiring of the `rdg` stage: files in, trained generator out (library side of stages/rdg.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from s2igan.arrays import load_vectors
from s2igan.data import manifest as mf
from s2igan.data.images import load_images
from s2igan.device import resolve_device
from s2igan.features.extract import load_features_backbone
from s2igan.rdg.config import DGConfig, RDGConfig, RSConfig
from s2igan.rdg.data import build_train_data, image_embeddings_from_file
from s2igan.rdg.relation import ImageEmbedder, embed_images
from s2igan.rdg.train import SampleSpec, train_rdg
from s2igan.sen.checkpoint import load_sen


def eval_split(frame) -> str:
    splits = set(frame["split"])
    return next(s for s in ("test", "val", "train") if s in splits)


def sample_captions(frame, embeddings_dir: Path, k: int, size: int) -> SampleSpec:
    """``k`` fixed captions of the evaluation split, one per class first (first caption of the
    first image of each class), with their speech embeddings and real images."""
    split = eval_split(frame)
    index, speech = load_vectors(embeddings_dir, f"{split}_speech")
    index = index.reset_index(drop=True)
    index["row"] = np.arange(len(index))
    first = index.sort_values("id").drop_duplicates("image_id")
    picks = first.drop_duplicates("class_id")
    if len(picks) < k:
        picks = pd.concat([picks, first.loc[~first.index.isin(picks.index)]])
    picks = picks.head(k)
    table = mf.images(frame).set_index("image_id").loc[picks["image_id"]].reset_index()
    real = load_images(table, (size,), desc="load sample images")[0]
    return SampleSpec(torch.from_numpy(np.asarray(speech)[picks["row"].to_numpy()]).float(), real)


def make_embedder(sen_dir: Path, features_dir: Path, weights: str | None,
                  input_size: int = 0) -> ImageEmbedder:
    """Backbone (the one of ``features_dir/backbone.json``) + SEN image encoder; ``input_size``
    > 0 resizes images to that size instead of the backbone's own (``rs.input_size``: a 64 px
    image costs 1/12 of a 224 px pass)."""
    _, image_encoder, _ = load_sen(Path(sen_dir) / "best.pt")
    net = load_features_backbone(features_dir, weights)
    if input_size:
        net.input_size = int(input_size)
    return ImageEmbedder(net, image_encoder)


def train_from_paths(prepared: Path, embeddings: Path, features: Path, sen_dir: Path,
                     model_dir: Path, report_dir: Path, dg: DGConfig, rs: RSConfig,
                     rdg: RDGConfig, weights: str | None = None,
                     log_step: Callable[[dict, int], None] | None = None) -> dict:
    frame = mf.read(prepared / "manifest.parquet")
    fine_grained = frame.attrs.get("kind", "fine_grained") == "fine_grained"
    data = build_train_data(frame, embeddings, "train", tuple(dg.image_sizes))
    embedder = None
    if rs.enabled:
        embedder = make_embedder(sen_dir, features, weights, rs.input_size).to(
            resolve_device(rdg.device))
        if rs.kind == "relation":
            if rs.real_features == "cached":
                data.image_emb = image_embeddings_from_file(data, embeddings, "train")
            else:   # the real images at the generator's last scale, like the generated ones
                data.image_emb = embed_images(embedder, data.images[-1]).numpy()
    samples = sample_captions(frame, embeddings, rdg.sample_captions, dg.image_sizes[-1])
    return train_rdg(data, dg, rs, rdg, fine_grained=fine_grained, model_dir=model_dir,
                     report_dir=report_dir, embedder=embedder, samples=samples,
                     log_step=log_step)


def final_metrics(loss_csv: Path) -> dict[str, float]:
    """The `rdg` stage's final numbers from its per-epoch history ``loss.csv`` (every epoch,
    resumed ones included): ``epochs`` trained, the last epoch's mean losses as ``final/<loss>``
    (the curves are ``train/<loss>``) and ``time/train_seconds``, the epochs' summed wall time."""
    history = pd.read_csv(loss_csv) if Path(loss_csv).is_file() else pd.DataFrame()
    if history.empty:  # rdg.epochs: 0
        return {"epochs": 0}
    last = history.iloc[-1]
    losses = {f"final/{k}": float(last[k]) for k in history.columns
              if k not in ("epoch", "seconds")}
    return {"epochs": int(last["epoch"]), **losses,
            "time/train_seconds": round(float(history["seconds"].sum()), 2)}
