"""RDG training loop (Sec. III-C): epochs of :func:`s2igan.rdg.step.train_step`, a checkpoint
every epoch (plain dict ``models/rdg/last.pt``, resumable), the EMA generator as the final model
(``models/rdg/generator.pt``), a fixed-noise sample grid per epoch and the loss curve. With a
speech encoder trained here (``rdg.speech_encoder`` joint / end_to_end) its EMA is saved beside
the generator as a SEN checkpoint, ``models/rdg/speech_encoder.pt``.

Determinism: epoch ``e`` draws its captions, RI/MI images, ``z`` and CA noise from generators
seeded by ``(seed, e)`` only, so training 2 epochs equals training 1 and resuming for 1.
"""

from __future__ import annotations

import csv
import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from s2igan.checkpoint import (code_fingerprint, load_checkpoint, rng_state, save_checkpoint,
                               set_rng_state)
from s2igan.config import to_dict
from s2igan.data.images import to_float
from s2igan.device import resolve_device
from s2igan.distributed import barrier, is_main, world_size
from s2igan.io import atomic_path
from s2igan.rdg.attributes import fit_attribute_code, value_indices
from s2igan.rdg.condition import fit_projection, fit_vlad_projection
from s2igan.rdg.config import SPEECH_ENCODER_FILE, DGConfig, RDGConfig, RSConfig
from s2igan.rdg.data import TrainData
from s2igan.rdg.sampling import save_grid
from s2igan.rdg.speech import SpeechSide
from s2igan.rdg.step import (RDGNets, build_nets, global_statistics, lr_factor,
                             set_learning_rates, train_step)
from s2igan.sen.data import pad_batch

LOSS_KEYS = ("d_loss", "g_adv", "kl", "g_loss", "rs_loss", "g_rs", "g_ms", "g_recon",
             "sen_loss", "sen_match", "sen_distinctive")


@dataclass
class SampleSpec:
    """Fixed test captions for the per-epoch grid: their embeddings (or, for a speech encoder
    trained here, their padded filterbanks) and real images."""

    speech: torch.Tensor | None   # (K, E)
    real: torch.Tensor            # (K, 3, S, S) uint8 at the last scale
    fbank: torch.Tensor | None = None     # (K, T, n_mels) zero-padded
    lengths: torch.Tensor | None = None   # (K,)

    def __len__(self) -> int:
        return len(self.real)

    @torch.no_grad()
    def embeddings(self, speech: SpeechSide | None) -> torch.Tensor:
        """(K, E): the cached embeddings, or ``speech`` (eval mode) over the filterbanks."""
        if speech is None:
            return self.speech
        device = next(speech.parameters()).device
        return speech.eval()(self.fbank.to(device), self.lengths.to(device)).cpu()


def _configs(dg: DGConfig, rs: RSConfig, rdg: RDGConfig) -> dict:
    return {"dg": to_dict(dg), "rs": to_dict(rs), "rdg": to_dict(rdg)}


