"""Wiring of the `rdg` stage: files in, trained generator out (library side of stages/rdg.py).

``rdg.speech_encoder`` (:mod:`s2igan.rdg.speech`): ``frozen`` trains on ``data/embeddings``;
``joint`` / ``end_to_end`` train on ``data/fbank`` (+ ``data/features``) with the speech encoder,
then write it as ``speech_encoder.pt`` and the embeddings of every split it gives as
``embeddings/`` (the `embed` stage's format) beside the generator: what `evaluate` and `bundle`
read instead of ``models/sen/best.pt`` and ``data/embeddings`` (:func:`speech_sources`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from s2igan.arrays import Ragged, load_vectors, save_vectors
from s2igan.data import manifest as mf
from s2igan.data.images import load_images
from s2igan.device import resolve_device
from s2igan.distributed import is_main
from s2igan.features.extract import load_features_backbone
from s2igan.io import BadInputError, atomic_dir
from s2igan.rdg.config import SPEECH_ENCODER_FILE, DGConfig, RDGConfig, RSConfig
from s2igan.rdg.data import build_fbank_train_data, build_train_data, image_embeddings_from_file
from s2igan.rdg.relation import ImageEmbedder, embed_images
from s2igan.rdg.speech import build_speech_side
from s2igan.rdg.train import SampleSpec, train_rdg
from s2igan.sen.checkpoint import load_sen
from s2igan.sen.config import SENConfig
from s2igan.sen.data import available_splits, pad_batch
from s2igan.sen.evaluate import embed_speech
from s2igan.sen.run import embed_all
from s2igan.sen.vlad import SpeechWithVLAD, fit_centres, sample_states

EMBEDDINGS_DIR = "embeddings"   # in the rdg model folder, with a speech encoder trained there
CONDITION_DIR = "condition"     # ... the generator's speech vectors, with dg.condition_vlad


def speech_sources(rdg_dir: Path, embeddings: Path, sen_dir: Path) -> tuple[Path, Path, str]:
    """(embeddings folder, SEN checkpoint, which) the generator of ``rdg_dir`` goes with: its own
    ``speech_encoder.pt`` and ``embeddings/`` when the RDG trained the speech encoder
    (``rdg.speech_encoder`` joint / end_to_end), else the `embed` stage's ``embeddings`` and the
    pretrained ``sen_dir/best.pt``."""
    own = Path(rdg_dir) / SPEECH_ENCODER_FILE
    if own.is_file():
        return Path(rdg_dir) / EMBEDDINGS_DIR, own, "rdg"
    return Path(embeddings), Path(sen_dir) / "best.pt", "sen"


def generator_vectors(rdg_dir: Path, embeddings: Path, g) -> Path:
    """The folder of ``<split>_speech`` vectors generator ``g`` (of ``rdg_dir``) reads: the
    rdg stage's ``condition/`` with ``dg.condition_vlad`` (SEN embedding, then VLAD), else
    ``embeddings``."""
    return Path(rdg_dir) / CONDITION_DIR if g.cfg.condition_vlad else Path(embeddings)


def eval_split(frame) -> str:
    splits = set(frame["split"])
    return next(s for s in ("test", "val", "train") if s in splits)


def sample_captions(frame, embeddings_dir: Path | None, k: int, size: int,
                    fbank_dir: Path | None = None,
                    vectors: dict[str, tuple[pd.DataFrame, np.ndarray]] | None = None
                    ) -> SampleSpec:
    """``k`` fixed captions of the evaluation split, one per class first (first caption of the
    first image of each class), with their speech embeddings (from ``vectors[split]`` when
    given, else ``embeddings_dir``; or, from ``fbank_dir``, their padded filterbanks) and real
    images."""
    split = eval_split(frame)
    if fbank_dir is not None:
        fbank = Ragged.load(fbank_dir, split, mmap=False)
        index, speech = fbank.index.astype({"image_id": str}), None
    elif vectors is not None:
        index, speech = vectors[split]
    else:
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
    rows = picks["row"].to_numpy()
    if speech is None:
        x, lengths = pad_batch(fbank, rows)
        return SampleSpec(None, real, x, lengths)
    return SampleSpec(torch.from_numpy(np.asarray(speech)[rows]).float(), real)


def vlad_vectors(sen_checkpoint: Path, fbank_dir: Path, embeddings_dir: Path, clusters: int,
                 seed: int, device: torch.device
                 ) -> tuple[np.ndarray, dict[str, tuple[pd.DataFrame, np.ndarray]]] | None:
    """``dg.condition_vlad``: (centres (K, E), {split: (index, vectors (M, E + K * E))}) of
    every split of ``fbank_dir``, each caption's SEN embedding followed by the VLAD of its frame
    states (:mod:`s2igan.sen.vlad`; the centres are k-means of training states, ``seed``); None
    where the SEN has no frame states of the embedding's size (``sen.kind`` text or
    teacher_student). The rows follow the `embed` stage's ``<split>_speech`` (checked)."""
    encoder = load_sen(sen_checkpoint, device, speech_only=True)[0]
    if not hasattr(encoder, "states") or encoder.proj is not None:
        return None
    fbanks = {split: Ragged.load(fbank_dir, split, mmap=False)
              for split in available_splits(fbank_dir)}
    if "train" not in fbanks:
        raise BadInputError(fbank_dir, "no train filterbanks to fit the VLAD centres on")
    centres = fit_centres(sample_states(encoder, fbanks["train"], seed=seed), clusters, seed)
    model = SpeechWithVLAD(encoder, torch.from_numpy(centres)).to(device)
    out = {}
    for split, fbank in fbanks.items():
        index, pooled = load_vectors(embeddings_dir, f"{split}_speech")
        if list(index["id"]) != list(fbank.index["id"]):
            raise BadInputError(Path(embeddings_dir) / f"{split}_speech.ids.parquet",
                                f"its captions are not those of {fbank_dir}/{split} in order "
                                "(stale embeddings? re-run the embed stage)")
        vecs = embed_speech(model, fbank, device=device, progress=lambda it, s=split: tqdm(
            it, desc=f"rdg: VLAD of {s} frame states", unit="batch", disable=not is_main()))
        out[split] = (index, vecs)
    return centres, out


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
                     log_step: Callable[[dict, int], None] | None = None,
                     fbank: Path | None = None, sen: SENConfig | None = None) -> dict:
    """Train the RDG of ``rdg.speech_encoder``: frozen on ``embeddings``; joint / end_to_end on
    ``fbank`` and ``features`` with the speech encoder (``sen``, the params section, builds the
    joint one; ``sen_dir/best.pt`` is the end_to_end start and the image side of both)."""
    frame = mf.read(prepared / "manifest.parquet")
    fine_grained = frame.attrs.get("kind", "fine_grained") == "fine_grained"
    model_dir = Path(model_dir)
    for stale in (model_dir / SPEECH_ENCODER_FILE, model_dir / EMBEDDINGS_DIR,
                  model_dir / CONDITION_DIR):
        if not is_main():              # (several processes: rank 0 alone writes there)
            break
        if stale.is_dir():             # a previous joint / end_to_end run in the resume folder
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    speech = vectors = None
    if rdg.speech_encoder == "frozen":
        data = build_train_data(frame, embeddings, "train", tuple(dg.image_sizes),
                                features if dg.condition_projection == "cca" else None)
        if dg.condition_vlad and dg.condition_projection == "cca" and fbank is not None:
            found = vlad_vectors(Path(sen_dir) / "best.pt", fbank, embeddings,
                                 dg.condition_vlad, rdg.seed, resolve_device(rdg.device))
            if found is not None:
                data.vlad_centres, vectors = found
                data.speech = np.ascontiguousarray(vectors["train"][1])
                if is_main():         # what evaluate gives the generator in place of embeddings
                    with atomic_dir(model_dir / CONDITION_DIR) as tmp:
                        for split, (index, vecs) in vectors.items():
                            save_vectors(tmp, f"{split}_speech", index, vecs)
    else:
        if fbank is None:
            raise ValueError(f"rdg.speech_encoder: {rdg.speech_encoder} needs the filterbanks")
        data = build_fbank_train_data(frame, fbank, features, "train", tuple(dg.image_sizes))
        torch.manual_seed(rdg.seed)    # the joint encoder's random initial weights
        speech = build_speech_side(rdg.speech_encoder, sen, int(data.fbank.data.shape[1]),
                                   int(data.features.shape[1]), len(np.unique(data.class_ids)),
                                   Path(sen_dir) / "best.pt")
    embedder = None
    if rs.enabled:
        embedder = make_embedder(sen_dir, features, weights, rs.input_size).to(
            resolve_device(rdg.device))
        if rs.kind == "relation":
            if rs.real_features == "cached":
                data.image_emb = image_embeddings_from_file(data, embeddings, "train")
            else:   # the real images at the generator's last scale, like the generated ones
                data.image_emb = embed_images(embedder, data.images[-1]).numpy()
    samples = sample_captions(frame, embeddings, rdg.sample_captions, dg.image_sizes[-1],
                              fbank if speech is not None else None, vectors)
    means = train_rdg(data, dg, rs, rdg, fine_grained=fine_grained, model_dir=model_dir,
                      report_dir=report_dir, embedder=embedder, samples=samples,
                      log_step=log_step, speech=speech)
    if speech is not None:             # what evaluate reads in place of data/embeddings
        with atomic_dir(model_dir / EMBEDDINGS_DIR) as tmp:
            embed_all(fbank, features, model_dir / SPEECH_ENCODER_FILE, tmp)
    return means


def summary_line(metrics: dict, report_dir: str | Path) -> str:
    """The one line the `rdg` stage ends with (``metrics`` from :func:`final_metrics`)."""
    if not metrics.get("epochs"):
        return "rdg: no epoch trained (rdg.epochs: 0)"
    losses = ", ".join(f"{k.split('/', 1)[1]} {v:.3f}" for k, v in metrics.items()
                       if k.startswith("final/"))
    return (f"rdg: {metrics['epochs']} epochs in {metrics['time/train_seconds'] / 60:.1f} min; "
            f"last epoch's mean losses: {losses}. Sample grids in {Path(report_dir) / 'samples'}")


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
