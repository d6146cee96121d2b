"""The SEN systems of ``sen.kind`` besides S2IGAN: Li et al.'s teacher-student loss, Eq. (6)-(9)
of "Direct Speech-to-Image Translation", checked term by term against hand computations; the
classifier-based baseline; a tiny training run of every kind through the `sen` and `embed`
stages' library calls; what the RDG and the `check` stage get from each kind."""

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import check_stage

from s2igan.arrays import load_vectors
from s2igan.config import ConfigError, from_dict
from s2igan.io import BadInputError
from s2igan.rdg.run import make_embedder
from s2igan.sen.checkpoint import load_sen
from s2igan.sen.config import SENConfig, TeacherStudentConfig
from s2igan.sen.evaluate import speech_retrieval_metrics
from s2igan.sen.model import TeacherImageEncoder
from s2igan.sen.run import embed_all, train_and_evaluate
from s2igan.sen.teacher_student import (distillation_loss, joint_embedding_loss, norm_loss,
                                        teacher_student_loss)
from s2igan.sen.train import batch_losses

from test_sen import TINY, write_dataset

REPO = Path(__file__).resolve().parents[2]

# Three captions; captions 0 and 1 share a class (keys), caption 2 is alone in its class.
S = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])  # student f_s
V = torch.tensor([[1.0, 0.0], [0.5, 0.5], [1.0, -1.0]])  # teacher f_v
KEYS = torch.tensor([0, 0, 1])


def test_joint_embedding_loss_by_hand():
    # f_si . f_vj:  i=0: [1, .5, 1]   i=1: [1, .5, 1]   i=2: [1, 1, 0]   (diagonal = positive)
    # i=0: other class j=2: max(0, 1 - 1 + 1) = 1;        same class j=1: max(0, .5 - 1 + .1) = 0
    # i=1: other class j=2: max(0, 1 - .5 + 1) = 1.5;     same class j=0: max(0, 1 - .5 + .1) = .6
    # i=2: other class j=0, 1: (2 + 2) / 2 = 2;           no other caption of its class: 0
    alpha, beta = 2.0, 3.0
    per_caption = [alpha * 1 + beta * 0, alpha * 1.5 + beta * 0.6, alpha * 2 + beta * 0]
    expected = sum(per_caption) / 3  # = 3.6
    assert expected == pytest.approx(3.6)
    got = joint_embedding_loss(S, V, KEYS, m_diff=1.0, m_same=0.1, alpha=alpha, beta=beta)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # the margins matter: with m_same = 0 caption 1's same-class hinge is .5, not .6
    got0 = joint_embedding_loss(S, V, KEYS, m_diff=1.0, m_same=0.0, alpha=alpha, beta=beta)
    assert got0.item() == pytest.approx((2 + (3 + 3 * 0.5) + 4) / 3, rel=1e-6)


def test_joint_embedding_loss_against_a_loop():
    """Eq. (7) written as the paper's two expectations, caption by caption, on random inputs."""
    rng = np.random.default_rng(0)
    s, v = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    keys = np.array([0, 0, 1, 2, 2, 2])
    m_diff, m_same, alpha, beta = 0.7, 0.2, 1.5, 0.5
    total = 0.0
    for i in range(6):
        pos = s[i] @ v[i]
        diff = [max(0.0, s[i] @ v[j] - pos + m_diff) for j in range(6) if keys[j] != keys[i]]
        same = [max(0.0, s[i] @ v[j] - pos + m_same) for j in range(6)
                if keys[j] == keys[i] and j != i]
        total += alpha * (np.mean(diff) if diff else 0) + beta * (np.mean(same) if same else 0)
    got = joint_embedding_loss(torch.tensor(s), torch.tensor(v), torch.tensor(keys), m_diff,
                               m_same, alpha, beta)
    assert got.item() == pytest.approx(total / 6, rel=1e-10)


def test_norm_loss_by_hand():
    # |f_s - f_v| summed over k: row 0: 0; row 1: .5 + .5 = 1; row 2: 0 + 2 = 2; mean 1
    assert norm_loss(S, V).item() == pytest.approx(1.0)


def test_distillation_loss_by_hand_and_its_direction():
    def softmax(x):
        e = [math.exp(t) for t in x]
        return [t / sum(e) for t in e]

    def kl(p, q):
        return sum(a * math.log(a / b) for a, b in zip(p, q))

    rows = [kl(softmax(s), softmax(v)) for s, v in zip(S.tolist(), V.tolist())]
    # row 0 equal vectors: 0; row 1: p_v uniform, KL = log 2 + sum p log p with p = (e, 1)/(e + 1)
    p = [math.e / (math.e + 1), 1 / (math.e + 1)]
    assert rows[0] == 0 and rows[1] == pytest.approx(math.log(2) + sum(t * math.log(t) for t in p))
    got = distillation_loss(S, V).item()
    assert got == pytest.approx(sum(rows) / 3, rel=1e-6)
    # Eq. (9) is KL(student || teacher), not the reverse
    reverse = sum(kl(softmax(v), softmax(s)) for s, v in zip(S.tolist(), V.tolist())) / 3
    assert abs(got - reverse) > 1e-3


