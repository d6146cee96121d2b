import pytest

from s2igan.arrays import Ragged, load_vectors, save_vectors
from s2igan.data import manifest
from s2igan.io import BadInputError, atomic_path

import numpy as np
import pandas as pd


def _rows():
    return [
        {"image_id": "a", "image_path": "a.png", "class_id": 0, "class_name": "c0", "split": "train",
         "caption_idx": i, "text": f"caption {i}", "attributes": '{"crown": "red"}'}
        for i in range(2)
    ] + [{"image_id": "b", "image_path": "b.png", "class_id": 1, "class_name": "c1", "split": "test",
          "caption_idx": 0, "text": None, "audio_path": "b_0.wav"}]


def test_roundtrip_keeps_columns_and_metadata(tmp_path):
    frame = manifest.build(_rows(), dataset="toy", kind="scene")
    manifest.write(frame, tmp_path / "m.parquet")
    back = manifest.read(tmp_path / "m.parquet")
    assert list(back.columns) == list(manifest.COLUMNS)
    assert back.attrs == {"dataset": "toy", "kind": "scene"}
    assert back["caption_id"].tolist() == ["a#0", "a#1", "b#0"]
    assert manifest.attributes(back).loc[0, "crown"] == "red"
    assert manifest.images(back)["image_id"].tolist() == ["a", "b"]


@pytest.mark.parametrize("change, message", [
    (lambda r: r[0].update(split="dev"), "unknown split"),
    (lambda r: r[2].update(audio_path=None), "neither text nor audio"),
    (lambda r: r[1].update(caption_idx=0), "duplicate caption_id"),
])
def test_contract_violations_are_named(change, message):
    rows = _rows()
    change(rows)
    with pytest.raises(BadInputError, match=message):
        manifest.build(rows, dataset="toy", kind="scene")


def test_read_names_missing_and_corrupt_files(tmp_path):
    with pytest.raises(BadInputError, match="manifest not found"):
        manifest.read(tmp_path / "nope.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(BadInputError, match="bad.parquet"):
        manifest.read(bad)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(ValueError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise ValueError("fail midway")
    assert list(tmp_path.iterdir()) == []


def test_ragged_and_vectors_roundtrip(tmp_path):
    items = [np.full((n, 3), n, np.float32) for n in (2, 0, 5)]
    index = pd.DataFrame({"id": ["x", "y", "z"]})
    Ragged.from_list(items, index).save(tmp_path, "train")
    back = Ragged.load(tmp_path, "train")
    assert back.lengths.tolist() == [2, 0, 5]
    assert np.array_equal(back[2], items[2])
    save_vectors(tmp_path, "feat", index, np.eye(3, dtype=np.float32))
    idx, data = load_vectors(tmp_path, "feat")
    assert idx["id"].tolist() == ["x", "y", "z"] and data.shape == (3, 3)
