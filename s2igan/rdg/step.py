"""One RDG training step: per-scale D updates (Eq. 16-17), the relation supervisor update
(Eq. 12/13) and the generator update (Eq. 14-15 + KL of Eq. 11), then the generator EMA.
With a trained speech encoder (``rdg.speech_encoder`` joint / end_to_end,
:mod:`s2igan.rdg.speech`) the step first embeds the batch's filterbanks; the encoder collects
the gradients of L_D and L_G (+ ``rdg.sen_weight`` L_SEN, end_to_end) and steps once, after G.

The step is a plain function over :class:`RDGNets` so that the trainer, the tests and the
benchmark run exactly the same code.

Under several processes (:mod:`s2igan.distributed`, frozen speech encoder only) the batch is
the global one on every rank: G and the discriminators' image encoders run on the rank's rows
(:func:`~s2igan.distributed.shard`, BatchNorm over the global batch) and their outputs are
gathered with gradient; everything that couples rows (the D heads and their matching term, the
mismatch pairs, the mode-seeking pairs, the relation supervisor, KL) runs on the whole batch on
every rank, and the gradients are averaged before each optimiser step, so N processes take the
step of one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from s2igan.device import mixed_precision
from s2igan.distributed import (ShardedRows, average_gradients, gather_rows, global_batch_norm,
                                shard, world_size)
from s2igan.rdg.augment import augmenter
from s2igan.rdg.config import DGConfig, RDGConfig, RSConfig
from s2igan.rdg.discriminator import make_discriminators
from s2igan.rdg.generator import Generator, init_weights
from s2igan.rdg.losses import (AttributeTargets, Matching, discriminator_loss, generator_adv_loss,
                               kl_loss, mode_seeking_loss, recon_loss)
from s2igan.rdg.relation import (RelationClassifier, damsm_matching_loss, rs_classifier_loss,
                                 rs_generator_loss)
from s2igan.rdg.speech import SpeechSide


@dataclass
class RDGNets:
    """Everything a step updates, plus the frozen image embedder used by the RS."""

    generator: Generator
    ema: Generator
    discriminators: nn.ModuleList
    relation: RelationClassifier | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    opt_rs: torch.optim.Optimizer | None
    embedder: nn.Module | None = None      # images (B,3,H,W) in [-1,1] -> (B, E); frozen
    step: int = 0
    speech: SpeechSide | None = None       # trained speech encoder (joint / end_to_end)
    speech_ema: SpeechSide | None = None   # its EMA (saved with the EMA generator)
    opt_s: torch.optim.Optimizer | None = None
    attribute_sizes: tuple[int, ...] = ()  # values per attribute of D's attribute head


def _adam(params, lr: float, betas, device: torch.device) -> torch.optim.Optimizer:
    kwargs = {"fused": True} if device.type in ("cpu", "cuda") else {}
    opt = torch.optim.Adam(params, lr=lr, betas=tuple(betas), **kwargs)
    for group in opt.param_groups:      # the rate set_learning_rates scales
        group["initial_lr"] = lr
    return opt


def lr_factor(step: int, total: int, decay_from: float) -> float:
    """Multiplier of every learning rate at ``step`` (0-based) of ``total`` steps: 1 until the
    fraction ``decay_from`` of the steps, then falling linearly, reaching 1 / (remaining steps)
    at the last step (pix2pix's and CycleGAN's schedule, in steps rather than epochs).
    ``decay_from`` 1 keeps every rate constant, as the paper and the official code do."""
    start = decay_from * total
    if step < start or start >= total:
        return 1.0
    return max(total - step, 0) / (total - start)


def set_learning_rates(nets: RDGNets, factor: float) -> None:
    """Every optimiser of ``nets`` (G, D, RS, speech encoder) at ``factor`` times its own rate."""
    for opt in (nets.opt_g, nets.opt_d, nets.opt_rs, nets.opt_s):
        for group in opt.param_groups if opt is not None else ():
            group["lr"] = group["initial_lr"] * factor


def build_nets(dg: DGConfig, rs: RSConfig, rdg: RDGConfig, embed_dim: int, fine_grained: bool,
               device: torch.device, embedder: nn.Module | None = None,
               speech: SpeechSide | None = None,
               attribute_sizes: tuple[int, ...] = ()) -> RDGNets:
    """Fresh, initialised networks and optimisers on ``device``; ``speech`` (already built,
    :func:`s2igan.rdg.speech.build_speech_side`) is trained along when given;
    ``attribute_sizes`` (values per attribute) sizes D's attribute head (``dg.d_attributes``)."""
    g = Generator(dg, embed_dim)
    init_weights(g)
    ds = make_discriminators(dg, g.condition_dim, sum(attribute_sizes))
    init_weights(ds)
    g, ds = g.to(device), ds.to(device)
    ema = copy.deepcopy(g).eval().requires_grad_(False)
    relation = opt_rs = None
    if rs.enabled and rs.kind == "relation":
        relation = RelationClassifier(embed_dim, rs.hidden, 3 if fine_grained else 2).to(device)
        opt_rs = _adam(relation.parameters(), rs.lr, rdg.betas, device)
    if embedder is not None:
        embedder = embedder.to(device).eval().requires_grad_(False)
    nets = RDGNets(g, ema, ds, relation, _adam(g.parameters(), rdg.lr_g, rdg.betas, device),
                   _adam(ds.parameters(), rdg.lr_d, rdg.betas, device), opt_rs, embedder,
                   attribute_sizes=tuple(attribute_sizes) if dg.d_attributes else ())
    if speech is not None:
        nets.speech = speech.to(device)
        nets.speech_ema = copy.deepcopy(nets.speech).eval().requires_grad_(False)
        nets.opt_s = _adam(nets.speech.trainable(), rdg.lr_sen or rdg.lr_g, rdg.betas, device)
    return nets


