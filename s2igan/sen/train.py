"""SEN training on cached image features (Sec. III-B): Eq. (8) (or Eq. (9) without the
distinctive loss), Adam, StepLR, one random caption per image per epoch, per-epoch checkpoints
with resumption, best model by validation mAP on held-out images of the TRAINING classes.

The same loop trains the other systems of ``sen.kind`` (:func:`batch_losses`): Li et al.'s
teacher-student loss, Eq. (6)-(9) of their paper (:mod:`s2igan.sen.teacher_student`), and the
classifier-based baseline (cross-entropy of a linear classifier on the speech embedding, no
image information). Their ``loss.csv`` columns are their own terms (:func:`csv_columns`); the
validation score of ``classifier`` is the speech -> speech mAP (it has no image side).
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from s2igan.checkpoint import code_fingerprint, rng_state, save_checkpoint, set_rng_state
from s2igan.config import to_dict
from s2igan.device import bf16_autocast, mixed_precision, resolve_device
from s2igan.distributed import (
    average_gradients,
    barrier,
    broadcast,
    gather_rows,
    global_batch_norm,
    is_main,
    shard,
    world_size,
)
from s2igan.io import atomic_path
from s2igan.sen.batching import neighbour_order
from s2igan.sen.checkpoint import build_encoders, load_state
from s2igan.sen.config import RESUMABLE_CHANGES, SENConfig
from s2igan.sen.data import SENSplit, pad_batch
from s2igan.sen.evaluate import evaluate_split
from s2igan.sen.losses import distinctive_loss, feature_regression_loss, matching_loss
from s2igan.sen.teacher_student import teacher_student_loss

CSV_COLUMNS = ["epoch", "train/loss", "train/match", "train/distinctive", "val/map"]  # s2igan
# the loss terms of each sen.kind, as train/<term> columns (text: the s2igan losses, Eq. 8)
TERMS = {"s2igan": ("match", "distinctive"), "teacher_student": ("jel", "norm", "kdl"),
         "classifier": ("ce",), "text": ("match", "distinctive")}


def loss_terms(cfg: SENConfig) -> tuple[str, ...]:
    """The loss terms of one configuration: those of ``sen.kind``, + ``regress`` when
    ``sen.feature_regression`` is on."""
    return TERMS[cfg.kind] + (("regress",) if cfg.feature_regression > 0 else ())


def csv_columns(kind: str = "s2igan", extra: tuple[str, ...] = ()) -> list[str]:
    """``loss.csv`` columns of the system ``sen.kind`` (:data:`CSV_COLUMNS` for s2igan), with the
    ``extra`` terms after its own."""
    return ["epoch", "train/loss", *[f"train/{t}" for t in TERMS[kind] + extra], "val/map"]


def fingerprint(train: SENSplit, val: SENSplit) -> str:
    """Identity of the training data (ids, sizes and a feature checksum) for safe resumption."""
    h = hashlib.sha1()
    for part in (train, val):
        h.update("|".join(part.images["id"].astype(str)).encode())
        h.update(str((part.fbank.data.shape, part.features.shape)).encode())
        h.update(np.float64(np.asarray(part.features, np.float64).sum()).tobytes())
        h.update(np.float64(np.asarray(part.fbank.data[:: 97], np.float64).sum()).tobytes())
    return h.hexdigest()


def _comparable(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in RESUMABLE_CHANGES}


def _class_labels(train: SENSplit) -> tuple[np.ndarray, int]:
    classes = train.images["class_id"].to_numpy()
    if (classes < 0).any():
        raise ValueError("sen.distinctive and sen.kind: classifier need class labels, but the "
                         "training images have none (class_id -1, e.g. Flickr8k): set "
                         "sen.distinctive: false (Eq. 9), or another sen.kind")
    uniq, labels = np.unique(classes, return_inverse=True)
    return labels.astype(np.int64), len(uniq)


def train_sen(train: SENSplit, val: SENSplit, kind: str, cfg: SENConfig, model_dir: str | Path,
              csv_path: str | Path | None = None,
              log_step: Callable[[dict, int], None] | None = None,
              vocab: list[str] | None = None) -> dict:
    """Train (or resume) the SEN; writes ``model_dir/last.pt`` every epoch and ``best.pt`` when
    the validation mAP improves. Returns summary metrics: ``best/val_map`` and ``best/epoch``
    (the per-epoch curve is ``val/map``), ``epochs``, ``time/train_seconds`` (this call's
    epochs).

    Under several processes (:mod:`s2igan.distributed`) every rank draws the same epoch order
    and captions; each embeds its :func:`~s2igan.distributed.shard` of every batch, the
    speech embeddings are gathered (with gradient) so that every rank computes the loss of the
    whole batch, BatchNorm uses the global batch's statistics, and the gradients are averaged:
    the update is that of one process. Only rank 0 validates, writes and logs."""
    torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model_dir = Path(model_dir)
    use_labels = cfg.kind == "classifier" or (cfg.kind in ("s2igan", "text") and cfg.distinctive)
    labels, n_classes = _class_labels(train) if use_labels else (None, 0)
    dims = {"feat_dim": int(train.features.shape[1]), "n_mels": int(train.fbank.data.shape[1]),
            "n_classes": n_classes}
    if vocab is not None:
        dims["vocab_size"] = len(vocab)
    speech, image = build_encoders(cfg, dims, vocab)
    world, main = world_size(), is_main()
    if world > 1:
        global_batch_norm(speech)
    classifier = nn.Linear(cfg.embed_dim, n_classes) if use_labels else None
    regressor = (nn.Linear(cfg.embed_dim, dims["feat_dim"]) if cfg.feature_regression > 0
                 else None)
    modules = [m for m in (speech, image, classifier, regressor) if m is not None]
    for m in modules:
        m.to(device)
    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas),
                           weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
    fp = fingerprint(train, val) + ":" + code_fingerprint("sen")
    history: list[dict] = []
    best = {"map": -math.inf, "epoch": 0}
    start = 0

    last = model_dir / "last.pt"
    if last.is_file():
        state = load_state(last, device)
        same = (_comparable(state["config"]) == _comparable(to_dict(cfg))
                and state.get("fingerprint") == fp and state["dims"] == dims
                and state["epoch"] < cfg.epochs)     # a finished run trains afresh
        if same:
            speech.load_state_dict(state["speech_encoder"])
            if image is not None:
                image.load_state_dict(state["image_encoder"])
            if classifier is not None:
                classifier.load_state_dict(state["classifier"])
            if regressor is not None:
                regressor.load_state_dict(state["regressor"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            set_rng_state(state["rng"], rng)
            history, best, start = list(state["history"]), dict(state["best"]), state["epoch"]
            if main:
                tqdm.write(f"sen: resuming from {last} after epoch {start}")
        elif main:
            tqdm.write(f"sen: {last} is from another configuration or data; starting afresh")

    keys_all = (train.images["class_id"].to_numpy() if kind == "fine_grained"
                else np.arange(len(train.images)))  # Eq. (4): class (fine-grained) / image (scene)
    keys_all = torch.from_numpy(keys_all.astype(np.int64))
    labels_t = torch.from_numpy(labels) if labels is not None else None
    image_caps = train.image_captions()
    with_caption = np.flatnonzero([len(c) > 0 for c in image_caps])  # skipped clips leave gaps
    features = torch.from_numpy(np.asarray(train.features, np.float32))
    targets = standardised(features) if regressor is not None else None
    columns = csv_columns(cfg.kind, loss_terms(cfg)[len(TERMS[cfg.kind]):])
    t0 = time.perf_counter()

    bar = tqdm(range(start, cfg.epochs), desc="sen", unit="epoch", initial=start,
               total=cfg.epochs, disable=not main)
    for epoch in bar:
        for m in modules:
            m.train()
        perm = epoch_order(cfg, image, features, keys_all.numpy(), with_caption, rng, device)
        caps = np.array([image_caps[i][rng.integers(len(image_caps[i]))] for i in perm])
        if world > 1:      # (the same draws on every rank; batch_groups orders by floats)
            perm, caps = broadcast((perm, caps))
        sums, count = dict.fromkeys(("loss", *loss_terms(cfg)), 0.0), 0
        for s in range(0, len(perm), cfg.batch_size):
            rows, crow = perm[s:s + cfg.batch_size], caps[s:s + cfg.batch_size]
            if len(rows) < max(2, world):  # batch norm and the matching loss need two pairs
                continue
            x, lengths = pad_batch(train.fbank, crow)
            with mixed_precision(device, cfg.amp):   # the encoders; the losses in float32
                if world > 1:  # this rank's rows, padded as the whole batch (same BN statistics)
                    part = shard(len(rows))
                    y = gather_rows(
                        speech(x[part].to(device), lengths[part].to(device)), len(rows))  # (B, E)
                else:
                    y = speech(x.to(device), lengths.to(device))  # (B, E)
            terms = batch_losses(cfg, y.float(), features[rows].to(device),
                                 keys_all[rows].to(device),
                                 labels_t[rows].to(device) if labels_t is not None else None,
                                 image, classifier, regressor,
                                 targets[rows].to(device) if targets is not None else None)
            loss = terms["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            average_gradients(params)
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            n = len(rows)
            for k in sums:
                sums[k] += terms[k].detach().item() * n
            count += n
        sched.step()
        if not main:       # rank 0 validates and writes
            continue
        val_map = validate(speech, image, val, kind, cfg, device)
        row = {"epoch": epoch + 1, **{f"train/{k}": v / max(count, 1) for k, v in sums.items()},
               "val/map": val_map}
        history.append(row)
        if log_step is not None:
            log_step({**{k: v for k, v in row.items() if k != "epoch"},
                      "lr": opt.param_groups[0]["lr"]}, epoch + 1)
        state = {"speech_encoder": speech.state_dict(),
                 "image_encoder": image.state_dict() if image is not None else None,
                 "classifier": classifier.state_dict() if classifier is not None else None,
                 "regressor": regressor.state_dict() if regressor is not None else None,
                 "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "epoch": epoch + 1, "config": to_dict(cfg), "dims": dims, "fingerprint": fp,
                 "history": history, "best": best,
                 "rng": rng_state(rng)}
        if vocab is not None:
            state["vocab"] = list(vocab)
        if val_map > best["map"]:
            best = {"map": val_map, "epoch": epoch + 1}
            state["best"] = best
            save_checkpoint(model_dir / "best.pt", state)
        save_checkpoint(last, state)
        if csv_path is not None:
            write_history(history, csv_path, columns)
        bar.set_postfix(loss=f"{row['train/loss']:.3f}", val_map=f"{val_map:.3f}")
    if csv_path is not None and history and main:
        write_history(history, csv_path, columns)
    barrier()  # the other ranks go on once rank 0 has written best.pt
    return {"best/val_map": best["map"], "best/epoch": best["epoch"], "epochs": cfg.epochs,
            "time/train_seconds": round(time.perf_counter() - t0, 2),
            "bf16_autocast": int(bf16_autocast(device, cfg.amp))}


def epoch_order(cfg: SENConfig, image: nn.Module | None, features: torch.Tensor, keys: np.ndarray,
                rows: np.ndarray, rng: np.random.Generator, device) -> np.ndarray:
    """The image rows of one epoch in batch order (one random caption of each is drawn after):
    shuffled, or, with ``sen.batch_groups``, grouped by the current image encoder into batches
    of near classes (:func:`s2igan.sen.batching.neighbour_order`)."""
    if cfg.batch_groups == 0:
        return rng.permutation(rows)
    with torch.no_grad():
        if image is None:
            emb = features.numpy()
        else:
            image.eval()
            emb = image(features.to(device)).float().cpu().numpy()
            image.train()
    return neighbour_order(emb, keys, rows, cfg.batch_groups, rng)


def standardised(features: torch.Tensor) -> torch.Tensor:
    """Each feature dimension scaled to zero mean and unit variance over the training images
    (the target of ``sen.feature_regression``; constant dimensions stay 0)."""
    std = features.std(dim=0, keepdim=True)
    return (features - features.mean(dim=0, keepdim=True)) / torch.where(std > 0, std, 1.0)


def batch_losses(cfg: SENConfig, y: torch.Tensor, features: torch.Tensor, keys: torch.Tensor,
                 labels: torch.Tensor | None, image: nn.Module | None,
                 classifier: nn.Module | None, regressor: nn.Module | None = None,
                 targets: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The objective of ``cfg.kind`` on one batch: ``{"loss", <its TERMS>}``.

    ``y (B, E)`` speech embeddings, ``features (B, D)`` the cached backbone features of their
    images, ``keys (B,)`` class (fine-grained) or image (scene) of each pair, ``labels (B,)``
    class indices (when the system uses them).

    * ``s2igan``: Eq. (8) = Eq. (6) matching + Eq. (7) distinctive; Eq. (9) without the latter.
    * ``teacher_student``: Li et al.'s Eq. (6) = JEL (7) + lambda_norm L_norm (8) + lambda_KDL
      KDL (9), the features being the teacher (:func:`teacher_student_loss`).
    * ``classifier``: cross-entropy of ``classifier(y)`` against the class labels.
    * ``text``: as ``s2igan``, ``y`` being the text encoder's embeddings of the captions.

    With a ``regressor`` (``sen.feature_regression``), ``s2igan`` and ``text`` add that weight
    times :func:`~s2igan.sen.losses.feature_regression_loss` against ``targets (B, D)``, the
    standardised features, as the term ``regress``.
    """
    if cfg.kind == "teacher_student":
        return teacher_student_loss(y, features, keys, cfg.teacher_student)
    if cfg.kind == "classifier":
        ce = F.cross_entropy(classifier(y), labels)
        return {"loss": ce, "ce": ce}
    xi = image(features)  # (B, E)
    l_m = matching_loss(y, xi, keys, cfg.beta)
    l_d = (distinctive_loss(classifier, y, xi, labels)
           if classifier is not None else torch.zeros((), device=y.device))
    out = {"loss": l_m + l_d, "match": l_m, "distinctive": l_d}  # Eq. (8) / (9)
    if regressor is not None:
        out["regress"] = feature_regression_loss(regressor, y, targets)
        out["loss"] = out["loss"] + cfg.feature_regression * out["regress"]
    return out


def validate(speech, image, val: SENSplit, kind: str, cfg: SENConfig, device) -> float:
    """Speech -> image mAP on the validation images (relevant = class, or own image for scene);
    ``classifier`` (no image side): speech -> speech mAP, relevant = the same class."""
    scores, _ = evaluate_split(speech, image, val, kind, cfg.eval_batch_size, device)
    return float(scores["map"] if image is not None else scores["speech_map"])


def write_history(history: list[dict], path: str | Path,
                  columns: list[str] = CSV_COLUMNS) -> None:
    frame = pd.DataFrame(history).reindex(columns=columns)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
