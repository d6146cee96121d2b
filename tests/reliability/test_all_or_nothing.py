"""A stage swaps in its outputs only when all of them are written: `prepare` whose contact sheet
fails leaves the previous data/prepared and sheet (or nothing) in place, and no temporaries."""

from __future__ import annotations

import pytest

from s2igan.config import from_dict
from s2igan.data import prepare as prepare_mod
from s2igan.data.prepare import DataConfig, prepare


def _cfg(seed: int) -> DataConfig:
    return from_dict(DataConfig, {"seed": seed, "contact_sheet_images": 2,
                                  "synthbirds": {"n_classes": 3, "test_classes": 1,
                                                 "images_per_class": 2, "captions_per_image": 2,
                                                 "image_size": 32, "workers": 1}}, "data")


def _snapshot(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _failing_sheet(*args, **kwargs):
    raise OSError("disk full while writing the contact sheet")


def test_failed_report_keeps_the_previous_outputs(tmp_path, monkeypatch):
    out, sheet = tmp_path / "data" / "prepared", tmp_path / "reports" / "prepare" / "sheet.png"
    prepare(_cfg(seed=0), out, sheet)
    before = _snapshot(tmp_path)
    assert (out / "manifest.parquet").is_file() and sheet.is_file()

    monkeypatch.setattr(prepare_mod, "contact_sheet", _failing_sheet)
    with pytest.raises(OSError, match="contact sheet"):
        prepare(_cfg(seed=1), out, sheet)
    assert _snapshot(tmp_path) == before     # old data, old sheet, no temporaries
    assert not [p for p in tmp_path.rglob(".*")]


def test_failed_report_on_first_run_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare_mod, "contact_sheet", _failing_sheet)
    with pytest.raises(OSError):
        prepare(_cfg(seed=0), tmp_path / "data" / "prepared", tmp_path / "reports" / "s.png")
    assert not (tmp_path / "data" / "prepared").exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_sheet_is_drawn_from_the_new_images(tmp_path):
    """The sheet is made before the swap, from the staged images, not from the old ones."""
    out, sheet = tmp_path / "prepared", tmp_path / "sheet.png"
    prepare(_cfg(seed=0), out, sheet)
    first = sheet.read_bytes()
    prepare(_cfg(seed=1), out, sheet)
    assert sheet.read_bytes() != first
    fresh = tmp_path / "fresh"
    prepare(_cfg(seed=1), fresh / "prepared", fresh / "sheet.png")
    assert sheet.read_bytes() == (fresh / "sheet.png").read_bytes()