def global_statistics(nets: RDGNets) -> None:
    """Under several processes: BatchNorm over the global batch in the modules each rank runs on
    its own rows, G and the discriminators' image encoders (the EMA only evaluates); no-op in
    one process."""
    global_batch_norm(nets.generator)
    for d in nets.discriminators:
        global_batch_norm(d.encode)


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float, step: int) -> None:
    """EMA of the generator weights; warm-up ``min(decay, (1+t)/(10+t))``; buffers copied."""
    d = min(decay, (1.0 + step) / (10.0 + step))
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1.0 - d)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


def train_step(nets: RDGNets, batch: dict, dg: DGConfig, rs: RSConfig, rdg: RDGConfig,
               fine_grained: bool) -> dict[str, float]:
    """One alternating update. ``batch`` holds tensors on the nets' device:

    images: list of (B, 3, S_i, S_i) real images in [-1, 1], one per scale; y (B, E) speech
    embeddings; class_id (B,); z (B, z_dim); eps (B, ca_dim); gt / ri / mi (B, E) real image
    embeddings (RS only); wrong (B,) batch permutation + wrong_mask (B,) (mismatch term only);
    attributes (B, A) value indices of the captions' images (``dg.d_attributes`` only).
    With ``nets.speech`` the batch holds fbank (B, T, n_mels) + lengths (B,) instead of y, and
    (end_to_end) features (B, D), image_index (B,) and labels (B,) for L_SEN.
    """
    device = batch["z"].device
    g, ds = nets.generator, nets.discriminators
    g.train()
    ds.train()
    use_rs = rs.enabled and nets.embedder is not None and nets.step % rs.every == 0
    trained = nets.speech is not None
    world = world_size()
    if world > 1 and trained:
        raise ValueError("several processes (dist.nproc > 1) train the RDG with a frozen speech "
                         "encoder only (rdg.speech_encoder: frozen)")
    if trained:
        nets.speech.train()
        nets.opt_s.zero_grad(set_to_none=True)
        y = nets.speech(batch["fbank"], batch["lengths"])                    # (B, E), with grad
    else:
        y = batch["y"]                                                        # (B, E) cached
    with mixed_precision(device, rdg.amp):
        if world > 1:
            fakes, mu, logvar = _sharded_generator(g, batch["z"], y, batch["eps"])
        else:
            fakes, mu, logvar = g(batch["z"], y, batch["eps"])               # [(B,3,S,S)], (B,ca)
    if world > 1:      # the discriminators' image encoders on this rank's rows
        ds_view = [ShardedRows(d) for d in ds]
    else:
        ds_view = ds
    cond = mu if trained else mu.detach()   # a trained encoder also learns from L_D (Eq. 16)
    wrong = batch.get("wrong") if rdg.mismatch else None
    aug = augmenter(rdg.diff_augment)
    matching = (Matching(g.project(y), batch["class_id"] if fine_grained else None, dg.d_match,
                         dg.match_beta) if dg.d_match else None)
    attributes = (AttributeTargets(batch["attributes"], nets.attribute_sizes, dg.d_attributes)
                  if dg.d_attributes and nets.attribute_sizes else None)

    # -- discriminators: the per-scale D updates of Eq. (16)-(17), one optimiser step ---------
    ds.requires_grad_(True)
    nets.opt_d.zero_grad(set_to_none=True)
    with mixed_precision(device, rdg.amp):
        d_losses = [discriminator_loss(d, real, fake, cond, rdg.uncond_weight, wrong,
                                       batch.get("wrong_mask"), aug, matching, attributes)
                    for d, real, fake in zip(ds_view, batch["images"], fakes)]
        loss_d = torch.stack(d_losses).sum()
    loss_d.backward(retain_graph=trained)   # G's step goes through y and mu again
    average_gradients(ds.parameters())
    nets.opt_d.step()
    out = {f"d_loss_{i}": float(v.detach()) for i, v in enumerate(d_losses)}
    out["d_loss"] = float(loss_d.detach())

    # -- relation supervisor: classifier update of Eq. (12)/(13) ------------------------------
    fake_emb = None
    if use_rs:
        k = rs.max_images or len(fakes[-1])
        with mixed_precision(device, rdg.amp):
            fake_emb = nets.embedder(fakes[-1][:k]).float()                 # (k, E)
        if nets.relation is not None:
            nets.relation.train().requires_grad_(True)
            nets.opt_rs.zero_grad(set_to_none=True)
            loss_rs = rs_classifier_loss(nets.relation, batch["gt"][:k], batch["ri"][:k],
                                         batch["mi"][:k],
                                         fake_emb if rs.train_on_fakes else None, fine_grained)
            loss_rs.backward()
            average_gradients(nets.relation.parameters())
            nets.opt_rs.step()
            out["rs_loss"] = float(loss_rs.detach())

    # -- generator: Eq. (14)-(15) + KL; D and RS frozen so only G gets gradients --------------
    ds.requires_grad_(False)
    nets.opt_g.zero_grad(set_to_none=True)
    with mixed_precision(device, rdg.amp):
        adv = torch.stack([generator_adv_loss(d, fake, mu, rdg.uncond_weight, aug, matching,
                                              attributes)
                           for d, fake in zip(ds_view, fakes)]).sum()
    kl = kl_loss(mu.float(), logvar.float())
    loss_g = adv.float() + rdg.kl_weight * kl
    if rdg.mode_seeking:
        ms = mode_seeking_loss(fakes[-1].float(), batch["z"])
        loss_g = loss_g + rdg.mode_seeking * ms
        out["g_ms"] = float(ms.detach())
    if rdg.recon:
        rec = recon_loss(fakes, batch["images"][-1], rdg.recon_size)
        loss_g = loss_g + rdg.recon * rec
        out["g_recon"] = float(rec.detach())
    if fake_emb is not None:
        if nets.relation is not None:
            nets.relation.eval().requires_grad_(False)
            sup = rs_generator_loss(nets.relation, batch["gt"][:k], fake_emb)
        else:
            sup = damsm_matching_loss(y[:k, :g.embed_dim], fake_emb, batch["class_id"][:k], rs.beta)
        loss_g = loss_g + rs.weight * sup
        out["g_rs"] = float(sup.detach())
    total = loss_g
    if trained and nets.speech.mode == "end_to_end":
        sen = end_to_end_sen_losses(nets.speech, y, batch, fine_grained)
        total = loss_g + rdg.sen_weight * sen["loss"]
        out.update({"sen_loss" if k == "loss" else f"sen_{k}": float(v.detach())
                    for k, v in sen.items()})
    total.backward()
    average_gradients(g.parameters())
    nets.opt_g.step()
    ds.requires_grad_(True)
    nets.step += 1
    update_ema(nets.ema, g, rdg.ema_decay, nets.step)
    if trained:                             # L_D + L_G (+ sen_weight L_SEN) gradients, one step
        nets.opt_s.step()
        update_ema(nets.speech_ema, nets.speech, rdg.ema_decay, nets.step)
    out.update(g_adv=float(adv.detach()), kl=float(kl.detach()), g_loss=float(loss_g.detach()))
    return out


def _sharded_generator(g: Generator, z: torch.Tensor, y: torch.Tensor, eps: torch.Tensor):
    """G on this rank's rows of the global batch; its images, mu and logvar gathered back to the
    global batch with gradient."""
    n = len(z)
    part = shard(n)
    fakes, mu, logvar = g(z[part], y[part], eps[part])
    return [gather_rows(f, n) for f in fakes], gather_rows(mu, n), gather_rows(logvar, n)


def end_to_end_sen_losses(speech: SpeechSide, y: torch.Tensor, batch: dict,
                          fine_grained: bool) -> dict[str, torch.Tensor]:
    """L_SEN of ``rdg.speech_encoder: end_to_end`` on the batch: Eq. (8) between the speech
    embeddings ``y (B, E)`` and the SEN image embeddings of the captions' images; the mask M of
    Eq. (4) keys on the class (fine-grained) or the image (scene), as the `sen` stage."""
    keys = batch["class_id"] if fine_grained else batch["image_index"]
    return speech.sen_losses(y, batch["features"], keys, batch["labels"])
