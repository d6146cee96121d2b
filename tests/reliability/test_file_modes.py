"""Outputs follow the umask like any plain open/mkdir, not tempfile's private 0600 / 0700."""

from __future__ import annotations

import os
import stat

import pytest

from s2igan.io import atomic_dir, atomic_path, write_json


@pytest.fixture
def umask():
    def set_mask(mask: int) -> None:
        os.umask(mask)
    old = os.umask(0o022)
    yield set_mask
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755),
                                                     (0o002, 0o664, 0o775),
                                                     (0o077, 0o600, 0o700)])
def test_written_files_and_dirs_follow_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    write_json(tmp_path / "metrics.json", {"a": 1})
    with atomic_path(tmp_path / "model.pt") as tmp:
        tmp.write_bytes(b"weights")
    with atomic_dir(tmp_path / "features") as tmp:
        with atomic_path(tmp / "train.npy") as inner:
            inner.write_bytes(b"x")
    assert _mode(tmp_path / "metrics.json") == file_mode
    assert _mode(tmp_path / "model.pt") == file_mode
    assert _mode(tmp_path / "features") == dir_mode
    assert _mode(tmp_path / "features" / "train.npy") == file_mode


def test_replacing_a_folder_keeps_the_usual_mode(tmp_path, umask):
    umask(0o022)
    for _ in range(2):
        with atomic_dir(tmp_path / "prepared") as tmp:
            (tmp / "manifest.parquet").write_bytes(b"m")
    assert _mode(tmp_path / "prepared") == 0o755
    assert _mode(tmp_path / "prepared" / "manifest.parquet") == 0o644
