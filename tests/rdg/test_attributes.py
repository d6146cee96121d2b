"""dg.condition_attributes: the attribute classifier against scikit-learn, the code against a
hand-built one-hot, its place beside the projection, the checkpoint round trip, the fallback;
dg.d_attributes: D's attribute head against a hand computation, in training and its fallback."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import E, tiny_dg
from test_rdg import tiny_data

from s2igan.rdg.attributes import (
    AttributeCode,
    fit_attribute_code,
    one_hot_argmax,
    one_hot_targets,
    value_indices,
)
from s2igan.rdg.condition import ConditionProjection
from s2igan.rdg.config import RDGConfig, RSConfig
from s2igan.rdg.discriminator import make_discriminators
from s2igan.rdg.generator import Generator
from s2igan.rdg.losses import AttributeTargets, attribute_loss
from s2igan.rdg.sampling import load_generator
from s2igan.rdg.step import build_nets
from s2igan.rdg.train import train_rdg

COLOURS = ("red", "blue", "green")


def _spoken(n=240, dim=12, noise=0.2, seed=0):
    """Vectors that say two attributes additively (a colour and a size) plus noise, and the
    label table; ``seed`` draws the samples, the attributes' directions are fixed."""
    basis = np.random.default_rng(99).normal(size=(5, dim))
    rng = np.random.default_rng(seed)
    colour = rng.integers(0, 3, n)
    size = rng.integers(0, 2, n)
    x = basis[colour] + basis[3 + size] + noise * rng.normal(size=(n, dim))
    labels = pd.DataFrame({"colour": np.asarray(COLOURS)[colour],
                           "size": np.where(size, "small", "big")})
    return x, labels


def test_one_hot_targets_and_argmax_by_hand():
    labels = pd.DataFrame({"crown": ["red", "blue", "red"], "size": ["big", "big", "small"],
                           "kind": ["bird"] * 3})
    targets, group, names, used = one_hot_targets(labels)
    assert names == ["crown=blue", "crown=red", "size=big", "size=small"]   # one value: left out
    assert used == ["crown", "size"] and group.tolist() == [0, 0, 1, 1]
    assert targets.tolist() == [[0, 1, 1, 0], [1, 0, 1, 0], [0, 1, 0, 1]]
    scores = torch.tensor([[0.2, 0.9, -1.0, 3.0], [5.0, 4.0, 0.1, 0.0]])
    assert one_hot_argmax(scores, torch.tensor(group)).tolist() == [[0, 1, 0, 1], [1, 0, 1, 0]]
    with pytest.raises(ValueError, match="two or more values"):
        one_hot_targets(labels[["kind"]])


def test_the_classifier_is_scikit_learns_ridge_and_the_code_the_one_hot_of_its_reading():
    from sklearn.linear_model import RidgeCV

    x, labels = _spoken()
    fit = fit_attribute_code(x, labels, dims=7)
    assert fit.train_accuracy == {"colour": 1.0, "size": 1.0}
    targets, group, _, _ = one_hot_targets(labels)
    z = (x - x.mean(0)) / x.std(0)
    ref = RidgeCV(alphas=(0.1, 1.0, 10.0, 100.0, 1e3, 1e4)).fit(z, targets)
    assert fit.alpha == ref.alpha_
    assert np.allclose((x - fit.mean) @ fit.weight + fit.bias, ref.predict(z), atol=1e-8)
    assert fit.code.shape == (5, 7) and fit.group.tolist() == group.tolist()
    code = AttributeCode(x.shape[1], 7).double()
    code.set(fit)
    # new vectors of the same kind: the output is the normalised code of their true one-hots
    x2, labels2 = _spoken(n=60, seed=1)
    want = one_hot_targets(labels2)[0] @ fit.code
    got = code(torch.from_numpy(x2)).numpy()
    assert np.allclose(got, want / np.linalg.norm(want, axis=1, keepdims=True), atol=1e-12)
    # a vector that says another colour gets another code
    assert not np.allclose(got[labels2["colour"] == "red"][0], got[labels2["colour"] == "blue"][0])


