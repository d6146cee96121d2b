"""Temporaries that a killed stage left beside (or inside) its outputs are removed when the
stage next starts; nothing else is touched."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from s2igan.io import atomic_dir, atomic_path, remove_stale_temporaries

REPO = Path(__file__).resolve().parents[2]


def _leftovers(root: Path) -> list[Path]:
    """What atomic_path / atomic_dir leave when their process dies by SIGKILL."""
    out = root / "data" / "fbank"
    out.mkdir(parents=True)
    (out / "train.npy").write_bytes(b"kept")
    fd, tmp_file = tempfile.mkstemp(prefix=".metrics.json.", suffix=".tmp", dir=root / "data")
    os.close(fd)
    tmp_dir = Path(tempfile.mkdtemp(prefix=".fbank.", suffix=".tmp", dir=root / "data"))
    (tmp_dir / "train.npy").write_bytes(b"partial")
    old = root / "data" / ".fbank.old"
    old.mkdir()
    fd, nested = tempfile.mkstemp(prefix=".epoch_001.png.", suffix=".tmp", dir=out)
    os.close(fd)
    return [Path(tmp_file), tmp_dir, old, Path(nested)]


def test_removes_the_leftovers_of_atomic_writes_only(tmp_path):
    stale = _leftovers(tmp_path)
    keep = [tmp_path / "data/fbank/train.npy", tmp_path / "data/.hidden.tmp",
            tmp_path / "data/notes.txt"]
    keep[1].write_text("not ours: no random part")
    keep[2].write_text("x")
    removed = remove_stale_temporaries(tmp_path / "data/fbank")
    removed += remove_stale_temporaries(tmp_path / "data/metrics.json")
    assert sorted(removed) == sorted(stale)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in keep)


def test_names_match_what_atomic_writes_use(tmp_path):
    """The pattern follows atomic_path / atomic_dir: a leftover made by them is recognised."""
    seen = []
    try:
        with atomic_path(tmp_path / "m.json") as tmp:
            seen.append(tmp)
            assert remove_stale_temporaries(tmp_path / "m.json") == [tmp]
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    with atomic_dir(tmp_path / "d") as tmp:
        assert remove_stale_temporaries(tmp_path / "d") == [tmp]
        tmp.mkdir()   # let atomic_dir finish normally


def test_a_stage_start_removes_leftovers_of_its_paths(tmp_path):
    stale = _leftovers(tmp_path)
    script = tmp_path / "toy.py"
    script.write_text('"""usage: python toy.py OUT"""\n'
                      "from s2igan.stage import run_stage\n\n\n"
                      "def main(out):\n    pass\n\n\n"
                      "if __name__ == '__main__':\n    run_stage(main, __doc__)\n")
    subprocess.run([sys.executable, str(script), "data/fbank"], cwd=tmp_path, check=True,
                   env={"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "")},
                   timeout=60)
    left = [p for p in stale if p.exists()]
    assert left == [tmp_path / "data" / next(p.name for p in stale
                                             if p.name.startswith(".metrics"))]
    assert (tmp_path / "data/fbank/train.npy").exists()