def _same_run(saved: dict, current: dict) -> bool:
    """A checkpoint may be resumed if everything but the epoch count is unchanged; under a
    decaying learning rate (``rdg.lr_decay_from`` < 1) the epoch count sets the schedule, so it
    must match too."""
    def norm(c: dict) -> dict:
        free = () if c["rdg"].get("lr_decay_from", 1.0) < 1 else ("epochs",)
        c = {**c, "rdg": {k: v for k, v in c["rdg"].items() if k not in free}}
        return {s: {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
                for s, d in c.items()}

    return norm(saved) == norm(current)


def data_fingerprint(data: TrainData) -> str:
    """Identity of what the generator trains on: image ids and classes, every speech embedding
    (so a retrained SEN changes it) and the real image embeddings of the RS (a new backbone or
    SEN). A checkpoint with another fingerprint is never resumed; the training code is
    fingerprinted beside it (:func:`s2igan.checkpoint.code_fingerprint`)."""
    h = hashlib.sha1()
    h.update("|".join(map(str, data.image_ids)).encode())
    fbank = (data.fbank.data, data.fbank.offsets) if data.fbank is not None else (None, None)
    for arr in (data.class_ids, data.caption_image, data.speech, data.image_emb, *fbank,
                data.features):
        if arr is not None:
            h.update(str(arr.shape).encode())
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def make_batch(data: TrainData, captions: np.ndarray, rng: np.random.Generator,
               gen: torch.Generator, dg: DGConfig, device: torch.device, use_rs: bool,
               attribute_index: np.ndarray | None = None) -> dict:
    """Tensors of one step for the caption indices ``captions``; ``attribute_index`` (images,
    A) the value indices of each image's attributes (``dg.d_attributes``)."""
    img = data.caption_image[captions]
    b = len(captions)
    idx = torch.from_numpy(img)
    batch = {
        "images": [to_float(x[idx]).to(device, non_blocking=True) for x in data.images],
        "class_id": torch.from_numpy(data.class_ids[img]).to(device),
        "z": torch.randn(b, dg.z_dim, generator=gen).to(device),
        "eps": torch.randn(b, dg.ca_dim, generator=gen).to(device),
    }
    if data.speech is not None:          # the pretrained SEN's cached embeddings
        batch["y"] = torch.from_numpy(data.speech[captions]).to(device)
    else:                                # a speech encoder trained here reads the filterbanks
        fbank, lengths = pad_batch(data.fbank, captions)            # (B, T, n_mels), (B,)
        batch.update(fbank=fbank.to(device), lengths=lengths.to(device),
                     image_index=idx.to(device),
                     labels=torch.from_numpy(data.class_labels[img]).to(device))
        if data.features is not None:
            batch["features"] = torch.from_numpy(data.features[img]).to(device)
    wrong = np.roll(np.arange(b), 1)
    batch["wrong"] = torch.from_numpy(wrong).to(device)
    batch["wrong_mask"] = torch.from_numpy(
        (data.class_ids[img][wrong] != data.class_ids[img]).astype(np.float32)).to(device)
    if attribute_index is not None:
        batch["attributes"] = torch.from_numpy(attribute_index[img]).to(device)
    if use_rs and data.image_emb is not None:
        ri, mi = data.pairs(img, rng)
        emb = torch.from_numpy(data.image_emb)
        batch.update(gt=emb[img].to(device), ri=emb[ri].to(device), mi=emb[mi].to(device))
    return batch


def checkpoint(nets: RDGNets, epoch: int, history: list[dict], configs: dict,
               embed_dim: int, fingerprint: str = "") -> dict:
    return {
        "generator": nets.generator.state_dict(), "generator_ema": nets.ema.state_dict(),
        "discriminators": nets.discriminators.state_dict(),
        "relation": None if nets.relation is None else nets.relation.state_dict(),
        "opt_g": nets.opt_g.state_dict(), "opt_d": nets.opt_d.state_dict(),
        "opt_rs": None if nets.opt_rs is None else nets.opt_rs.state_dict(),
        "epoch": epoch, "step": nets.step, "history": history, "config": configs,
        "embed_dim": embed_dim, "fingerprint": fingerprint,
        "rng": rng_state(),
        **({} if nets.speech is None else {
            "speech": nets.speech.state_dict(), "speech_ema": nets.speech_ema.state_dict(),
            "opt_s": nets.opt_s.state_dict()}),
    }


def restore(nets: RDGNets, ckpt: dict) -> None:
    nets.generator.load_state_dict(ckpt["generator"])
    nets.ema.load_state_dict(ckpt["generator_ema"])
    nets.discriminators.load_state_dict(ckpt["discriminators"])
    nets.opt_g.load_state_dict(ckpt["opt_g"])
    nets.opt_d.load_state_dict(ckpt["opt_d"])
    if nets.relation is not None and ckpt["relation"] is not None:
        nets.relation.load_state_dict(ckpt["relation"])
        nets.opt_rs.load_state_dict(ckpt["opt_rs"])
    if nets.speech is not None:
        nets.speech.load_state_dict(ckpt["speech"])
        nets.speech_ema.load_state_dict(ckpt["speech_ema"])
        nets.opt_s.load_state_dict(ckpt["opt_s"])
    nets.step = int(ckpt["step"])
    set_rng_state(ckpt["rng"])


def _write_losses(history: list[dict], path: Path) -> None:
    keys = ["epoch"] + [k for k in history[0] if k != "epoch"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)


def train_rdg(data: TrainData, dg: DGConfig, rs: RSConfig, rdg: RDGConfig, *, fine_grained: bool,
              model_dir: str | Path, report_dir: str | Path, embedder: nn.Module | None = None,
              samples: SampleSpec | None = None, resume: bool = True,
              log_step: Callable[[dict, int], None] | None = None,
              max_steps: int | None = None,
              speech: SpeechSide | None = None) -> dict[str, float]:
    """Train the RDG; returns the last epoch's mean losses.

    ``speech`` (``rdg.speech_encoder`` joint / end_to_end, :mod:`s2igan.rdg.speech`) is trained
    along; ``data`` then holds filterbanks instead of embeddings, and its EMA is saved as
    ``model_dir/speech_encoder.pt``.

    Under several processes (:mod:`s2igan.distributed`; frozen speech encoder only) every rank
    draws the same global batches and :func:`~s2igan.rdg.step.train_step` splits the work;
    rank 0 alone writes the checkpoints, sample grids and ``loss.csv``.

    ``embedder`` maps generated images (B, 3, H, W) in [-1, 1] to SEN image embeddings (the
    backbone + the SEN image encoder); it is needed when ``rs.enabled``. ``data.image_emb`` holds
    the real images' embeddings (relation kind). ``max_steps`` cuts every epoch short (dry runs).
    """
    model_dir, report_dir = Path(model_dir), Path(report_dir)
    main = is_main()
    if main:
        model_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "samples").mkdir(parents=True, exist_ok=True)
    device = resolve_device(rdg.device)
    if rdg.num_threads:
        torch.set_num_threads(rdg.num_threads)
    use_rs = rs.enabled
    if use_rs and embedder is None:
        raise ValueError("rs.enabled needs an image embedder (backbone + SEN image encoder)")
    if use_rs and rs.kind == "relation" and data.image_emb is None:
        raise ValueError("the relation supervisor needs the real image embeddings (data.image_emb)")
    # the projection is fitted on the pretrained SEN's cached embeddings (LDA with their
    # classes, CCA with their images' features in data.features); where there is nothing to
    # fit it on, the run uses the identity and says so:
    # a speech encoder trained here (joint: random init; end_to_end: it keeps changing), or
    # LDA on scene data (no classes)
    why = (f"rdg.speech_encoder: {rdg.speech_encoder} trains the encoder here"
           if rdg.speech_encoder != "frozen" else
           "the data has no classes" if dg.condition_projection == "lda" and not fine_grained
           else "")
    if dg.condition_projection != "none" and why and main:
        tqdm.write(f"rdg: dg.condition_projection: {dg.condition_projection} cannot be fitted "
                   f"({why}), so this run uses none")
    if dg.condition_projection != "none" and why:
        dg = replace(dg, condition_projection="none", condition_attributes=0)
    if dg.condition_vlad and data.vlad_centres is None:   # (rdg/run.py computes the VLAD)
        if main:
            tqdm.write(f"rdg: dg.condition_vlad: {dg.condition_vlad} needs dg.condition_projection"
                       f": cca (this run: {dg.condition_projection}) and the frame states of the "
                       "frozen S2IGAN speech encoder, so this run uses 0")
        dg = replace(dg, condition_vlad=0)
    lacks = ("a fitted dg.condition_projection to sit beside (this run: none)"
             if dg.condition_projection == "none" else
             "attribute labels of every training image (SynthBirds has them; this data has none)"
             if data.attributes is None else "")
    if dg.condition_attributes and lacks:
        if main:
            tqdm.write(f"rdg: dg.condition_attributes: {dg.condition_attributes} needs {lacks}, "
                       "so this run uses 0")
        dg = replace(dg, condition_attributes=0)
    if dg.d_attributes and data.attributes is None:
        if main:
            tqdm.write(f"rdg: dg.d_attributes: {dg.d_attributes:g} needs attribute labels of every "
                       "training image (SynthBirds has them; this data has none), so this run "
                       "uses 0")
        dg = replace(dg, d_attributes=0.0)
    attribute_index, attribute_sizes = (value_indices(data.attributes) if dg.d_attributes
                                        else (None, ()))
    if (speech is None) != (rdg.speech_encoder == "frozen"):
        raise ValueError(f"rdg.speech_encoder: {rdg.speech_encoder} "
                         f"{'needs' if speech is None else 'takes no'} a speech encoder to train")
    if (speech is None) != (data.speech is not None):
        raise ValueError("a trained speech encoder reads filterbanks (data.fbank), a frozen one "
                         "the cached embeddings (data.speech)")
    embed_dim = data.embed_dim if speech is None else speech.embed_dim
    torch.manual_seed(rdg.seed)
    nets = build_nets(dg, rs, rdg, embed_dim, fine_grained, device,
                      embedder if use_rs else None, speech, attribute_sizes)
    if world_size() > 1:
        if speech is not None:
            raise ValueError("several processes (dist.nproc > 1) train the RDG with a frozen "
                             "speech encoder only (rdg.speech_encoder: frozen)")
        global_statistics(nets)
    # dg.condition_weights: heldout measures each cca direction on held-out classes (scene
    # data: images)
    groups = (None if dg.condition_weights == "train" else
              data.class_ids[data.caption_image] if fine_grained else data.caption_image)
    if dg.condition_vlad:
        fitted = (*fit_vlad_projection(data.speech, embed_dim, data.features[data.caption_image],
                                       dg.condition_dims, groups=groups), data.vlad_centres)
    elif dg.condition_projection != "none":
        fitted = fit_projection(
            dg.condition_projection, data.speech,
            data.class_ids[data.caption_image] if fine_grained else None, dg.condition_dims,
            data.features[data.caption_image] if data.features is not None else None,
            groups=groups)
    if dg.condition_projection != "none":
        for g in (nets.generator, nets.ema):
            g.project.set(*fitted)
    if dg.condition_attributes:
        fit = fit_attribute_code(data.speech, data.attributes.iloc[data.caption_image],
                                 dg.condition_attributes)
        for g in (nets.generator, nets.ema):
            g.project.attributes.set(fit)
        if main:
            tqdm.write(f"rdg: attribute code of {len(fit.names)} values, ridge alpha {fit.alpha:g}"
                       ", training captions read right: " + ", ".join(
                           f"{a} {v:.3f}" for a, v in fit.train_accuracy.items()))
    configs = _configs(dg, rs, rdg)
    history: list[dict] = []
    start = 0
    fp = data_fingerprint(data) + ":" + code_fingerprint("rdg")
    last = model_dir / "last.pt"
    if resume and last.is_file():
        ckpt = load_checkpoint(last, device, "RDG checkpoint",
                               ("config", "embed_dim", "epoch", "history"))
        # resume only an unfinished run of the same params (but the epoch count), data and
        # code; a finished one (or a longer one) trains afresh: DVC re-runs the stage only when
        # something changed, and the stage's outputs (sample grids) must be made again
        if (_same_run(ckpt["config"], configs) and ckpt["embed_dim"] == embed_dim
                and ckpt.get("fingerprint") == fp and int(ckpt["epoch"]) + 1 < rdg.epochs):
            restore(nets, ckpt)
            history, start = list(ckpt["history"]), int(ckpt["epoch"]) + 1
    fixed = torch.Generator().manual_seed(rdg.seed + 7919)
    fixed_z = torch.randn(len(samples) if samples else 1, dg.z_dim, generator=fixed)
    means: dict[str, float] = {}
    for epoch in range(start, rdg.epochs):
        rng = np.random.default_rng([rdg.seed, epoch])
        gen = torch.Generator().manual_seed(rdg.seed * 1_000_003 + epoch)
        order = data.epoch_order(rng, rdg.captions_per_image)
        n_batches = len(order) // rdg.batch_size or 1      # drop the last partial batch
        if max_steps:
            n_batches = min(n_batches, max_steps)
        sums: dict[str, float] = {}
        t0 = time.perf_counter()
        for k in tqdm(range(n_batches), desc=f"rdg epoch {epoch + 1}/{rdg.epochs}", unit="step",
                      leave=False, disable=not main):
            caps = order[k * rdg.batch_size:(k + 1) * rdg.batch_size]
            if rdg.mode_seeking:   # the first half twice: pairs (i, i + B/2) share a caption
                caps = np.concatenate([caps[:len(caps) // 2]] * 2)
            if rdg.lr_decay_from < 1:   # a constant rate needs no assignment
                set_learning_rates(nets, lr_factor(nets.step, rdg.epochs * n_batches,
                                                   rdg.lr_decay_from))
            out = train_step(nets, make_batch(data, caps, rng, gen, dg, device, use_rs,
                                              attribute_index), dg, rs, rdg, fine_grained)
            for key, v in out.items():
                sums[key] = sums.get(key, 0.0) + v
        means = {key: v / n_batches for key, v in sums.items()}
        row = {"epoch": epoch + 1, **{k: round(means[k], 6) for k in LOSS_KEYS if k in means},
               "seconds": round(time.perf_counter() - t0, 2)}
        history.append(row)
        if not main:       # rank 0 writes and logs
            continue
        if log_step is not None:
            log_step({f"train/{k}": v for k, v in row.items() if k != "epoch"}, epoch + 1)
        if samples is not None:
            save_grid(nets.ema, samples.embeddings(nets.speech_ema), fixed_z, samples.real,
                      report_dir / "samples" / f"epoch_{epoch + 1:03d}.png")
        _write_losses(history, report_dir / "loss.csv")
        save_checkpoint(last, checkpoint(nets, epoch, history, configs, embed_dim, fp))
    if not main:
        barrier()          # the other ranks go on once rank 0 has written its files
        return means
    save_checkpoint(model_dir / "generator.pt",
                    {"generator": nets.ema.state_dict(), "config": to_dict(dg),
                     "embed_dim": embed_dim, "epochs": rdg.epochs, "step": nets.step})
    if nets.speech_ema is not None:      # the encoder the EMA generator was trained with
        save_checkpoint(model_dir / SPEECH_ENCODER_FILE,
                        {**nets.speech_ema.checkpoint(), "epochs": rdg.epochs, "step": nets.step})
    if history and not (report_dir / "loss.csv").exists():
        _write_losses(history, report_dir / "loss.csv")
    barrier()
    return means
