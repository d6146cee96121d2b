"""RDG (Sec. III-C): shapes for every ablation switch, exact sub-pixel upsampling, relation
supervisor labels/losses by hand, a one-step dry run, and resume == uninterrupted training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import E, TinyBackbone, TinyImageEncoder, tiny_dg

from s2igan.checkpoint import load_checkpoint
from s2igan.rdg.config import DGConfig, RDGConfig, RSConfig
from s2igan.rdg.data import TrainData
from s2igan.rdg.discriminator import make_discriminators
from s2igan.rdg.generator import Generator, UpConv3x3
from s2igan.rdg.losses import Matching, match_loss, mode_seeking_loss
from s2igan.rdg.relation import (NEGATIVE, POSITIVE, UNDESIRED, ImageEmbedder, RelationClassifier,
                                 damsm_matching_loss, relation_pairs, rs_classifier_loss,
                                 rs_generator_loss)
from s2igan.rdg.run import final_metrics
from s2igan.rdg.step import build_nets, lr_factor, train_step
from s2igan.rdg.train import LOSS_KEYS, SampleSpec, train_rdg


@pytest.mark.parametrize("sizes", [(16, 32), (16, 32, 64)])
@pytest.mark.parametrize("dense", [True, False])
def test_generator_and_discriminator_shapes(sizes, dense):
    dg = tiny_dg(sizes, dense)
    g = Generator(dg, E)
    z, y = torch.randn(3, 8), F.normalize(torch.randn(3, E), dim=1)
    imgs, mu, logvar = g(z, y)
    assert [tuple(x.shape) for x in imgs] == [(3, 3, s, s) for s in sizes]
    assert all(x.abs().max() <= 1 for x in imgs) and mu.shape == logvar.shape == (3, 6)
    for d, x in zip(make_discriminators(dg), imgs):
        code = d(x)
        assert code.shape[-2:] == (4, 4)
        assert d.uncond_logits(code).shape == (3,) and d.cond_logits(code, mu).shape == (3,)


def test_dense_switch_changes_the_last_stage_inputs():
    dense, plain = Generator(tiny_dg((16, 32, 64), True), E), Generator(tiny_dg((16, 32, 64), False), E)
    # F_2 of the dense generator also reads h_0 (16 channels) besides h_1 (8 channels).
    assert dense.stages[1].joint.in_channels == 8 + 16
    assert plain.stages[1].joint.in_channels == 8


def test_subpixel_upconv_equals_nearest_upsample_then_conv():
    m = UpConv3x3(5, 7).double()
    x = torch.randn(2, 5, 6, 7, dtype=torch.float64, requires_grad=True)
    ref = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), m.weight, padding=1)
    out = m(x)
    assert torch.allclose(out, ref, atol=1e-12)
    g1, = torch.autograd.grad(out.sum(), x)
    g2, = torch.autograd.grad(ref.sum(), x)
    assert torch.allclose(g1, g2, atol=1e-12)


def test_relation_pairs_and_labels():
    gt, ri, mi = (torch.full((2, 3), v) for v in (1.0, 2.0, 3.0))
    first, second, labels = relation_pairs(gt, ri, mi, fine_grained=True)   # Eq. (12)
    assert labels.tolist() == [POSITIVE] * 2 + [NEGATIVE] * 2 + [UNDESIRED] * 2
    assert second[:, 0].tolist() == [2, 2, 3, 3, 1, 1] and (first == 1).all()
    first, second, labels = relation_pairs(gt, None, mi, fine_grained=False)  # Eq. (13)
    assert labels.tolist() == [POSITIVE] * 2 + [NEGATIVE] * 2
    assert second[:, 0].tolist() == [1, 1, 3, 3]


class ConstantRelation(RelationClassifier):
    """Fixed logits so the losses can be checked by hand."""

    def forward(self, a, b):
        return torch.log(torch.tensor([[0.5, 0.25, 0.25]])).expand(len(a), 3)


def test_rs_losses_by_hand():
    clf = ConstantRelation(3)
    x = torch.zeros(4, 3)
    # Eq. (12): three real relations + (GT, fake) as L1 = -log .5 - log .25 - log .25 - log .5
    expected = -2 * math.log(0.5) - 2 * math.log(0.25)
    assert rs_classifier_loss(clf, x, x, x, x, True).item() == pytest.approx(expected)
    assert rs_generator_loss(clf, x, x).item() == pytest.approx(-math.log(0.5))


def test_damsm_loss_by_hand():
    s = torch.eye(2)
    loss = damsm_matching_loss(s, s, None, beta=1.0)      # cos = identity matrix
    p = math.exp(1) / (math.exp(1) + 1)
    assert loss.item() == pytest.approx(-2 * math.log(p))
    same_class = damsm_matching_loss(s, s, torch.tensor([0, 0]), beta=1.0)   # Eq. (4) mask
    assert same_class.item() == pytest.approx(0.0, abs=1e-6)


def tiny_data(n_classes=3, per_class=2, captions=2, sizes=(16, 32), seed=0) -> TrainData:
    rng = np.random.default_rng(seed)
    n = n_classes * per_class
    classes = np.repeat(np.arange(n_classes), per_class)
    images = [torch.from_numpy(rng.integers(0, 256, (n, 3, s, s), dtype=np.uint8)) for s in sizes]
    speech = F.normalize(torch.randn(n * captions, E, generator=torch.Generator().manual_seed(seed)),
                         dim=1).numpy()
    data = TrainData(images, np.array([f"i{i}" for i in range(n)]), classes, speech,
                     np.repeat(np.arange(n), captions))
    data.image_emb = F.normalize(torch.from_numpy(rng.normal(size=(n, E)).astype(np.float32)),
                                 dim=1).numpy()
    return data


@pytest.mark.parametrize("rs", [RSConfig(enabled=False), RSConfig(kind="relation", hidden=8),
                                RSConfig(kind="damsm"), RSConfig(hidden=8, max_images=2)])
def test_one_training_step_dry_run(rs, tmp_path):
    dg = tiny_dg()
    rdg = RDGConfig(epochs=1, batch_size=4, device="cpu")
    embedder = ImageEmbedder(TinyBackbone(), TinyImageEncoder())
    torch.manual_seed(0)
    out = train_rdg(tiny_data(), dg, rs, rdg, fine_grained=True, model_dir=tmp_path / "m",
                    report_dir=tmp_path / "r", embedder=embedder, max_steps=1,
                    samples=SampleSpec(torch.randn(2, E), torch.zeros(2, 3, 32, 32, dtype=torch.uint8)))
    assert all(math.isfinite(v) for v in out.values())
    assert ("g_rs" in out) == rs.enabled and ("rs_loss" in out) == (rs.enabled and rs.kind == "relation")
    assert (tmp_path / "m" / "last.pt").is_file() and (tmp_path / "m" / "generator.pt").is_file()
    assert (tmp_path / "r" / "samples" / "epoch_001.png").is_file()
    assert (tmp_path / "r" / "loss.csv").read_text().startswith("epoch,")
    final = final_metrics(tmp_path / "r" / "loss.csv")  # the stage's metrics.json
    logged = [k for k in LOSS_KEYS if k in out]  # the curves are train/<k> for these
    assert set(final) == {"epochs", "time/train_seconds", *(f"final/{k}" for k in logged)}
    assert final["epochs"] == 1 and final["time/train_seconds"] >= 0
    for k in logged:
        assert final[f"final/{k}"] == pytest.approx(out[k], abs=1e-6)


def _step_batch(b: int = 4) -> dict:
    """One step's tensors for :func:`tiny_dg` (16/32 px), two classes of two captions."""
    return {"images": [torch.rand(b, 3, s, s) * 2 - 1 for s in (16, 32)],
            "y": F.normalize(torch.randn(b, E), dim=1), "class_id": torch.tensor([0, 0, 1, 1]),
            "z": torch.randn(b, 8), "eps": torch.randn(b, 6),
            "gt": torch.randn(b, E), "ri": torch.randn(b, E), "mi": torch.randn(b, E),
            "wrong": torch.tensor([3, 0, 1, 2]), "wrong_mask": torch.ones(b)}


