"""scripts/condition_screen.py: the generator's condition fitted as the `rdg` stage fits it, and
the probe on it, on tiny vectors whose answer is known."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from s2igan.arrays import save_vectors
from s2igan.rdg.config import DGConfig

spec = importlib.util.spec_from_file_location(
    "condition_screen", Path(__file__).resolve().parents[1] / "scripts" / "condition_screen.py")
screen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(screen)

COLOURS = ["red", "blue"]


def _workspace(tmp_path: Path, wing_in_speech: bool) -> pd.DataFrame:
    """8 classes (crown x wing x size), 3 images of 2 captions each; classes 3 and 4 are the
    unseen test classes. Features carry crown and wing on axes 0 and 1; speech carries the
    crown on axis 0 and the wing on axis 1 only if ``wing_in_speech``; the rest is noise."""
    rng = np.random.default_rng(0)
    rows = []
    for c in range(8):
        attrs = {"crown": COLOURS[c % 2], "wing": COLOURS[(c // 2) % 2],
                 "size": ["small", "large"][(c // 4) % 2]}
        for i in range(3):
            for k in range(2):
                rows.append({"caption_id": f"c{c}_i{i}#{k}", "image_id": f"c{c}_i{i}",
                             "class_id": c, "split": "test" if c in (3, 4) else "train",
                             "attributes": json.dumps(attrs)})
    frame = pd.DataFrame(rows)

    def signs(part, attr):
        return np.where(part["attributes"].map(json.loads).str[attr] == "red", 1.0, -1.0)

    for split in ("train", "test"):
        caps = frame[frame["split"] == split]
        imgs = caps.drop_duplicates("image_id")
        wing = signs(caps, "wing") if wing_in_speech else np.zeros(len(caps))
        speech = np.c_[signs(caps, "crown"), wing, 0.05 * rng.normal(size=(len(caps), 6))]
        save_vectors(tmp_path / "emb", f"{split}_speech",
                     caps[["caption_id", "image_id", "class_id"]].rename(
                         columns={"caption_id": "id"}), speech.astype(np.float32))
        feats = np.c_[signs(imgs, "crown"), signs(imgs, "wing"),
                      0.05 * rng.normal(size=(len(imgs), 6))]
        save_vectors(tmp_path / "feat", split, imgs[["image_id", "class_id"]].rename(
            columns={"image_id": "id"}), feats.astype(np.float32))
    return frame


@pytest.mark.parametrize("wing_in_speech", [True, False])
def test_condition_keeps_what_speech_and_image_share(tmp_path, wing_in_speech):
    frame = _workspace(tmp_path, wing_in_speech)
    dg = DGConfig(condition_projection="cca", condition_dims=4)
    project = screen.fitted_condition(tmp_path / "emb", tmp_path / "feat", dg)
    assert project.weight.shape == (8, 4)
    scores = screen.condition_probe(frame, tmp_path / "emb", project)
    assert scores["probe/condition_crown"] == 1.0
    # the wing reaches the condition only when the speech says it
    assert (scores["probe/condition_wing"] == 1.0) == wing_in_speech
    with torch.no_grad():
        y = project(torch.randn(5, 8))
    torch.testing.assert_close(y.norm(dim=1), torch.ones(5))


def test_main_appends_one_labelled_line(tmp_path, monkeypatch):
    frame = _workspace(tmp_path, True)
    for name in ("prepared", "embeddings", "features"):
        (tmp_path / "data" / name).mkdir(parents=True)
    (tmp_path / "emb").rename(tmp_path / "data" / "embeddings")
    (tmp_path / "feat").rename(tmp_path / "data" / "features")
    seen = {}
    monkeypatch.setattr(screen.mf, "read", lambda path: seen.setdefault("frame", frame))
    (tmp_path / "params.yaml").write_text(
        "sen: {epochs: 3}\ndg: {condition_projection: cca, condition_dims: 4}\n")
    monkeypatch.chdir(tmp_path)
    for label in ("a", "b"):
        monkeypatch.setattr("sys.argv", ["condition_screen.py", "--label", label])
        screen.main()
    lines = [json.loads(x) for x in
             (tmp_path / "reports/curves/condition_screen.jsonl").read_text().splitlines()]
    assert [x["label"] for x in lines] == ["a", "b"] and lines[0]["sen"] == {"epochs": 3}
    assert lines[0]["probe/condition_crown"] == 1.0 and "binding/condition_crown_wing" in lines[0]