def test_refuses_missing_labels_and_an_unfitted_code_is_zero():
    x, labels = _spoken(n=20)
    with pytest.raises(ValueError, match="attribute labels of every"):
        fit_attribute_code(x, labels.iloc[:-1], dims=4)
    unlabelled = labels.copy()
    unlabelled.iloc[3, 0] = None
    with pytest.raises(ValueError, match="attribute labels of every"):
        fit_attribute_code(x, unlabelled, dims=4)
    assert torch.equal(AttributeCode(12, 4)(torch.ones(2, 12)), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="does not fit"):
        AttributeCode(11, 4).set(fit_attribute_code(x, labels, dims=4))


def test_projection_puts_the_code_beside_its_own_output_with_equal_weight():
    x, labels = _spoken(dim=E)
    rng = np.random.default_rng(2)
    mean, weight = rng.normal(size=E), rng.normal(size=(E, 3))
    fit = fit_attribute_code(x, labels, dims=5)
    proj = ConditionProjection(E, 4, attributes=5).double()
    proj.set(mean, weight)
    proj.attributes.set(fit)
    y = torch.from_numpy(x[:6])
    padded = torch.from_numpy(np.pad(weight, ((0, 0), (0, 1))))
    h = F.normalize((y - torch.from_numpy(mean)) @ padded, dim=1)
    want = F.normalize(torch.cat([h, proj.attributes(y)], dim=1), dim=1)
    out = proj(y)
    assert out.shape == (6, 9) and torch.allclose(out, want)
    assert torch.allclose(out[:, :4].norm(dim=1), out[:, 4:].norm(dim=1))    # equal weight


def test_trained_with_labels_round_trips_and_without_them_falls_back(tmp_path, capsys):
    data = tiny_data(n_classes=4, per_class=3)
    n = len(data.image_ids)
    data.features = np.random.default_rng(1).normal(size=(n, 5)).astype(np.float32)
    data.attributes = pd.DataFrame({"crown": np.asarray(COLOURS)[np.arange(n) % 3],
                                    "size": np.where(np.arange(n) % 2, "small", "big")})
    dg = replace(tiny_dg(), condition_projection="cca", condition_dims=3, condition_attributes=4)
    rdg = RDGConfig(epochs=1, batch_size=4, device="cpu")
    train_rdg(data, dg, RSConfig(enabled=False), rdg, fine_grained=True,
              model_dir=tmp_path / "m", report_dir=tmp_path / "r", max_steps=1)
    assert "attribute code of 5 values" in capsys.readouterr().out
    g = load_generator(tmp_path / "m" / "generator.pt")        # buffers of the data's sizes
    assert g.project.attributes.weight.shape == (E, 5) and g.condition_dim == 7
    fit = fit_attribute_code(data.speech, data.attributes.iloc[data.caption_image], 4)
    assert np.allclose(g.project.attributes.weight.numpy(), fit.weight, atol=1e-5)
    y = torch.from_numpy(data.speech)
    scores = (data.speech - fit.mean) @ fit.weight + fit.bias      # numpy: one-hot by hand
    onehot = np.zeros_like(scores)
    for g_ in np.unique(fit.group):
        cols = np.flatnonzero(fit.group == g_)
        onehot[np.arange(len(scores)), cols[scores[:, cols].argmax(1)]] = 1
    want = onehot @ fit.code
    assert torch.allclose(g.project.attributes(y),
                          F.normalize(torch.from_numpy(want).float(), dim=1), atol=1e-5)
    # a fresh generator of the same config loads the state whatever its empty buffers' sizes
    fresh = Generator(g.cfg, E)
    fresh.load_state_dict(g.state_dict())
    assert torch.equal(fresh.project(y), g.project(y))
    # no labels (the other datasets): the run says so and trains without the code
    data.attributes = None
    train_rdg(data, dg, RSConfig(enabled=False), rdg, fine_grained=True,
              model_dir=tmp_path / "n", report_dir=tmp_path / "rn", max_steps=1)
    assert "needs attribute labels" in capsys.readouterr().out
    assert load_generator(tmp_path / "n" / "generator.pt").project.attributes is None
    # beside no projection (dg.condition_projection=none, the paper's condition): the same
    train_rdg(data, replace(tiny_dg(), condition_attributes=4), RSConfig(enabled=False), rdg,
              fine_grained=True, model_dir=tmp_path / "p", report_dir=tmp_path / "rp",
              max_steps=1)
    assert "needs a fitted dg.condition_projection" in capsys.readouterr().out
    g = load_generator(tmp_path / "p" / "generator.pt")
    assert isinstance(g.project, torch.nn.Identity) and g.cfg.condition_attributes == 0
    with pytest.raises(ValueError, match="condition_attributes"):
        replace(tiny_dg(), condition_attributes=-1)