def test_cond_norm_modulates_batch_norm_by_the_condition():
    """dg.cond_norm: BN(x) * (1 + gamma(c)) + beta(c), starting as plain BN (gamma = beta = 0)."""
    from dataclasses import replace

    from s2igan.rdg.generator import CondBatchNorm2d, init_weights
    torch.manual_seed(0)
    norm = CondBatchNorm2d(3, 5)
    nn.init.normal_(norm.affine.weight)
    nn.init.normal_(norm.affine.bias)
    x, c = torch.randn(4, 3, 2, 2), torch.randn(4, 5)
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    plain = (x - mean) / torch.sqrt(var + 1e-5)          # BN in training mode, unit scale
    gb = c @ norm.affine.weight.T + norm.affine.bias       # (4, 6)
    expected = plain * (1 + gb[:, :3, None, None]) + gb[:, 3:, None, None]
    assert torch.allclose(norm(x, c), expected, atol=1e-5)
    # in the generator: zero at the start, and trained (gradients reach gamma/beta)
    g = Generator(replace(tiny_dg(), cond_norm=True), E)
    init_weights(g)
    norms = [m for m in g.modules() if isinstance(m, CondBatchNorm2d)]
    assert len(norms) >= 5 and all(m.affine is not None for m in norms)
    assert all(not m.affine.weight.any() and not m.affine.bias.any() for m in norms)
    images, _, _ = g(torch.randn(4, 8), torch.randn(4, E))
    sum(im.square().mean() for im in images).backward()
    assert all(m.affine.weight.grad.abs().sum() > 0 for m in norms)
    assert not any(isinstance(m, CondBatchNorm2d) and m.affine is not None
                   for m in Generator(tiny_dg(), E).modules())          # off: plain BatchNorm