@pytest.mark.parametrize("jel,norm,kdl", [(0.0, 5.0, 0.0), (1.0, 5.0, 0.0), (1.0, 5.0, 1000.0)])
def test_teacher_student_loss_is_eq6_with_switchable_terms(jel, norm, kdl):
    """Li's Table IV rows: L_norm alone, + JEL, + KDL."""
    cfg = TeacherStudentConfig(jel=jel, norm=norm, kdl=kdl, alpha=2.0, beta=3.0)
    out = teacher_student_loss(S, V, KEYS, cfg)
    kd = distillation_loss(S, V).item()
    assert out["jel"].item() == pytest.approx(3.6 if jel else 0.0)
    assert out["norm"].item() == pytest.approx(1.0)
    assert out["kdl"].item() == pytest.approx(kd if kdl else 0.0)
    assert out["loss"].item() == pytest.approx(jel * 3.6 + norm * 1.0 + kdl * kd, rel=1e-6)


def test_paper_defaults_and_range_checks():
    cfg = TeacherStudentConfig()
    assert (cfg.jel, cfg.norm, cfg.kdl, cfg.m_diff, cfg.m_same) == (1.0, 5.0, 1000.0, 1.0, 0.1)
    assert SENConfig().kind == "s2igan"
    with pytest.raises(ConfigError, match="sen.kind"):
        from_dict(SENConfig, {"kind": "teacher"}, "sen")
    with pytest.raises(ConfigError, match="sen.teacher_student.kdl"):
        from_dict(SENConfig, {"teacher_student": {"kdl": -1}}, "sen")
    with pytest.raises(ConfigError, match="all 0"):
        from_dict(SENConfig, {"teacher_student": {"jel": 0, "norm": 0, "kdl": 0}}, "sen")


def test_classifier_objective_is_cross_entropy_by_hand():
    cfg = SENConfig(**{**TINY.__dict__, "kind": "classifier"})
    f = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        f.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # logits [1, 0] and [0, 2]
    labels = torch.tensor([1, 1])
    expected = (-math.log(1 / (math.e + 1)) - math.log(math.e ** 2 / (1 + math.e ** 2))) / 2
    # no image information: the features and image encoder are not used
    out = batch_losses(cfg, y, torch.full((2, 5), float("nan")), torch.tensor([0, 1]), labels,
                       None, f)
    assert set(out) == {"loss", "ce"}
    assert out["loss"].item() == pytest.approx(expected, rel=1e-6)


def test_speech_retrieval_metrics_by_hand():
    split = SimpleNamespace(captions=pd.DataFrame({"class_id": [0, 0, 1, 1]}))
    # captions at angles 0, 25, 10 and 60 degrees (any lengths: cosine similarity)
    deg = np.radians([0, 25, 10, 60])
    emb = np.stack([np.cos(deg), np.sin(deg)], axis=1) * np.array([[1], [2], [0.5], [3]])
    # 0 ranks 2, 1, 3: class-mate 1 at rank 2, AP 1/2;  1 ranks 2, 0, 3: AP 1/2
    # 2 ranks 0, 1, 3: class-mate 3 at rank 3, AP 1/3;  3 ranks 1, 2, 0: AP 1/2
    # (a caption never retrieves itself, else every AP would be 1 at rank 1)
    out = speech_retrieval_metrics(emb, split)
    assert out == {"speech_map": pytest.approx((0.5 + 0.5 + 1 / 3 + 0.5) / 4), "queries": 4}


def _run_kind(tmp_path, kind, **sen):
    frame = write_dataset(tmp_path, n_classes=9, per_class=5)
    cfg = SENConfig(**{**TINY.__dict__, "epochs": 3, "kind": kind, **sen})
    metrics = train_and_evaluate(frame, tmp_path / "fbank", tmp_path / "features",
                                 tmp_path / "models", tmp_path / "reports", cfg)
    counts = embed_all(tmp_path / "fbank", tmp_path / "features", tmp_path / "models" / "best.pt",
                       tmp_path / "emb")
    return metrics, counts, pd.read_csv(tmp_path / "reports" / "loss.csv")


