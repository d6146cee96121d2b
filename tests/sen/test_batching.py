"""Hard-negative batches (sen.batch_groups, s2igan/sen/batching.py): the groups are the nearest
keys, every image comes once per epoch, and the SEN trains with them."""

import numpy as np
import pytest
import torch
from test_sen import TINY, write_dataset

from s2igan.sen.batching import greedy_groups, neighbour_order
from s2igan.sen.checkpoint import load_state
from s2igan.sen.config import SENConfig
from s2igan.sen.data import carve_validation, load_split, rows_by_label
from s2igan.sen.train import train_sen


def test_rows_by_label_in_order_with_empty_labels():
    got = rows_by_label(np.array([2, 0, 2, 1, 0]), 4)
    assert [g.tolist() for g in got] == [[1, 4], [3], [0, 2], []]


def clustered(n_clusters=4, per_cluster=3, dim=16, seed=0):
    """Key vectors in tight clusters around orthogonal centres: (vectors, cluster of each)."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:n_clusters] * 10
    cluster = np.repeat(np.arange(n_clusters), per_cluster)
    return centres[cluster] + 0.1 * rng.standard_normal((len(cluster), dim)), cluster


def test_greedy_groups_partition_the_keys_into_their_clusters():
    vectors, cluster = clustered()
    sim = vectors @ vectors.T
    groups = greedy_groups(sim, 3, np.random.default_rng(1))
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(vectors)))
    assert all(len(g) == 3 for g in groups)
    assert all(len(set(cluster[g])) == 1 for g in groups), groups


def test_greedy_groups_last_group_is_smaller():
    vectors, _ = clustered(n_clusters=2, per_cluster=5)
    groups = greedy_groups(vectors @ vectors.T, 4, np.random.default_rng(0))
    assert sorted(len(g) for g in groups) == [2, 4, 4]


def test_neighbour_order_puts_near_classes_side_by_side():
    vectors, cluster = clustered(n_clusters=4, per_cluster=2)   # 8 classes, 2 near each other
    images_per_class = 3
    keys = np.repeat(np.arange(8), images_per_class)              # class of each image
    emb = vectors[keys] + 0.05 * np.random.default_rng(2).standard_normal((len(keys), 16))
    rows = np.arange(len(keys))[::-1].copy()
    order = neighbour_order(emb, keys, rows, 2, np.random.default_rng(3))
    assert sorted(order.tolist()) == sorted(rows.tolist())           # every image, once
    rounds = keys[order].reshape(images_per_class, 8)
    for classes in rounds:
        assert sorted(classes.tolist()) == list(range(8))            # every class per round
        pairs = cluster[classes].reshape(4, 2)
        assert (pairs[:, 0] == pairs[:, 1]).all(), classes           # its group beside it
    # another draw gives another order of the same groups
    again = neighbour_order(emb, keys, rows, 2, np.random.default_rng(4))
    assert not np.array_equal(order, again)
    pairs = cluster[keys[again]].reshape(-1, 2)
    assert (pairs[:, 0] == pairs[:, 1]).all()


def test_neighbour_order_with_uneven_classes():
    keys = np.array([0, 0, 0, 1, 2, 2])
    emb = np.random.default_rng(0).standard_normal((6, 4))
    order = neighbour_order(emb, keys, np.arange(6), 2, np.random.default_rng(0))
    assert sorted(order.tolist()) == list(range(6))
    assert sorted(keys[order[:3]].tolist()) == [0, 1, 2]            # round 1: every class


def test_config_refuses_groups_of_one():
    with pytest.raises(ValueError, match="batch_groups"):
        SENConfig(batch_groups=1)
    with pytest.raises(ValueError, match="batch_groups"):
        SENConfig(batch_groups=-2)


@pytest.mark.parametrize("kind", ["s2igan", "teacher_student"])
def test_sen_trains_with_hard_negative_batches(tmp_path, kind):
    write_dataset(tmp_path, n_classes=9, per_class=4)
    train = load_split(tmp_path / "fbank", tmp_path / "features", "train")
    tr, va = carve_validation(train, 0.25, np.random.default_rng(0))
    common = {**TINY.__dict__, "kind": kind, "epochs": 2}
    out = {}
    for groups in (0, 3):
        cfg = SENConfig(**{**common, "batch_groups": groups})
        out[groups] = train_sen(tr, va, "fine_grained", cfg, tmp_path / f"m{groups}")
    assert np.isfinite(out[3]["best/val_map"])
    # the batches differ from random ones, so the trained model does too
    a = load_state(tmp_path / "m0" / "last.pt")["speech_encoder"]
    b = load_state(tmp_path / "m3" / "last.pt")["speech_encoder"]
    assert any(not torch.equal(a[k], b[k]) for k in a)