def test_step_updates_generator_and_discriminators():
    dg, rs, rdg = tiny_dg(), RSConfig(hidden=8), RDGConfig(batch_size=4, device="cpu")
    embedder = ImageEmbedder(TinyBackbone(), TinyImageEncoder())
    nets = build_nets(dg, rs, rdg, E, True, torch.device("cpu"), embedder)
    before_g = [p.clone() for p in nets.generator.parameters()]
    before_d = [p.clone() for p in nets.discriminators.parameters()]
    before_e = [p.clone() for p in embedder.parameters()]
    batch = _step_batch()
    train_step(nets, batch, dg, rs, rdg, True)
    assert any(not torch.equal(a, p) for a, p in zip(before_g, nets.generator.parameters()))
    assert any(not torch.equal(a, p) for a, p in zip(before_d, nets.discriminators.parameters()))
    assert all(torch.equal(a, p) for a, p in zip(before_e, embedder.parameters()))  # frozen
    assert nets.step == 1


def _tiny_samples() -> SampleSpec:
    return SampleSpec(torch.randn(2, E), torch.zeros(2, 3, 32, 32, dtype=torch.uint8))


def _state(path):
    ckpt = load_checkpoint(path)   # weights_only=True: plain tensors, numbers, strings
    return ckpt["generator_ema"], ckpt["discriminators"], ckpt["history"]


