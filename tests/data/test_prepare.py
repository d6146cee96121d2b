"""The prepare stage's library call: manifest, images under the final directory, counts."""

from __future__ import annotations

import pytest

from s2igan.config import ConfigError, from_dict
from s2igan.data import manifest
from s2igan.data.prepare import DataConfig, prepare
from s2igan.io import BadInputError


def test_prepare_synthbirds(tmp_path):
    cfg = from_dict(DataConfig, {"synthbirds": {"n_classes": 4, "test_classes": 1,
                                                "images_per_class": 2, "captions_per_image": 2,
                                                "image_size": 32, "workers": 1},
                                 "contact_sheet_images": 2}, "data")
    metrics = prepare(cfg, tmp_path / "prepared", tmp_path / "reports" / "sheet.png")
    assert metrics == {"captions": 16, "images": 8, "classes": 4, "test/images": 2,
                       "train/images": 6}
    frame = manifest.read(tmp_path / "prepared" / "manifest.parquet")
    assert frame["image_path"].str.startswith(str(tmp_path / "prepared")).all()
    assert all(p.endswith(".png") for p in frame["image_path"])
    assert (tmp_path / "reports" / "sheet.png").is_file()
    assert not list(tmp_path.glob(".*.tmp"))   # no temporary directory left behind
    assert not (tmp_path / "prepared" / "sources.json").exists()   # its images are in prepared/


def test_prepare_refuses_bad_settings(tmp_path):
    with pytest.raises(BadInputError, match="data.root must be set"):
        prepare(DataConfig(name="cub"), tmp_path / "out", tmp_path / "s.png")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(DataConfig, {"nmae": "cub"}, "data")
    # the contact sheet is a stage output: zero images used to divide by zero deep in the grid
    with pytest.raises(ConfigError, match="data.contact_sheet_images must be >= 1, got 0"):
        DataConfig(contact_sheet_images=0)