def test_value_indices_by_hand():
    labels = pd.DataFrame({"crown": ["red", "blue", "red", "green"], "tail": ["x"] * 4,
                           "size": ["small", "big", "big", "small"]})
    idx, sizes = value_indices(labels)              # values sorted; one-value "tail" left out
    assert sizes == (3, 2)
    assert idx.tolist() == [[2, 1], [0, 0], [2, 0], [1, 1]]


def test_discriminator_attribute_head_loss_by_hand_and_in_training(tmp_path, capsys):
    dg = replace(tiny_dg(), d_attributes=0.5)
    with pytest.raises(ValueError, match="attribute values"):
        make_discriminators(dg)
    with pytest.raises(ValueError, match="d_attributes"):
        replace(tiny_dg(), d_attributes=-1.0)
    assert all(d.attributes is None for d in make_discriminators(tiny_dg(), E, 5))  # off
    d = make_discriminators(dg, E, 5)[0].eval()
    torch.manual_seed(0)
    code = torch.randn(4, d.code_ch, 4, 4)
    labels = torch.tensor([[0, 1], [2, 0], [1, 1], [0, 0]])
    # by hand: logits of the pooled code, softmax within each attribute's own values
    logits = (code.mean(dim=(2, 3)) @ d.attributes.weight.t() + d.attributes.bias).detach()
    p3 = torch.log_softmax(logits[:, :3], 1)
    p2 = torch.log_softmax(logits[:, 3:], 1)
    ce3 = -p3[torch.arange(4), labels[:, 0]].mean()
    ce2 = -p2[torch.arange(4), labels[:, 1]].mean()
    got = attribute_loss(d, code, AttributeTargets(labels, (3, 2), 0.5))
    torch.testing.assert_close(got, 0.5 * (ce3 + ce2) / 2)
    assert attribute_loss(d, code, None) == 0.0
    # a run with labels trains the head (it is saved with D); without labels it says so
    data = tiny_data(n_classes=4, per_class=3)
    n = len(data.image_ids)
    data.attributes = pd.DataFrame({"crown": np.asarray(COLOURS)[np.arange(n) % 3],
                                    "size": np.where(np.arange(n) % 2, "small", "big")})
    rdg = RDGConfig(epochs=1, batch_size=4, device="cpu")
    out = train_rdg(data, dg, RSConfig(enabled=False), rdg, fine_grained=True,
                    model_dir=tmp_path / "m", report_dir=tmp_path / "r", max_steps=2)
    assert all(np.isfinite(v) for v in out.values())
    state = torch.load(tmp_path / "m" / "last.pt", weights_only=False)["discriminators"]
    assert state["0.attributes.weight"].shape[0] == 5
    data.attributes = None
    train_rdg(data, dg, RSConfig(enabled=False), rdg, fine_grained=True,
              model_dir=tmp_path / "n", report_dir=tmp_path / "rn", max_steps=1)
    assert "d_attributes: 0.5 needs attribute labels" in capsys.readouterr().out
    state = torch.load(tmp_path / "n" / "last.pt", weights_only=False)["discriminators"]
    assert not any("attributes" in k for k in state)


def test_the_attribute_head_teaches_the_generator_the_labels():
    """G's gradient from the head on its fakes: the head's loss on G's images falls when G
    alone steps on it (D frozen), so the term drives what G draws."""
    dg = replace(tiny_dg(), d_attributes=1.0)
    rs, rdg = RSConfig(enabled=False), RDGConfig(batch_size=4, device="cpu")
    nets = build_nets(dg, rs, rdg, E, True, torch.device("cpu"), attribute_sizes=(3, 2))
    d = nets.discriminators[-1].eval().requires_grad_(False)
    nets.generator.eval()
    torch.manual_seed(0)
    z, y = torch.randn(4, dg.z_dim), F.normalize(torch.randn(4, E), dim=1)
    t = AttributeTargets(torch.tensor([[0, 1], [2, 0], [1, 1], [0, 0]]), (3, 2), 1.0)
    opt = torch.optim.Adam(nets.generator.parameters(), lr=0.01)
    losses = []
    for _ in range(15):
        fakes, _, _ = nets.generator(z, y, torch.zeros(4, dg.ca_dim))
        loss = attribute_loss(d, d(fakes[-1]), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0]