def test_resume_equals_uninterrupted(tmp_path):
    dg, rs = tiny_dg(), RSConfig(hidden=8)
    embedder = ImageEmbedder(TinyBackbone(), TinyImageEncoder())
    kw = dict(fine_grained=True, embedder=embedder, max_steps=2)
    train_rdg(tiny_data(), dg, rs, RDGConfig(epochs=2, batch_size=4, device="cpu"),
              model_dir=tmp_path / "a", report_dir=tmp_path / "ra", **kw)
    train_rdg(tiny_data(), dg, rs, RDGConfig(epochs=1, batch_size=4, device="cpu"),
              model_dir=tmp_path / "b", report_dir=tmp_path / "rb", **kw)
    train_rdg(tiny_data(), dg, rs, RDGConfig(epochs=2, batch_size=4, device="cpu"),
              model_dir=tmp_path / "b", report_dir=tmp_path / "rb", **kw)
    ga, da, ha = _state(tmp_path / "a" / "last.pt")
    gb, db, hb = _state(tmp_path / "b" / "last.pt")
    for k in ga:
        assert torch.allclose(ga[k].float(), gb[k].float(), atol=1e-6), k
    for k in da:
        assert torch.allclose(da[k].float(), db[k].float(), atol=1e-6), k
    assert [h["epoch"] for h in hb] == [1, 2]
    assert [round(h["d_loss"], 4) for h in ha] == [round(h["d_loss"], 4) for h in hb]
    final = final_metrics(tmp_path / "rb" / "loss.csv")  # counts the resumed epoch too
    assert final["epochs"] == 2 and final["final/d_loss"] == hb[-1]["d_loss"]
    assert final["time/train_seconds"] == pytest.approx(sum(h["seconds"] for h in hb), abs=0.011)


def test_resume_refuses_other_data_and_longer_runs(tmp_path):
    dg, rs = tiny_dg(), RSConfig(enabled=False)
    kw = dict(fine_grained=True, max_steps=1, model_dir=tmp_path / "m", report_dir=tmp_path / "r")
    train_rdg(tiny_data(), dg, rs, RDGConfig(epochs=2, batch_size=4, device="cpu"), **kw)
    first = _state(tmp_path / "m" / "last.pt")[2]
    # other speech embeddings (a retrained SEN): start again instead of resuming
    train_rdg(tiny_data(seed=1), dg, rs, RDGConfig(epochs=3, batch_size=4, device="cpu"), **kw)
    again = _state(tmp_path / "m" / "last.pt")[2]
    assert [h["epoch"] for h in again] == [1, 2, 3]
    assert [h["d_loss"] for h in again[:2]] != [h["d_loss"] for h in first]  # retrained
    assert len((tmp_path / "r" / "loss.csv").read_text().splitlines()) == 4
    # fewer epochs than the checkpoint holds: start again, never keep the longer model
    train_rdg(tiny_data(seed=1), dg, rs, RDGConfig(epochs=1, batch_size=4, device="cpu"), **kw)
    assert [h["epoch"] for h in _state(tmp_path / "m" / "last.pt")[2]] == [1]
    # the same finished run again (DVC re-runs it only when something changed): trained afresh,
    # with its sample grid drawn again instead of a report without pictures
    done = _state(tmp_path / "m" / "last.pt")[2]
    samples = tmp_path / "r" / "samples"
    train_rdg(tiny_data(seed=1), dg, rs, RDGConfig(epochs=1, batch_size=4, device="cpu"),
              samples=_tiny_samples(), **kw)
    again = _state(tmp_path / "m" / "last.pt")[2]
    assert [h["epoch"] for h in again] == [1] and again[0]["d_loss"] == done[0]["d_loss"]
    assert (samples / "epoch_001.png").is_file()


def test_resume_refuses_a_checkpoint_of_other_code(tmp_path, monkeypatch):
    """An unfinished checkpoint is continued by the same code only (marked history row kept),
    and trained afresh after an edit of the RDG code (the mark is gone)."""
    import s2igan.rdg.train as train_mod
    from s2igan.checkpoint import save_checkpoint
    dg, rs = tiny_dg(), RSConfig(enabled=False)
    kw = dict(fine_grained=True, max_steps=1, model_dir=tmp_path / "m", report_dir=tmp_path / "r")
    last = tmp_path / "m" / "last.pt"

    def first_epoch_marked():
        train_rdg(tiny_data(), dg, rs, RDGConfig(epochs=1, batch_size=4, device="cpu"), **kw)
        ckpt = load_checkpoint(last)
        ckpt["history"][0]["d_loss"] = 123.0
        save_checkpoint(last, ckpt)

    first_epoch_marked()
    train_rdg(tiny_data(), dg, rs, RDGConfig(epochs=2, batch_size=4, device="cpu"), **kw)
    assert [h["d_loss"] for h in _state(last)[2]][0] == 123.0          # resumed
    first_epoch_marked()
    monkeypatch.setattr(train_mod, "code_fingerprint", lambda *names: "edited")
    train_rdg(tiny_data(), dg, rs, RDGConfig(epochs=2, batch_size=4, device="cpu"), **kw)
    hist = _state(last)[2]
    assert [h["epoch"] for h in hist] == [1, 2] and hist[0]["d_loss"] != 123.0   # afresh
    assert load_checkpoint(last)["fingerprint"].endswith(":edited")


