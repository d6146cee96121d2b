"""scripts/condition_diagnostic.py --condition vectors: another encoder's speech vectors replace
the cached SEN embeddings row for row, normalised, and a file of the wrong size is refused."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

spec = importlib.util.spec_from_file_location(
    "condition_diagnostic",
    Path(__file__).resolve().parents[1] / "scripts" / "condition_diagnostic.py")
diag = importlib.util.module_from_spec(spec)
spec.loader.exec_module(diag)


def _embeddings(folder: Path, n: dict[str, int]) -> None:
    folder.mkdir()
    for split, rows in n.items():
        ids = pd.DataFrame({"id": [f"{split}{i}" for i in range(rows)],
                            "class_id": np.arange(rows)})
        ids.to_parquet(folder / f"{split}_speech.ids.parquet")
        ids.to_parquet(folder / f"{split}_image.ids.parquet")
        np.save(folder / f"{split}_speech.npy", np.ones((rows, 4), np.float32))
        np.save(folder / f"{split}_image.npy", np.ones((rows, 4), np.float32))


def test_vectors_replace_the_speech_rows_in_order(tmp_path, monkeypatch):
    _embeddings(tmp_path / "emb", {"train": 3, "test": 2})
    monkeypatch.setattr(diag, "SRC", tmp_path / "emb")
    given = tmp_path / "given"
    given.mkdir()
    train = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0], [1.0, 0.0, 0.0]])
    np.save(given / "train_speech.npy", train)
    np.save(given / "test_speech.npy", np.array([[0.0, 5.0, 0.0], [6.0, 0.0, 8.0]]))
    out = diag.replaced_embeddings("vectors", pd.DataFrame(), tmp_path / "out", given)
    got = np.load(out / "train_speech.npy")
    np.testing.assert_allclose(got, [[0.6, 0.8, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]],
                               atol=1e-7)
    np.testing.assert_allclose(np.load(out / "test_speech.npy"),
                               [[0.0, 1.0, 0.0], [0.6, 0.0, 0.8]], atol=1e-7)
    # the image side and the ids stay the pipeline's
    assert (out / "train_image.npy").is_file()
    assert list(pd.read_parquet(out / "test_speech.ids.parquet")["id"]) == ["test0", "test1"]


def test_vectors_of_the_wrong_length_are_refused(tmp_path, monkeypatch):
    _embeddings(tmp_path / "emb", {"train": 3, "test": 2})
    monkeypatch.setattr(diag, "SRC", tmp_path / "emb")
    given = tmp_path / "given"
    given.mkdir()
    np.save(given / "train_speech.npy", np.ones((4, 3)))
    np.save(given / "test_speech.npy", np.ones((2, 3)))
    with pytest.raises(SystemExit, match="expected 3 rows"):
        diag.replaced_embeddings("vectors", pd.DataFrame(), tmp_path / "out", given)
