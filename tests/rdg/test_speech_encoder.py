"""rdg.speech_encoder (Table IV "w/o SEN" and "end-to-end"): tiny training runs of every mode
(the speech encoder's weights move in joint / end_to_end, the cached embeddings are all frozen
reads), L_SEN and the composition L_G + sen_weight * L_SEN against a hand computation, and the
default (frozen) generator weights pinned to those of the code before the switch existed."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import E, TINY_SEN, TinyBackbone, TinyImageEncoder, tiny_dg

from s2igan.arrays import Ragged
from s2igan.checkpoint import load_checkpoint, save_checkpoint
from s2igan.config import ConfigError, to_dict
from s2igan.rdg.config import SPEECH_ENCODER_FILE, RDGConfig, RSConfig
from s2igan.rdg.data import TrainData
from s2igan.rdg.relation import ImageEmbedder
from s2igan.rdg.speech import SpeechSide, build_speech_side
from s2igan.rdg.step import build_nets, end_to_end_sen_losses, train_step
from s2igan.rdg.train import SampleSpec, make_batch, train_rdg
from s2igan.sen.checkpoint import build_encoders, load_sen
from s2igan.sen.model import ImageEncoder

N_CLASSES, PER_CLASS, CAPTIONS, FEAT = 3, 2, 2, 8


def _fbank_data(sizes=(16, 32), seed=0) -> TrainData:
    """6 images (3 classes), 2 captions each as random 40-bin filterbanks of 20-40 frames, and
    an 8-d backbone feature per image."""
    rng = np.random.default_rng(seed)
    n = N_CLASSES * PER_CLASS
    classes = np.repeat(np.arange(N_CLASSES), PER_CLASS)
    caption_image = np.repeat(np.arange(n), CAPTIONS)
    items = [rng.normal(size=(int(rng.integers(20, 40)), 40)).astype(np.float32)
             for _ in caption_image]
    index = pd.DataFrame({"id": [f"c{k}" for k in range(len(items))],
                          "image_id": [f"i{i}" for i in caption_image],
                          "class_id": classes[caption_image]})
    images = [torch.from_numpy(rng.integers(0, 256, (n, 3, s, s), dtype=np.uint8)) for s in sizes]
    data = TrainData(images, np.array([f"i{i}" for i in range(n)]), classes, None, caption_image,
                     fbank=Ragged.from_list(items, index),
                     features=rng.normal(size=(n, FEAT)).astype(np.float32))
    data.image_emb = F.normalize(torch.from_numpy(rng.normal(size=(n, E)).astype(np.float32)),
                                 dim=1).numpy()
    return data


@pytest.fixture()
def pretrained_sen(tmp_path):
    """A SEN checkpoint of TINY_SEN with a distinctive classifier over the 3 classes."""
    torch.manual_seed(1)
    dims = {"feat_dim": FEAT, "n_mels": 40, "n_classes": N_CLASSES}
    speech, image = build_encoders(TINY_SEN, dims)
    path = tmp_path / "best.pt"
    save_checkpoint(path, {"speech_encoder": speech.state_dict(),
                           "image_encoder": image.state_dict(),
                           "classifier": nn.Linear(E, N_CLASSES).state_dict(),
                           "config": to_dict(TINY_SEN), "dims": dims})
    return path


def _side(mode, path) -> SpeechSide:
    torch.manual_seed(0)
    return build_speech_side(mode, TINY_SEN, 40, FEAT, N_CLASSES, path)


def _copy(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def _moved(before: dict, module: nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items()
               if v.is_floating_point())


def _samples(data: TrainData) -> SampleSpec:
    x, lengths = torch.zeros(2, 30, 40), torch.tensor([30, 25])
    return SampleSpec(None, torch.zeros(2, 3, 32, 32, dtype=torch.uint8), x, lengths)


@pytest.mark.parametrize("mode", ["joint", "end_to_end"])
def test_tiny_run_trains_the_speech_encoder_and_saves_it(mode, pretrained_sen, tmp_path):
    side = _side(mode, pretrained_sen)
    state = load_checkpoint(pretrained_sen)
    start = {"speech": _copy(side.speech), "image": _copy(side.image)}
    # joint starts from random weights, end_to_end from the pretrained SEN; both keep its
    # image encoder
    same = all(torch.equal(state["speech_encoder"][k], v) for k, v in start["speech"].items())
    assert same == (mode == "end_to_end")
    assert all(torch.equal(state["image_encoder"][k], v) for k, v in start["image"].items())
    embedder = ImageEmbedder(TinyBackbone(), TinyImageEncoder())
    rs_before = _copy(embedder)
    rdg = RDGConfig(epochs=2, batch_size=4, device="cpu", speech_encoder=mode, mode_seeking=1.0)
    means = train_rdg(_fbank_data(), tiny_dg(), RSConfig(hidden=8), rdg, fine_grained=True,
                      model_dir=tmp_path / "m", report_dir=tmp_path / "r", embedder=embedder,
                      samples=_samples(None), max_steps=2, speech=side)
    assert _moved(start["speech"], side.speech)                     # trained by the GAN (+ SEN)
    assert _moved(start["image"], side.image) == (mode == "end_to_end")   # L_SEN reaches it
    assert not _moved(rs_before, embedder)                          # the RS stays frozen
    assert ("sen_loss" in means) == (mode == "end_to_end")
    loss_csv = pd.read_csv(tmp_path / "r/loss.csv")
    assert ("sen_match" in loss_csv) == (mode == "end_to_end")
    assert (tmp_path / "r/samples/epoch_002.png").is_file()
    # the EMA encoder, as a SEN checkpoint, beside the generator
    speech, image, cfg = load_sen(tmp_path / "m" / SPEECH_ENCODER_FILE)
    assert cfg == TINY_SEN and image is not None
    ckpt = load_checkpoint(tmp_path / "m" / SPEECH_ENCODER_FILE)
    assert ckpt["trained_by"] == f"rdg.speech_encoder: {mode}"
    last = load_checkpoint(tmp_path / "m/last.pt")
    assert all(torch.equal(ckpt["speech_encoder"][k], last["speech_ema"][f"speech.{k}"])
               for k in ckpt["speech_encoder"])
    assert load_checkpoint(tmp_path / "m/generator.pt")["embed_dim"] == E


def test_joint_resume_equals_uninterrupted(pretrained_sen, tmp_path):
    rdg = RDGConfig(epochs=2, batch_size=4, device="cpu", speech_encoder="joint")
    kw = dict(fine_grained=True, max_steps=2)
    train_rdg(_fbank_data(), tiny_dg(), RSConfig(enabled=False), rdg, model_dir=tmp_path / "a",
              report_dir=tmp_path / "ra", speech=_side("joint", pretrained_sen), **kw)
    one = RDGConfig(**{**to_dict(rdg), "epochs": 1, "betas": tuple(rdg.betas)})
    train_rdg(_fbank_data(), tiny_dg(), RSConfig(enabled=False), one, model_dir=tmp_path / "b",
              report_dir=tmp_path / "rb", speech=_side("joint", pretrained_sen), **kw)
    (tmp_path / "b/generator.pt").unlink()
    train_rdg(_fbank_data(), tiny_dg(), RSConfig(enabled=False), rdg, model_dir=tmp_path / "b",
              report_dir=tmp_path / "rb", speech=_side("joint", pretrained_sen), **kw)
    a, b = (load_checkpoint(tmp_path / d / SPEECH_ENCODER_FILE)["speech_encoder"]
            for d in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_frozen_mode_reads_embeddings_and_trains_no_encoder(tmp_path):
    data = _frozen_data()
    cached = data.speech.copy()
    rdg = RDGConfig(epochs=1, batch_size=4, device="cpu")
    assert rdg.speech_encoder == "frozen"
    train_rdg(data, tiny_dg(), RSConfig(enabled=False), rdg, fine_grained=True,
              model_dir=tmp_path / "m", report_dir=tmp_path / "r", max_steps=1)
    assert np.array_equal(data.speech, cached)
    assert not (tmp_path / "m" / SPEECH_ENCODER_FILE).exists()
    with pytest.raises(ValueError, match="needs a speech encoder"):
        train_rdg(data, tiny_dg(), RSConfig(enabled=False),
                  RDGConfig(epochs=1, batch_size=4, device="cpu", speech_encoder="joint"),
                  fine_grained=True, model_dir=tmp_path / "j", report_dir=tmp_path / "rj")


def test_config_refuses_unknown_modes():
    with pytest.raises(ConfigError, match="speech_encoder"):
        RDGConfig(speech_encoder="pretrained")
    with pytest.raises(ConfigError, match="sen_weight"):
        RDGConfig(sen_weight=-1.0)


def test_sen_loss_on_fixed_inputs_by_hand():
    """Eq. (6) + Eq. (7) on two pairs: y = x = the unit vectors (beta 1), classifier diag(2, 1).

    Matching: S = I, P(x_i|y_i) = e / (e + 1) each way -> L_m = -2 log(e / (e + 1)).
    Distinctive: logits of y_0 = (2, 0) for class 0, of y_1 = (0, 1) for class 1, the same for
    the images -> L_d = 2 * mean(-log(e^2/(e^2+1)), -log(e/(e+1)))."""
    image = ImageEncoder(2, 2)
    classifier = nn.Linear(2, 2)
    with torch.no_grad():
        image.linear.weight.copy_(torch.eye(2))
        image.linear.bias.zero_()
        classifier.weight.copy_(torch.diag(torch.tensor([2.0, 1.0])))
        classifier.bias.zero_()
    side = SpeechSide("end_to_end", replace(TINY_SEN, beta=1.0), {}, nn.Identity(), image,
                      classifier)
    y = torch.eye(2)
    batch = {"features": torch.eye(2), "class_id": torch.tensor([0, 1]),
             "image_index": torch.tensor([0, 1]), "labels": torch.tensor([0, 1])}
    terms = end_to_end_sen_losses(side, y, batch, fine_grained=True)
    e = math.e
    l_m = -2 * math.log(e / (e + 1))
    l_d = 2 * 0.5 * (-math.log(e ** 2 / (e ** 2 + 1)) - math.log(e / (e + 1)))
    assert terms["match"].item() == pytest.approx(l_m, rel=1e-6)
    assert terms["distinctive"].item() == pytest.approx(l_d, rel=1e-6)
    assert terms["loss"].item() == pytest.approx(l_m + l_d, rel=1e-6)
    # scene data: the mask keys on the image, not the class (the same here: distinct images)
    scene = end_to_end_sen_losses(side, y, batch, fine_grained=False)
    assert scene["match"].item() == pytest.approx(l_m, rel=1e-6)


@pytest.mark.parametrize("weight", [0.0, 0.5, 2.0])
def test_generator_step_adds_sen_weight_times_sen_loss(weight, pretrained_sen):
    """L = L_G + sen_weight * L_SEN: the SEN's image encoder and classifier, which nothing else
    reaches, get exactly sen_weight times the gradient of L_SEN (computed apart, by autograd)."""
    dg, rs = tiny_dg(), RSConfig(enabled=False)
    rdg = RDGConfig(batch_size=4, device="cpu", speech_encoder="end_to_end", sen_weight=weight)
    side = _side("end_to_end", pretrained_sen)
    nets = build_nets(dg, rs, rdg, E, True, torch.device("cpu"), None, side)
    data = _fbank_data()
    batch = make_batch(data, np.arange(4), np.random.default_rng(0),
                       torch.Generator().manual_seed(0), dg, torch.device("cpu"), False)
    ref = copy.deepcopy(side).train()
    y = ref(batch["fbank"], batch["lengths"]).detach()            # the step's y (same BN batch)
    expected = torch.autograd.grad(end_to_end_sen_losses(ref, y, batch, True)["loss"],
                                   [ref.image.linear.weight, ref.classifier.weight])
    grads = {}

    def capture():
        grads["image"] = side.image.linear.weight.grad.clone()
        grads["classifier"] = side.classifier.weight.grad.clone()
    nets.opt_s.step = capture                                      # look before the update
    out = train_step(nets, batch, dg, rs, rdg, True)
    assert out["sen_loss"] == pytest.approx(out["sen_match"] + out["sen_distinctive"], rel=1e-6)
    assert torch.allclose(grads["image"], weight * expected[0], atol=1e-6)
    assert torch.allclose(grads["classifier"], weight * expected[1], atol=1e-6)


def test_joint_encoder_learns_from_both_d_and_g_losses(pretrained_sen):
    """joint: the encoder's gradient is that of L_D (Eq. 16) + L_G (Eq. 14): nonzero, and not the
    gradient of L_G alone."""
    dg, rs = tiny_dg(), RSConfig(enabled=False)
    rdg = RDGConfig(batch_size=4, device="cpu", speech_encoder="joint", mode_seeking=0.0)
    grads = []
    for detach_d in (False, True):
        side = _side("joint", pretrained_sen)
        nets = build_nets(dg, rs, rdg, E, True, torch.device("cpu"), None, side)
        batch = make_batch(_fbank_data(), np.arange(4), np.random.default_rng(0),
                           torch.Generator().manual_seed(0), dg, torch.device("cpu"), False)
        if detach_d:      # the D step sees no encoder: zero its grads after D's backward
            opt_d_step = nets.opt_d.step

            def d_step(opt_d_step=opt_d_step, side=side):
                opt_d_step()
                side.zero_grad(set_to_none=True)
            nets.opt_d.step = d_step
        got = {}
        nets.opt_s.step = lambda side=side, got=got: got.update(
            w=side.speech.att_w2.weight.grad.clone())
        torch.manual_seed(0)
        train_step(nets, batch, dg, rs, rdg, True)
        grads.append(got["w"])
    assert grads[0].abs().sum() > 0 and grads[1].abs().sum() > 0
    assert not torch.allclose(grads[0], grads[1])


# The default is unchanged: a tiny frozen run gives the generator (EMA) and discriminator weights
# of the code before rdg.speech_encoder existed (commit 059aac3, where they were bit-identical on
# one thread). Pinned as three float64 statistics with a tolerance, because the last bits of a
# float result change with the thread count and the CPU's kernels (on one AMD EPYC the projection
# came out 1.1e-3 away, 7e-5 relative); a changed draw order or update moves them by far more.
PINNED = (8095.94923, 4.3777082, -16.62735)   # computed on one thread (bit-identical to 059aac3)


def _frozen_data() -> TrainData:
    """test_rdg.py's tiny_data: 6 images (3 classes), 2 cached unit speech embeddings each."""
    rng = np.random.default_rng(0)
    n, sizes = 6, (16, 32)
    images = [torch.from_numpy(rng.integers(0, 256, (n, 3, s, s), dtype=np.uint8)) for s in sizes]
    speech = F.normalize(torch.randn(n * 2, E, generator=torch.Generator().manual_seed(0)),
                         dim=1).numpy()
    data = TrainData(images, np.array([f"i{i}" for i in range(n)]), np.repeat(np.arange(3), 2),
                     speech, np.repeat(np.arange(n), 2))
    data.image_emb = F.normalize(torch.from_numpy(rng.normal(size=(n, E)).astype(np.float32)),
                                 dim=1).numpy()
    return data