def test_code_fingerprint_follows_the_sources(tmp_path, monkeypatch):
    import s2igan.checkpoint as ck
    pkg = tmp_path / "s2igan"
    (pkg / "rdg").mkdir(parents=True)
    (pkg / "rdg" / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(ck, "__file__", str(pkg / "checkpoint.py"))
    before = ck.code_fingerprint("rdg")
    (pkg / "rdg" / "a.py").write_text("x = 2\n")
    assert ck.code_fingerprint("rdg") != before


def test_translation_augment_shifts_within_bounds_and_passes_gradients():
    from s2igan.rdg.augment import augmenter, translate

    torch.manual_seed(0)
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0                                   # one bright pixel at the centre
    out = translate(x)
    assert out.shape == x.shape
    pos = out.flatten(1).argmax(1)
    rows, cols = pos // 16, pos % 16
    assert ((rows - 8).abs() <= 2).all() and ((cols - 8).abs() <= 2).all()   # pad = 16/8
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 5                    # per-image shifts
    assert torch.equal(out.sum(dim=(1, 2, 3)), torch.ones(64))                # nothing lost
    y = torch.rand(2, 3, 16, 16, requires_grad=True)
    translate(y).sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    assert augmenter("none") is None and augmenter("translation") is translate
    with pytest.raises(ValueError):
        RDGConfig(diff_augment="colour")


def test_augmented_step_runs_and_standardized_condition_scales_input():
    dg = DGConfig(**{**tiny_dg().__dict__, "standardize_condition": True})
    g = Generator(dg, E)
    assert g.ca.scale == pytest.approx(E ** 0.5) and Generator(tiny_dg(), E).ca.scale == 1.0
    y = F.normalize(torch.randn(3, E), dim=1)
    h = g.ca.glu(g.ca.fc(y * E ** 0.5))
    assert torch.allclose(g.ca(y, torch.zeros(3, 6))[1], h[:, :6])
    rdg = RDGConfig(batch_size=4, device="cpu", diff_augment="translation")
    nets = build_nets(dg, RSConfig(enabled=False), rdg, E, True, torch.device("cpu"))
    b = 4
    batch = {"images": [torch.rand(b, 3, s, s) * 2 - 1 for s in (16, 32)],
             "y": F.normalize(torch.randn(b, E), dim=1), "class_id": torch.tensor([0, 0, 1, 1]),
             "z": torch.randn(b, 8), "eps": torch.randn(b, 6)}
    out = train_step(nets, batch, dg, RSConfig(enabled=False), rdg, True)
    assert all(math.isfinite(v) for v in out.values())


def test_config_refuses_bad_scales():
    with pytest.raises(ValueError):
        DGConfig(image_sizes=(32, 48))
    with pytest.raises(ValueError):
        RSConfig(kind="attention")
    with pytest.raises(ValueError):
        RSConfig(input_size=64, real_features="cached")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_amp_step_on_gpu():
    dg, rs, rdg = tiny_dg(), RSConfig(enabled=False), RDGConfig(batch_size=4, device="cuda", amp=True)
    nets = build_nets(dg, rs, rdg, E, True, torch.device("cuda"))
    dev = torch.device("cuda")
    batch = {"images": [torch.rand(4, 3, s, s, device=dev) * 2 - 1 for s in (16, 32)],
             "y": torch.randn(4, E, device=dev), "class_id": torch.arange(4, device=dev),
             "z": torch.randn(4, 8, device=dev), "eps": torch.randn(4, 6, device=dev)}
    out = train_step(nets, batch, dg, rs, rdg, True)
    assert all(math.isfinite(v) for v in out.values())


def test_projection_head_scores_pooled_code_times_condition_by_hand():
    dg = DGConfig(image_sizes=(16, 32), ngf=16, ndf=4, z_dim=8, ca_dim=6, res_blocks=1,
                  d_condition="projection")
    d = make_discriminators(dg)[0].eval()
    torch.manual_seed(0)
    code, c = torch.randn(3, d.code_ch, 4, 4), torch.randn(3, 6)
    # Miyato & Koyama: psi(code) + <W c, mean-pooled code>
    want = d.cond(code).flatten() + ((c @ d.embed.weight.t()) * code.mean(dim=(2, 3))).sum(1)
    torch.testing.assert_close(d.cond_logits(code, c), want)
    # the condition matters, and the concat head's layers are not built
    assert not torch.allclose(d.cond_logits(code, c), d.cond_logits(code, -c))
    assert not hasattr(d, "joint")
    with pytest.raises(ValueError, match="d_condition"):
        DGConfig(d_condition="bilinear")


def test_relation_supervisor_every_k_steps():
    dg, rdg = tiny_dg(), RDGConfig(batch_size=4, device="cpu")
    rs = RSConfig(hidden=8, every=2)
    nets = build_nets(dg, rs, rdg, E, True, torch.device("cpu"),
                      ImageEmbedder(TinyBackbone(), TinyImageEncoder()))
    batch = _step_batch()
    ran = ["g_rs" in train_step(nets, batch, dg, rs, rdg, True) for _ in range(4)]
    assert ran == [True, False, True, False]
    with pytest.raises(ValueError, match="every"):
        RSConfig(every=0)


def test_rs_classifier_without_fake_pairs_is_the_real_relations_only():
    clf = ConstantRelation(3)
    x = torch.zeros(4, 3)
    # Eq. (12) without -log P(L1 | R_GT-FI): -log .5 - log .25 - log .25
    want = -math.log(0.5) - 2 * math.log(0.25)
    assert rs_classifier_loss(clf, x, x, x, None, True).item() == pytest.approx(want)
    # the switch reaches the step: the classifier loss drops the fake term
    dg, rdg = tiny_dg(), RDGConfig(batch_size=4, device="cpu")
    losses = {}
    for flag in (True, False):
        rs = RSConfig(hidden=8, train_on_fakes=flag)
        torch.manual_seed(0)
        nets = build_nets(dg, rs, rdg, E, True, torch.device("cpu"),
                          ImageEmbedder(TinyBackbone(), TinyImageEncoder()))
        nets.relation = ConstantRelation(3)
        nets.relation.forward = lambda a, b, w=nets.relation.net[0].weight: (   # a graph, fixed values
            ConstantRelation.forward(None, a, b) + 0 * w.sum())
        nets.opt_rs = torch.optim.SGD(nets.relation.parameters(), lr=0.0)
        losses[flag] = train_step(nets, _step_batch(), dg, rs, rdg, True)["rs_loss"]
    assert losses[True] == pytest.approx(want - math.log(0.5))
    assert losses[False] == pytest.approx(want)


def test_matching_head_loss_by_hand_and_its_gradients():
    dg = DGConfig(image_sizes=(16, 32), ngf=16, ndf=4, z_dim=8, ca_dim=6, res_blocks=1,
                  d_match=0.5, match_beta=3.0)
    with pytest.raises(ValueError, match="embedding size"):
        make_discriminators(dg)
    with pytest.raises(ValueError, match="d_match"):
        DGConfig(d_match=-1.0)
    assert all(d.match is None for d in make_discriminators(tiny_dg(), E))   # off: no head
    d = make_discriminators(dg, E)[0].eval()
    torch.manual_seed(0)
    code, y = torch.randn(4, d.code_ch, 4, 4), F.normalize(torch.randn(4, E), dim=1)
    cls = torch.tensor([0, 0, 1, 2])
    # independent computation of Eq. (3)-(6) on W * pooled code, same-class pair masked
    v = F.normalize(code.mean(dim=(2, 3)) @ d.match.weight.t() + d.match.bias, dim=1)
    s = 3.0 * y @ v.t()
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[0, 1] = mask[1, 0] = True
    s = s.masked_fill(mask, float("-inf"))
    want = 0.5 * (F.cross_entropy(s, torch.arange(4)) + F.cross_entropy(s.t(), torch.arange(4)))
    got = match_loss(d, code, Matching(y, cls, 0.5, 3.0))
    torch.testing.assert_close(got, want)
    assert match_loss(d, code, None) == 0.0
    # in a step, D's head learns from real images and G gets the head's gradient on its fakes
    rs, rdg = RSConfig(enabled=False), RDGConfig(batch_size=4, device="cpu")
    nets = build_nets(dg, rs, rdg, E, True, torch.device("cpu"))
    head = [x.match.weight.clone() for x in nets.discriminators]
    out = train_step(nets, _step_batch(), dg, rs, rdg, True)
    assert all(math.isfinite(v) for v in out.values())
    assert all(not torch.equal(h, x.match.weight) for h, x in zip(head, nets.discriminators))
    fakes, mu, _ = nets.generator(torch.randn(4, 8), F.normalize(torch.randn(4, E), dim=1))
    only_match = match_loss(nets.discriminators[1], nets.discriminators[1](fakes[1]),
                            Matching(F.normalize(torch.randn(4, E), dim=1), None, 1.0))
    grads = torch.autograd.grad(only_match, list(nets.generator.parameters()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_mode_seeking_loss_by_hand_and_paired_batches(tmp_path):
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [1.0, 3.0]])
    x = torch.zeros(4, 3, 2, 2)
    x[2] += 0.5                                     # pair (0, 2) differs by 0.5, pair (1, 3) by 0
    # pair 0: 1 / (0.5 / 1.0 + eps); pair 1: 1 / (0 / 1.0 + eps)
    want = (1 / (0.5 + 1e-5) + 1 / 1e-5) / 2
    assert mode_seeking_loss(x, z).item() == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="mode_seeking"):
        RDGConfig(mode_seeking=-1.0)
    # in training, rows i and i + B/2 share a caption (same speech embedding and real image)
    seen = []
    import s2igan.rdg.train as train_mod
    real_step = train_mod.train_step

    def spy(nets, batch, *args):
        seen.append(batch)
        return real_step(nets, batch, *args)

    train_mod.train_step = spy
    try:
        out = train_rdg(tiny_data(), tiny_dg(), RSConfig(enabled=False),
                        RDGConfig(epochs=1, batch_size=4, device="cpu", mode_seeking=1.0),
                        fine_grained=True, model_dir=tmp_path / "m", report_dir=tmp_path / "r",
                        max_steps=1)
    finally:
        train_mod.train_step = real_step
    y, z = seen[0]["y"], seen[0]["z"]
    assert torch.equal(y[:2], y[2:]) and not torch.equal(z[:2], z[2:])
    assert "g_ms" in out and math.isfinite(out["g_ms"])


