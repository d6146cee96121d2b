"""SEN (Sec. III-B): shapes, padding-independence, the fast GRU against nn.GRU, Eq. (3)-(7) on
hand-checkable numbers, the mask M, training/resumption, evaluation and embedding stages."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from s2igan.arrays import Ragged, load_vectors, save_vectors
from s2igan.config import from_dict, to_dict
from s2igan.data import manifest
from s2igan.sen.checkpoint import load_sen, load_state
from s2igan.sen.config import SENConfig
from s2igan.sen.data import carve_validation, load_split, pad_batch
from s2igan.sen.gru import bigru
from s2igan.sen.losses import distinctive_loss, match_mask, matching_loss
from s2igan.sen.model import ImageEncoder, SpeechEncoder
from s2igan.sen.run import embed_all, train_and_evaluate
from s2igan.sen.train import train_sen

TINY = SENConfig(embed_dim=32, gru_hidden=16, conv_channels=(8, 16), att_hidden=8, epochs=2,
                 batch_size=8, lr=3e-3, lr_step=1, lr_gamma=0.9, val_fraction=0.25)


def write_dataset(root, n_classes=6, test_classes=2, per_class=4, captions=2, feat_dim=12,
                  seed=0):
    """Synthetic filterbanks + image features of compositional classes (two attributes, like
    SynthBirds): a caption says one "word" per attribute, the image feature sums one vector per
    attribute, so unseen attribute combinations (test classes) can be retrieved."""
    rng = np.random.default_rng(seed)
    n_values = int(math.ceil(math.sqrt(n_classes)))
    words = rng.standard_normal((2, n_values, 6, 40)).astype(np.float32)  # attribute, value
    vectors = rng.standard_normal((2, n_values, feat_dim)).astype(np.float32)

    def attrs(c):
        return c // n_values, c % n_values

    rows = []
    for c in range(n_classes):
        split = "test" if c >= n_classes - test_classes else "train"
        for i in range(per_class):
            for k in range(captions):
                rows.append(dict(image_id=f"c{c}_i{i}", class_id=c, split=split, caption_idx=k,
                                 image_path=f"x/c{c}_i{i}.png", text="a bird",
                                 class_name=f"class{c}"))
    frame = manifest.build(rows, "toy", "fine_grained")
    for split in ("train", "test"):
        part = frame[frame["split"] == split]
        items = []
        for cid in part["class_id"]:
            a, b = attrs(cid)
            x = np.concatenate([np.repeat(words[0, a], rng.integers(2, 5), axis=0),
                                np.repeat(words[1, b], rng.integers(2, 5), axis=0)])
            items.append(x + 0.5 * rng.standard_normal(x.shape).astype(np.float32))
        index = pd.DataFrame({"id": part["caption_id"].values, "image_id": part["image_id"].values,
                              "class_id": part["class_id"].values,
                              "n_frames": [len(x) for x in items]})
        Ragged.from_list(items, index).save(root / "fbank", split)
        imgs = manifest.images(part)
        centres = np.stack([vectors[0, attrs(c)[0]] + vectors[1, attrs(c)[1]]
                            for c in imgs["class_id"]])
        feats = centres + 0.3 * rng.standard_normal((len(imgs), feat_dim))
        save_vectors(root / "features", split,
                     pd.DataFrame({"id": imgs["image_id"], "class_id": imgs["class_id"]}),
                     feats.astype(np.float32))
    return frame


def test_speech_encoder_shapes_and_norm():
    torch.manual_seed(0)
    enc = SpeechEncoder(TINY)
    out = enc(torch.randn(3, 50, 40), torch.tensor([50, 30, 16]))
    assert out.shape == (3, 32)
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)
    img = ImageEncoder(12, 32)(torch.randn(5, 12))
    assert img.shape == (5, 32) and torch.allclose(img.norm(dim=1), torch.ones(5), atol=1e-5)
    # official length arithmetic: (L - 6) // 2 + 1, twice
    assert enc.output_lengths(torch.tensor([1024, 100, 16])).tolist() == [253, 22, 1]


@pytest.mark.parametrize("impl", ["fast", "torch"])
def test_padding_does_not_change_the_embedding(impl):
    torch.manual_seed(0)
    enc = SpeechEncoder(SENConfig(**{**TINY.__dict__, "gru_impl": impl})).eval()
    with torch.no_grad():
        enc(torch.randn(4, 40, 40), torch.full((4,), 40))  # any use; eval mode = fixed BN stats
        short = torch.randn(1, 37, 40)
        alone = enc(short, torch.tensor([37]))
        padded = torch.cat([short, torch.zeros(1, 63, 40)], dim=1)
        batch = torch.cat([padded, torch.randn(1, 100, 40)])
        together = enc(batch, torch.tensor([37, 100]))
    assert torch.allclose(alone[0], together[0], atol=1e-5)


def test_fast_gru_matches_nn_gru_outputs_and_gradients():
    torch.manual_seed(0)
    gru = torch.nn.GRU(5, 7, 2, batch_first=True, bidirectional=True).double()
    x = torch.randn(4, 9, 5, dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([5, 9, 1, 7])
    weights = torch.randn(4, 9, 14, dtype=torch.double)
    ours = bigru(x, lengths, gru)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref, _ = pad_packed_sequence(gru(packed)[0], batch_first=True, total_length=9)
    assert torch.allclose(ours, ref, atol=1e-12)
    inputs = [x, *gru.parameters()]
    g_ours = torch.autograd.grad((ours * weights).sum(), inputs)
    g_ref = torch.autograd.grad((ref * weights).sum(), inputs)
    for a, b in zip(g_ours, g_ref):
        assert torch.allclose(a, b, atol=1e-10)


def test_match_mask_fine_grained_and_scene():
    classes = torch.tensor([3, 5, 3, 7])
    expected = torch.tensor([[0, 0, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=bool)
    assert torch.equal(match_mask(classes), expected)  # other same-class pairs dropped
    images = torch.tensor([0, 1, 2, 3])  # scene data, one caption per image in the batch
    assert not match_mask(images).any()
    images = torch.tensor([0, 0, 1])  # two captions of image 0
    assert match_mask(images).tolist() == [[False, True, False], [True, False, False],
                                           [False, False, False]]


def test_matching_loss_by_hand():
    # 2-d unit vectors, cosine similarities known exactly
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    keys = torch.tensor([0, 1, 0])  # captions 0 and 2 share a class
    beta = 2.0
    S = np.array([[1.0, 0.6, 0.0], [0.0, 0.8, 1.0], [1.0, 0.6, 0.0]])  # S[i, j] = cos(y_i, x_j)
    M = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]])  # Eq. (4)
    e = np.exp(beta * S) * M
    l_yx = -np.mean([np.log(e[i, i] / e[i].sum()) for i in range(3)])
    l_xy = -np.mean([np.log(e[i, i] / e[:, i].sum()) for i in range(3)])
    got = matching_loss(y, x, keys, beta).item()
    assert got == pytest.approx(l_yx + l_xy, rel=1e-6)
    # example of the second row by hand: P(x1|y1) = e^1.6 / (e^0 + e^1.6 + e^2)
    assert -math.log(math.exp(1.6) / (1 + math.exp(1.6) + math.exp(2.0))) == pytest.approx(
        -np.log(e[1, 1] / e[1].sum()))


def test_distinctive_loss_by_hand():
    f = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        f.weight.copy_(torch.eye(2))
    y = torch.tensor([[1.0, 0.0]])
    x = torch.tensor([[0.0, 1.0]])
    labels = torch.tensor([0])
    expected = -math.log(math.e / (math.e + 1)) - math.log(1 / (math.e + 1))
    assert distinctive_loss(f, y, x, labels).item() == pytest.approx(expected, rel=1e-6)


def test_carve_validation_keeps_every_class_and_is_disjoint(tmp_path):
    write_dataset(tmp_path)
    train = load_split(tmp_path / "fbank", tmp_path / "features", "train")
    tr, va = carve_validation(train, 0.25, np.random.default_rng(0))
    assert set(tr.images["id"]).isdisjoint(va.images["id"])
    assert set(va.images["class_id"]) == set(train.images["class_id"])
    assert len(tr.images) + len(va.images) == len(train.images)
    # captions follow their images
    assert (va.images["id"].to_numpy()[va.caption_image] == va.captions["image_id"]).all()
    x, lengths = pad_batch(va.fbank, np.arange(len(va.captions)))
    assert x.shape == (len(va.captions), int(lengths.max()), 40)


def _train(tmp_path, model_dir, epochs):
    train = load_split(tmp_path / "fbank", tmp_path / "features", "train")
    tr, va = carve_validation(train, 0.25, np.random.default_rng(0))
    cfg = SENConfig(**{**TINY.__dict__, "epochs": epochs})
    return train_sen(tr, va, "fine_grained", cfg, model_dir, csv_path=model_dir / "loss.csv")


def test_resume_continues_where_it_stopped(tmp_path):
    write_dataset(tmp_path)
    summary = _train(tmp_path, tmp_path / "straight", epochs=2)
    # final keys differ from the curves' (loss.csv columns are logged per epoch as well)
    assert set(summary) == {"best/val_map", "best/epoch", "epochs", "time/train_seconds",
                            "bf16_autocast"}
    _train(tmp_path, tmp_path / "resumed", epochs=1)
    _train(tmp_path, tmp_path / "resumed", epochs=2)  # picks up last.pt after epoch 1
    a = load_state(tmp_path / "straight" / "last.pt")
    b = load_state(tmp_path / "resumed" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2
    for part in ("speech_encoder", "image_encoder", "classifier"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    history = pd.read_csv(tmp_path / "resumed" / "loss.csv")
    assert list(history.columns) == ["epoch", "train/loss", "train/match", "train/distinctive",
                                     "val/map"]
    assert history["epoch"].tolist() == [1, 2]


@pytest.mark.slow
def test_sen_stage_learns_and_embeds(tmp_path):
    frame = write_dataset(tmp_path, n_classes=9, per_class=5)
    cfg = SENConfig(**{**TINY.__dict__, "epochs": 8})
    metrics = train_and_evaluate(frame, tmp_path / "fbank", tmp_path / "features",
                                 tmp_path / "models", tmp_path / "reports", cfg)
    assert metrics["test/map"] > 0.7, metrics  # chance: 0.5 with 2 test classes
    assert (tmp_path / "reports" / "tsne.png").stat().st_size > 1000
    speech, image, loaded = load_sen(tmp_path / "models" / "best.pt")
    assert loaded == cfg and not speech.training
    counts = embed_all(tmp_path / "fbank", tmp_path / "features", tmp_path / "models" / "best.pt",
                       tmp_path / "emb")
    index, emb = load_vectors(tmp_path / "emb", "test_speech")
    assert counts["test_speech"] == len(index) == len(emb) and emb.shape[1] == 32
    assert list(index.columns) == ["id", "image_id", "class_id"]
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    index, emb = load_vectors(tmp_path / "emb", "train_image")
    assert list(index.columns) == ["id", "class_id"] and emb.dtype == np.float32


def test_config_refuses_inconsistent_dims():
    with pytest.raises(ValueError, match="embed_dim"):
        from_dict(SENConfig, {"embed_dim": 100, "gru_hidden": 512})
    # the checkpoint's config dict (tuples saved as lists in JSON) rebuilds the same config
    cfg = from_dict(SENConfig, {"conv_channels": [8, 16], "betas": [0.9, 0.99]})
    assert cfg.conv_channels == (8, 16) and cfg.betas == (0.9, 0.99)
    assert from_dict(SENConfig, json.loads(json.dumps(to_dict(cfg)))) == cfg
