"""dg.condition_projection: the fitted projection against scikit-learn / numpy, its place in the
generator (checkpoint round trip, D's matching head), and the refusals."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import E, tiny_dg
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from test_rdg import tiny_data

from s2igan.arrays import load_vectors
from s2igan.checkpoint import save_checkpoint
from s2igan.config import to_dict
from s2igan.io import BadInputError
from s2igan.rdg.condition import (
    ConditionProjection,
    canonical_correlations,
    fit_projection,
    heldout_correlations,
    weighted_cca,
    fit_vlad_projection,
)
from s2igan.rdg.config import DGConfig, RDGConfig, RSConfig
from s2igan.rdg.generator import Generator
from s2igan.rdg.sampling import load_generator
from s2igan.rdg.train import train_rdg


def _clustered(n_classes=5, per=12, dim=E, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim))
    classes = np.repeat(np.arange(n_classes), per)
    return centres[classes] + 0.3 * rng.normal(size=(len(classes), dim)), classes


def test_lda_projection_is_sklearns_transform_normalised_and_zero_padded():
    x, c = _clustered()
    mean, w = fit_projection("lda", x, c, dims=10)
    assert w.shape == (E, 4)                                  # classes - 1 directions
    proj = ConditionProjection(E, 10).double()
    proj.set(mean, w)
    out = proj(torch.from_numpy(x)).numpy()
    ref = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(x, c).transform(x)
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    assert np.allclose(out[:, :4], ref, atol=1e-8) and np.all(out[:, 4:] == 0)
    # fewer dims than directions keeps the leading ones
    assert fit_projection("lda", x, c, dims=2)[1].shape == (E, 2)


def test_whiten_projection_has_identity_covariance_on_its_training_vectors():
    x, _ = _clustered(dim=6)
    mean, w = fit_projection("whiten", x, None, dims=3)
    h = (x - mean) @ w
    assert w.shape == (6, 3)
    assert np.allclose(h.T @ h / len(x), np.eye(3), atol=1e-8)
    # the leading direction is the largest principal component
    top = np.linalg.svd(x - x.mean(0), full_matrices=False)[2][0]
    assert abs(np.dot(w[:, 0] / np.linalg.norm(w[:, 0]), top)) == pytest.approx(1.0, abs=1e-8)


def test_whitening_with_more_dimensions_than_rows_matches_the_svd():
    # the Gram-matrix path (the VLAD side: 6,000 captions x 8,192 dimensions)
    x = np.random.default_rng(5).normal(size=(12, 30)) @ np.diag(np.linspace(3, 0.1, 30))
    mean, w = fit_projection("whiten", x, None, dims=5)
    h = (x - mean) @ w
    assert w.shape == (30, 5)
    np.testing.assert_allclose(h.T @ h / len(x), np.eye(5), atol=1e-8)
    _, s, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    np.testing.assert_allclose(np.abs(np.sum(w / np.linalg.norm(w, axis=0) * vt[:5].T, axis=0)),
                               1.0, atol=1e-8)
    np.testing.assert_allclose(np.linalg.norm(w, axis=0), np.sqrt(len(x)) / s[:5], rtol=1e-8)
    # centred rows span at most 11 directions: the 12th (zero variance) is never whitened
    assert fit_projection("whiten", x, None, dims=20)[1].shape == (30, 11)


def _memorising(n_groups=150, per=4, seed=0):
    # speech x: one direction that predicts the image feature in every group (the attribute)
    # and 40 dimensions of per-group codes; image f: the attribute plus per-group codes of its
    # own. Over 120 training groups a CCA pairs the two sides' codes by chance (correlations
    # 0.7 on the training pairs) in directions that say nothing about a new group
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), per)
    attr = rng.normal(size=n_groups)[groups]

    def side():
        return np.c_[attr + 0.3 * rng.normal(size=len(groups)),
                     rng.normal(size=(n_groups, 40))[groups]
                     + 0.5 * rng.normal(size=(len(groups), 40))]

    return side(), side(), groups


def test_heldout_weights_keep_the_direction_that_holds_for_new_groups():
    x, f, groups = _memorising()
    _, _, rho = canonical_correlations(x, f, 41, 41)
    assert (rho[:6] > 0.65).all()                 # on the training pairs: chance pairs look real
    mean, a, corr = heldout_correlations(x, f, groups, 41, 41)
    top = int(np.argmax(corr))
    assert corr[top] > 0.8 and np.sort(corr)[-2] < 0.35
    u = (x - mean) @ a[:, top]
    assert abs(np.corrcoef(u, x[:, 0])[0, 1]) > 0.9      # ... and it is the attribute's
    _, w = weighted_cca(x, f, 5, 41, 41, groups=groups)
    norms = np.linalg.norm(w, axis=0) / np.linalg.norm(a[:, top])
    assert norms[0] == pytest.approx(corr[top])   # ordered and weighted by held-out correlation
    assert (norms[1:] < 0.35).all()
    _, w_train = weighted_cca(x, f, 5, 41, 41)
    assert (np.linalg.norm(w_train, axis=0)[1:] > 0.7 * np.linalg.norm(w_train[:, 0])).all()
    with pytest.raises(ValueError, match="at least 3"):
        heldout_correlations(x[:8], f[:8], groups[:8], 5, 5)


def test_lda_refuses_data_without_classes_and_config_refuses_unknown_kinds():
    x, _ = _clustered()
    with pytest.raises(ValueError, match="whiten"):
        fit_projection("lda", x, None, 8)
    with pytest.raises(ValueError, match="whiten"):
        fit_projection("lda", x, np.full(len(x), -1), 8)
    with pytest.raises(ValueError, match="condition_projection"):
        DGConfig(condition_projection="pca")
    with pytest.raises(ValueError, match="does not fit"):
        ConditionProjection(E, 2).set(np.zeros(E), np.zeros((E, 3)))


def test_the_generator_applies_the_fitted_projection_and_keeps_it_in_its_checkpoint(tmp_path):
    dg = replace(tiny_dg(), condition_projection="lda", condition_dims=3, d_match=1.0)
    data = tiny_data()
    torch.manual_seed(0)
    train_rdg(data, dg, RSConfig(enabled=False), RDGConfig(epochs=1, batch_size=4, device="cpu"),
              fine_grained=True, model_dir=tmp_path / "m", report_dir=tmp_path / "r", max_steps=1)
    g = load_generator(tmp_path / "m" / "generator.pt")
    _, w = fit_projection("lda", data.speech, data.class_ids[data.caption_image], 3)
    assert torch.allclose(g.project.weight[:, :w.shape[1]].double(), torch.from_numpy(w), atol=1e-6)
    assert g.ca.fc.in_features == 3 and g.condition_dim == 3
    y = torch.from_numpy(data.speech[:4])
    assert torch.allclose(g.project(y), F.normalize((y.double() @ torch.from_numpy(
        np.pad(w, ((0, 0), (0, 3 - w.shape[1]))))).float(), dim=1), atol=1e-5)
    # a generator whose projection is not loaded (all zero) ignores the speech entirely: the
    # projection is what the condition passes through
    blank = Generator(dg, E).eval()
    blank.load_state_dict({k: v for k, v in g.state_dict().items()
                           if not k.startswith("project.")}, strict=False)
    z = torch.randn(4, dg.z_dim)
    eps = torch.zeros(4, dg.ca_dim)
    assert torch.allclose(blank(z, y, eps)[0][-1], blank(z, y.roll(1, 0), eps)[0][-1])
    assert not torch.allclose(g(z, y, eps)[0][-1], g(z, y.roll(1, 0), eps)[0][-1])
    # a checkpoint made without the switch still loads as before
    plain = tiny_dg()
    save_checkpoint(tmp_path / "plain.pt", {"generator": Generator(plain, E).state_dict(),
                                            "config": to_dict(plain), "embed_dim": E})
    assert isinstance(load_generator(tmp_path / "plain.pt").project, torch.nn.Identity)


def test_lda_on_scene_data_runs_without_the_projection_and_says_so(tmp_path, capsys):
    """No classes (Flickr8k, Places, a manifest without a class column): nothing to fit LDA on."""
    dg = replace(tiny_dg(), condition_projection="lda")
    train_rdg(tiny_data(), dg, RSConfig(enabled=False),
              RDGConfig(epochs=1, batch_size=4, device="cpu"), fine_grained=False,
              model_dir=tmp_path / "m", report_dir=tmp_path / "r", max_steps=1)
    assert "the data has no classes" in capsys.readouterr().out
    assert isinstance(load_generator(tmp_path / "m" / "generator.pt").project, torch.nn.Identity)
    # whiten needs no classes: it is fitted
    train_rdg(tiny_data(), replace(dg, condition_projection="whiten"), RSConfig(enabled=False),
              RDGConfig(epochs=1, batch_size=4, device="cpu"), fine_grained=False,
              model_dir=tmp_path / "w", report_dir=tmp_path / "rw", max_steps=1)
    assert load_generator(tmp_path / "w" / "generator.pt").project.weight.abs().sum() > 0


def _paired(n=300, seed=0):
    """Speech-like x (n, 6) and image-like f (n, 4) that share two latent signals; x has loud
    noise dimensions the images do not confirm."""
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(n, 2))
    x = np.c_[s @ [[1.0, 0.5], [0.0, 1.0]] + 0.5 * rng.normal(size=(n, 2)), 3 * rng.normal(size=(n, 4))]
    f = np.c_[s @ [[2.0, 0.0], [1.0, 1.0]] + 0.3 * rng.normal(size=(n, 2)), rng.normal(size=(n, 2))]
    return x, f


def test_cca_matches_scikit_learns_canonical_variates_and_weights_them_by_correlation():
    from sklearn.cross_decomposition import CCA

    x, f = _paired()
    mean, a, rho = canonical_correlations(x, f)
    assert np.all(np.diff(rho) <= 1e-12) and 0.8 < rho[0] < 1 and rho[2] < 0.2
    h = (x - mean) @ a
    assert np.allclose(h.T @ h / len(x), np.eye(h.shape[1]), atol=1e-8)
    ref_x, ref_f = CCA(n_components=2, max_iter=5000, tol=1e-12).fit(x, f).transform(x, f)
    for j in range(2):
        # the same canonical variates (up to sign) and the same correlations
        assert abs(np.corrcoef(h[:, j], ref_x[:, j])[0, 1]) == pytest.approx(1.0, abs=1e-6)
        assert np.corrcoef(ref_x[:, j], ref_f[:, j])[0, 1] == pytest.approx(rho[j], abs=1e-6)
    # fit_projection keeps the leading directions, each scaled by its correlation: the loud
    # noise dimensions the images do not confirm shrink
    mean2, w = fit_projection("cca", x, None, dims=3, features=f)
    g = (x - mean2) @ w
    assert w.shape == (6, 3) and np.allclose(g.T @ g / len(x), np.diag(rho[:3] ** 2), atol=1e-8)
    assert np.abs(w[2:, 0]).max() < 0.1 * np.abs(w[:2, 0]).max()


def test_cca_refuses_missing_features_and_is_fitted_in_training_from_data_features(tmp_path):
    x, _ = _clustered()
    with pytest.raises(ValueError, match="backbone features"):
        fit_projection("cca", x, None, 8)
    with pytest.raises(ValueError, match="backbone features"):
        fit_projection("cca", x, None, 8, features=np.zeros((len(x) - 1, 3)))
    data = tiny_data()
    data.features = np.random.default_rng(1).normal(size=(len(data.image_ids), 5)).astype(np.float32)
    dg = replace(tiny_dg(), condition_projection="cca", condition_dims=3)
    train_rdg(data, dg, RSConfig(enabled=False), RDGConfig(epochs=1, batch_size=4, device="cpu"),
              fine_grained=False, model_dir=tmp_path / "m", report_dir=tmp_path / "r", max_steps=1)
    g = load_generator(tmp_path / "m" / "generator.pt")
    mean, w = fit_projection("cca", data.speech, None, 3, features=data.features[data.caption_image])
    assert torch.allclose(g.project.weight[:, :w.shape[1]].double(), torch.from_numpy(w), atol=1e-5)
    assert torch.allclose(g.project.mean.double(), torch.from_numpy(mean), atol=1e-6)
    # dg.condition_weights: heldout holds out images here (fine_grained=False: no classes)
    train_rdg(data, replace(dg, condition_weights="heldout"), RSConfig(enabled=False),
              RDGConfig(epochs=1, batch_size=4, device="cpu"), fine_grained=False,
              model_dir=tmp_path / "h", report_dir=tmp_path / "r", max_steps=1)
    g = load_generator(tmp_path / "h" / "generator.pt")
    _, w = fit_projection("cca", data.speech, None, 3, features=data.features[data.caption_image],
                          groups=data.caption_image)
    assert torch.allclose(g.project.weight[:, :w.shape[1]].double(), torch.from_numpy(w), atol=1e-5)
    with pytest.raises(ValueError, match="condition_weights"):
        replace(dg, condition_weights="test")


def test_vlad_projection_is_two_cca_blocks_each_half_normalised():
    rng = np.random.default_rng(3)
    x, f = _paired(400)
    vlad = np.c_[x[:, :2] @ rng.normal(size=(2, 4)), rng.normal(size=(400, 8))]   # K 2 x E 6
    wide = np.c_[x, vlad]
    mean, w = fit_vlad_projection(wide, 6, f, dims=4, vlad_pca=8)
    assert w.shape == (18, 4) and mean.shape == (18,)
    # the embedding's block is the cca condition of the embedding alone; the VLAD's block is the
    # VLAD's CCA (8 whitened components) against the image features
    m_p, w_p = fit_projection("cca", x, None, 2, f)
    np.testing.assert_allclose(w[:6, :2], w_p, atol=1e-10)
    np.testing.assert_allclose(mean[:6], m_p, atol=1e-12)
    m_v, a_v, rho_v = canonical_correlations(vlad, f, 8, 128)
    np.testing.assert_allclose(w[6:, 2:], a_v[:, :2] * rho_v[:2], atol=1e-10)
    assert np.all(w[6:, :2] == 0) and np.all(w[:6, 2:] == 0)
    proj = ConditionProjection(6, 4, clusters=2, state_dim=6).double()
    proj.set(mean, w, np.zeros((2, 6)))
    y = proj(torch.from_numpy(wide[:5])).numpy()
    h = (wide[:5] - mean) @ w
    halves = np.c_[h[:, :2] / np.linalg.norm(h[:, :2], axis=1, keepdims=True),
                   h[:, 2:] / np.linalg.norm(h[:, 2:], axis=1, keepdims=True)]
    np.testing.assert_allclose(y, halves / np.sqrt(2), atol=1e-10)
    with pytest.raises(ValueError, match="centres"):
        proj.set(mean, w, None)
    with pytest.raises(ValueError, match="centres"):
        ConditionProjection(6, 4).set(mean[:6], w[:6], np.zeros((2, 6)))


def test_a_vlad_generator_reads_the_wider_vector_and_keeps_its_centres(tmp_path, capsys):
    data = tiny_data()
    rng = np.random.default_rng(1)
    data.features = rng.normal(size=(len(data.image_ids), 5)).astype(np.float32)
    dg = replace(tiny_dg(), condition_projection="cca", condition_dims=4, condition_vlad=2)
    rdg = RDGConfig(epochs=1, batch_size=4, device="cpu")
    # without the VLAD vectors (the rdg stage computes them from a frozen S2IGAN SEN) the run
    # uses the embedding alone and says so
    train_rdg(tiny_data(), replace(dg, condition_projection="whiten"), RSConfig(enabled=False),
              rdg, fine_grained=True, model_dir=tmp_path / "w", report_dir=tmp_path / "rw",
              max_steps=1)
    assert "dg.condition_vlad: 2 needs dg.condition_projection: cca" in capsys.readouterr().out
    assert load_generator(tmp_path / "w" / "generator.pt").cfg.condition_vlad == 0
    data.vlad_centres = rng.normal(size=(2, E)).astype(np.float32)
    data.speech = np.c_[data.speech, rng.normal(size=(len(data.speech), 2 * E))].astype(np.float32)
    assert data.embed_dim == E
    train_rdg(data, dg, RSConfig(enabled=False), rdg, fine_grained=True,
              model_dir=tmp_path / "m", report_dir=tmp_path / "r", max_steps=1)
    g = load_generator(tmp_path / "m" / "generator.pt")
    assert g.input_dim == 3 * E and g.condition_dim == 4
    np.testing.assert_allclose(g.project.centres.numpy(), data.vlad_centres)
    _, w = fit_vlad_projection(data.speech, E, data.features[data.caption_image], 4)
    assert torch.allclose(g.project.weight.double(), torch.from_numpy(w), atol=1e-5)
    # what it reads from filterbanks: the encoder alone, or the encoder with the VLAD over
    # the generator's own centres
    enc = torch.nn.Linear(2, 2)
    assert Generator(tiny_dg(), E).speech_input(enc) is enc
    wrapped = g.speech_input(enc)
    assert wrapped.encoder is enc and torch.equal(wrapped.centres, g.project.centres)


def test_the_rdg_stage_computes_the_vlad_of_every_split_in_the_embeddings_order(
        tmp_path, sen_checkpoint):
    from s2igan.arrays import Ragged, save_vectors
    from s2igan.rdg.run import vlad_vectors
    from s2igan.sen.checkpoint import load_sen
    from s2igan.sen.evaluate import embed_speech
    from s2igan.sen.vlad import vlad_pool

    rng = np.random.default_rng(0)
    speech = load_sen(sen_checkpoint)[0]
    for split, n in (("train", 12), ("test", 5)):
        items = [rng.normal(size=(int(rng.integers(20, 40)), 40)).astype(np.float32)
                 for _ in range(n)]
        index = pd.DataFrame({"id": [f"{split}{k}" for k in range(n)],
                              "image_id": [f"i{k}" for k in range(n)], "class_id": 0})
        fbank = Ragged.from_list(items, index)
        fbank.save(tmp_path / "fbank", split)
        save_vectors(tmp_path / "emb", f"{split}_speech", index, embed_speech(speech, fbank))
    centres, vectors = vlad_vectors(sen_checkpoint, tmp_path / "fbank", tmp_path / "emb", 3, 0,
                                    torch.device("cpu"))
    assert centres.shape == (3, E) and set(vectors) == {"train", "test"}
    index, vecs = vectors["test"]
    _, pooled = load_vectors(tmp_path / "emb", "test_speech")
    assert vecs.shape == (5, 4 * E) and list(index["id"]) == [f"test{k}" for k in range(5)]
    np.testing.assert_allclose(vecs[:, :E], pooled, atol=1e-5)    # the embed stage's rows
    fbank = Ragged.load(tmp_path / "fbank", "test", mmap=False)
    x = torch.from_numpy(fbank[2])[None]
    with torch.no_grad():
        h, steps = speech.states(x, torch.tensor([x.shape[1]]))
        ref = vlad_pool(h, steps, torch.from_numpy(centres))[0].numpy()
    np.testing.assert_allclose(vecs[2, E:], ref, atol=1e-5)
    # embeddings of other captions (or another order) are refused, naming the file
    index, pooled = load_vectors(tmp_path / "emb", "test_speech")
    save_vectors(tmp_path / "emb", "test_speech", index.iloc[::-1], pooled[::-1])
    with pytest.raises(BadInputError, match="test_speech.*re-run the embed stage"):
        vlad_vectors(sen_checkpoint, tmp_path / "fbank", tmp_path / "emb", 3, 0,
                     torch.device("cpu"))