def _frozen_fingerprint(tmp_path) -> tuple[float, float, float]:
    """sum |w|, sum w^2 / 1000 and a seeded random projection of every weight after two steps."""
    data = _frozen_data()
    torch.manual_seed(0)
    embedder = ImageEmbedder(TinyBackbone(), TinyImageEncoder())
    rdg = RDGConfig(epochs=2, batch_size=4, device="cpu", mode_seeking=1.0,
                    diff_augment="translation", amp=False)   # float32, as pinned
    train_rdg(data, tiny_dg(), RSConfig(hidden=8), rdg, fine_grained=True,
              model_dir=tmp_path / "m", report_dir=tmp_path / "r", embedder=embedder,
              max_steps=2)
    rng = np.random.default_rng(0)
    stats = np.zeros(3)
    for sd in (load_checkpoint(tmp_path / "m/generator.pt")["generator"],
               load_checkpoint(tmp_path / "m/last.pt")["discriminators"]):
        for k in sorted(sd):
            w = sd[k].double().cpu().numpy().ravel()
            stats += (np.abs(w).sum(), (w * w).sum() / 1000, rng.standard_normal(w.size) @ w)
    return tuple(float(v) for v in stats)


def test_default_frozen_run_keeps_the_weights_of_before(tmp_path):
    assert _frozen_fingerprint(tmp_path) == pytest.approx(PINNED, rel=1e-5, abs=1e-2)