def test_teacher_student_trains_and_embeds_in_the_feature_space(tmp_path):
    metrics, counts, history = _run_kind(tmp_path, "teacher_student")
    assert list(history.columns) == ["epoch", "train/loss", "train/jel", "train/norm",
                                     "train/kdl", "val/map"]
    assert history["train/loss"].iloc[-1] < history["train/loss"].iloc[0]  # it learns
    assert (history[["train/jel", "train/norm", "train/kdl"]] > 0).all().all()
    assert 0 < metrics["test/map"] <= 1 and (tmp_path / "reports" / "tsne.png").is_file()
    feat_index, feats = load_vectors(tmp_path / "features", "train")
    # the speech encoder outputs the backbone's feature size (12 here, not sen.embed_dim 32) ...
    assert counts["embed_dim"] == feats.shape[1] == 12
    index, speech = load_vectors(tmp_path / "emb", "test_speech")
    assert speech.shape == (counts["test_speech"], 12)
    assert not np.allclose(np.linalg.norm(speech, axis=1), 1)  # raw, not L2-normalised
    # ... and the image side is the backbone feature itself
    index, image = load_vectors(tmp_path / "emb", "train_image")
    assert index["id"].tolist() == feat_index["id"].tolist()
    np.testing.assert_array_equal(image, feats)
    _, encoder, cfg = load_sen(tmp_path / "models" / "best.pt")
    assert cfg.kind == "teacher_student" and isinstance(encoder, TeacherImageEncoder)


@pytest.mark.parametrize("jel,kdl", [(0.0, 0.0), (1.0, 0.0)])
def test_teacher_student_table_iv_rows_switch_terms_off(tmp_path, jel, kdl):
    _, _, history = _run_kind(tmp_path, "teacher_student",
                              teacher_student=TeacherStudentConfig(jel=jel, kdl=kdl))
    assert (history["train/norm"] > 0).all()
    assert ((history["train/jel"] > 0) == bool(jel)).all()
    assert (history["train/kdl"] == 0).all()


def test_classifier_trains_on_labels_only_and_has_no_image_side(tmp_path):
    metrics, counts, history = _run_kind(tmp_path, "classifier")
    assert list(history.columns) == ["epoch", "train/loss", "train/ce", "val/map"]
    assert history["train/loss"].iloc[-1] < history["train/loss"].iloc[0]
    assert 0 < metrics["test/speech_map"] <= 1 and "test/map" not in metrics
    assert set(counts) == {"train_speech", "test_speech", "embed_dim"}  # no *_image written
    assert not list((tmp_path / "emb").glob("*_image*"))
    _, speech = load_vectors(tmp_path / "emb", "test_speech")
    assert speech.shape[1] == 32  # sen.embed_dim, L2-normalised as the S2IGAN encoder's
    np.testing.assert_allclose(np.linalg.norm(speech, axis=1), 1, atol=1e-5)
    # the image features do not reach the classifier's training: different features, same SEN
    state = torch.load(tmp_path / "models" / "best.pt", weights_only=True)
    assert state["image_encoder"] is None and state["classifier"]["weight"].shape == (7, 32)
    # the RDG's relation supervisor asks for an image encoder: a clear error naming the fix
    with pytest.raises(BadInputError, match="rs.enabled: false"):
        load_sen(tmp_path / "models" / "best.pt")
    with pytest.raises(BadInputError, match="rs.enabled: false"):
        make_embedder(tmp_path / "models", tmp_path / "features", None)
    speech_enc, image, _ = load_sen(tmp_path / "models" / "best.pt", speech_only=True)
    assert image is None and not speech_enc.training


def test_classifier_ignores_image_features(tmp_path):
    """Training the classifier twice, with the image features replaced by noise the second time,
    gives the same weights: no image information is used."""
    _run_kind(tmp_path / "a", "classifier")
    frame = write_dataset(tmp_path / "b", n_classes=9, per_class=5)
    for split in ("train", "test"):
        path = tmp_path / "b" / "features" / f"{split}.npy"
        feats = np.load(path)
        np.save(path, np.random.default_rng(1).normal(size=feats.shape).astype(np.float32))
    cfg = SENConfig(**{**TINY.__dict__, "epochs": 3, "kind": "classifier"})
    train_and_evaluate(frame, tmp_path / "b" / "fbank", tmp_path / "b" / "features",
                       tmp_path / "b" / "models", tmp_path / "b" / "reports", cfg)
    a = torch.load(tmp_path / "a" / "models" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "models" / "last.pt", weights_only=True)
    for k in a["speech_encoder"]:
        assert torch.equal(a["speech_encoder"][k], b["speech_encoder"][k]), k


def test_check_stage_refuses_classifier_with_relation_supervisor():
    check = check_stage()
    params = check.load_params(REPO / "params.yaml")
    assert check.problems(params) == []
    params["sen"]["kind"] = "classifier"
    bad = check.problems(params)
    assert len(bad) == 1 and "rs.enabled: false" in bad[0]
    params["rs"]["enabled"] = False
    assert check.problems(params) == []
    params["sen"]["kind"] = "teacher_student"
    params["rs"]["enabled"] = True
    assert check.problems(params) == []