def test_recon_loss_matches_a_hand_computation():
    """rdg.recon: mean |pool(fake) - pool(real)| at recon_size, summed over the scales."""
    from s2igan.rdg.losses import recon_loss
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (2, 3, 4, 4))
    fakes = [rng.uniform(-1, 1, (2, 3, 2, 2)), rng.uniform(-1, 1, (2, 3, 4, 4))]

    def pool(x, size):   # block means
        f = x.shape[-1] // size
        return x.reshape(*x.shape[:2], size, f, size, f).mean(axis=(3, 5))

    want = sum(np.abs(pool(f, 2) - pool(real, 2)).mean() for f in fakes)
    got = recon_loss([torch.tensor(f, dtype=torch.float32) for f in fakes],
                     torch.tensor(real, dtype=torch.float32), 2)
    assert float(got) == pytest.approx(want, rel=1e-5)
    # the fake equal to the real image at the pooled scale costs nothing there
    assert float(recon_loss([torch.tensor(real)], torch.tensor(real), 2)) == 0.0


def test_rdg_summary_line(tmp_path):
    from s2igan.rdg.run import final_metrics, summary_line
    csv = tmp_path / "loss.csv"
    csv.write_text("epoch,d_loss,g_adv,seconds\n1,3.0,2.0,60\n2,2.5,1.5,90\n")
    assert summary_line(final_metrics(csv), tmp_path) == (
        f"rdg: 2 epochs in 2.5 min; last epoch's mean losses: d_loss 2.500, g_adv 1.500. "
        f"Sample grids in {tmp_path / 'samples'}")
    assert summary_line(final_metrics(tmp_path / "none.csv"), tmp_path).startswith(
        "rdg: no epoch trained")