def test_check_stage_refuses_a_trained_encoder_of_another_system():
    from conftest import REPO, check_stage

    check = check_stage()
    params = check.load_params(REPO / "params.yaml")
    assert params["rdg"]["speech_encoder"] == "frozen" and check.problems(params) == []
    for mode in ("joint", "end_to_end"):
        params["rdg"]["speech_encoder"] = mode
        assert check.problems(params) == []
        params["sen"]["kind"] = "teacher_student"
        bad = check.problems(params)
        assert len(bad) == 1 and "sen.kind: s2igan" in bad[0]
        params["sen"]["kind"] = "s2igan"


def test_speech_sources_pick_the_encoder_the_generator_was_trained_with(tmp_path):
    from s2igan.rdg.run import speech_sources
    rdg_dir, emb, sen = tmp_path / "rdg", tmp_path / "emb", tmp_path / "sen"
    rdg_dir.mkdir()
    assert speech_sources(rdg_dir, emb, sen) == (emb, sen / "best.pt", "sen")
    (rdg_dir / SPEECH_ENCODER_FILE).write_bytes(b"")
    assert speech_sources(rdg_dir, emb, sen) == (rdg_dir / "embeddings",
                                                 rdg_dir / SPEECH_ENCODER_FILE, "rdg")


def test_the_condition_projection_gives_way_to_a_speech_encoder_trained_here(
        pretrained_sen, tmp_path, capsys):
    """dg.condition_projection (the embedded default cca) is fitted on the pretrained SEN's cached
    embeddings; joint / end_to_end have none, so the run uses none, says so and saves it so
    (although the fbank data carries the image features CCA would pair them with)."""
    from s2igan.rdg.sampling import load_generator
    rdg = RDGConfig(epochs=1, batch_size=4, device="cpu", speech_encoder="joint")
    train_rdg(_fbank_data(), replace(tiny_dg(), condition_projection="cca"),
              RSConfig(enabled=False), rdg, fine_grained=True, model_dir=tmp_path / "m",
              report_dir=tmp_path / "r", samples=_samples(None), max_steps=1,
              speech=_side("joint", pretrained_sen))
    assert "this run uses none" in capsys.readouterr().out
    g = load_generator(tmp_path / "m" / "generator.pt")
    assert g.cfg.condition_projection == "none" and isinstance(g.project, nn.Identity)