def test_lr_factor_constant_then_linear_to_zero():
    assert [lr_factor(s, 10, 1.0) for s in range(10)] == [1.0] * 10
    got = [lr_factor(s, 10, 0.5) for s in range(10)]
    assert got == pytest.approx([1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2])
    assert [lr_factor(s, 4, 0.0) for s in range(4)] == pytest.approx([1, 0.75, 0.5, 0.25])


def test_training_decays_every_learning_rate(tmp_path):
    """4 epochs of one step, decay from half way: the last step (step 3) runs at
    (4 - 3) / (4 - 2) = 0.5 of each optimiser's rate, G, D and the RS classifier alike."""
    dg, rs = tiny_dg(), RSConfig(hidden=8, lr=0.0003)
    embedder = ImageEmbedder(TinyBackbone(), TinyImageEncoder())
    rdg = RDGConfig(epochs=4, batch_size=4, device="cpu", lr_g=0.001, lr_d=0.002,
                    lr_decay_from=0.5)
    train_rdg(tiny_data(), dg, rs, rdg, fine_grained=True, embedder=embedder,
              model_dir=tmp_path / "m", report_dir=tmp_path / "r")
    ckpt = load_checkpoint(tmp_path / "m" / "last.pt")
    assert ckpt["step"] == 4
    for key, lr in (("opt_g", 0.001), ("opt_d", 0.002), ("opt_rs", 0.0003)):
        assert ckpt[key]["param_groups"][0]["lr"] == pytest.approx(0.5 * lr), key


def test_resume_under_lr_decay_needs_the_same_epoch_count(tmp_path):
    """The decay's schedule depends on the total: an unfinished run of another epoch count is
    trained afresh (marked history row gone), where a constant rate resumes it."""
    from s2igan.checkpoint import save_checkpoint
    dg, rs = tiny_dg(), RSConfig(enabled=False)
    kw = dict(fine_grained=True, max_steps=1, model_dir=tmp_path / "m", report_dir=tmp_path / "r")
    last = tmp_path / "m" / "last.pt"
    for decay_from, resumed in ((1.0, True), (0.5, False)):
        train_rdg(tiny_data(), dg, rs, RDGConfig(epochs=2, batch_size=4, device="cpu",
                                                 lr_decay_from=decay_from), **kw)
        ckpt = load_checkpoint(last)
        ckpt["history"][0]["d_loss"] = 123.0
        ckpt["epoch"] = 0                  # as if stopped after its first epoch
        save_checkpoint(last, ckpt)
        train_rdg(tiny_data(), dg, rs, RDGConfig(epochs=3, batch_size=4, device="cpu",
                                                 lr_decay_from=decay_from), **kw)
        assert (_state(last)[2][0]["d_loss"] == 123.0) is resumed, decay_from
