"""Atomic outputs and the one error type for bad input.

Every stage writes through :func:`atomic_path` / :func:`atomic_dir`: the data goes to a temporary
name beside the target (``.<name>.<8 random characters>.tmp``, a file or a folder) and is renamed
into place only when complete, so a failed stage leaves no partial output behind; before the
rename it gets the mode the umask gives a new file or folder (0644 / 0755 under umask 022), not
the 0600 / 0700 of ``tempfile``. A process killed with SIGKILL (or a power cut) cannot remove its
temporary; :func:`remove_stale_temporaries`, called by :func:`s2igan.stage.run_stage` on every
path of a stage's command line, removes such leftovers (and the ``.<name>.old`` folder of an
interrupted swap) when the stage next starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


class BadInputError(RuntimeError):
    """One clear error about one input: names the file and what is wrong with it."""

    def __init__(self, path: str | os.PathLike[str] | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


def _umask() -> int:
    """The process's umask (read without changing it where /proc allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _usual_mode(path: Path, is_dir: bool) -> None:
    """Give a temporary the mode a plain ``open``/``mkdir`` would have given it: mkstemp and
    mkdtemp create 0600 / 0700, which would make every output private to its writer."""
    os.chmod(path, (0o777 if is_dir else 0o666) & ~_umask())


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary file path beside ``target``; rename it onto ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _usual_mode(tmp_path, is_dir=False)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``target``; swap it in for ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        _usual_mode(tmp, is_dir=True)
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")   # tempfile.mkstemp/mkdtemp names above


def remove_stale_temporaries(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries that :func:`atomic_path` / :func:`atomic_dir` left for ``target``
    (beside it, and anywhere below it when it is a folder); returns what was removed.

    Only names of the temporary pattern (``.<name>.XXXXXXXX.tmp``, and ``.<name>.old`` beside
    ``target``) are touched. Call it when nothing else writes these outputs, i.e. when a stage
    starts (DVC runs one stage of a workspace at a time).
    """
    target = Path(target)
    found: list[Path] = []
    parent = target.parent if target.parent.is_dir() else None
    if parent is not None and target.name:
        prefix = f".{target.name}."
        found += [p for p in parent.iterdir()
                  if (p.name.startswith(prefix) and TEMP_NAME.match(p.name))
                  or p.name == f".{target.name}.old"]
    if target.is_dir():
        for root, dirs, files in os.walk(target):
            for name in [*dirs, *files]:
                if TEMP_NAME.match(name):
                    found.append(Path(root, name))
            dirs[:] = [d for d in dirs if not TEMP_NAME.match(d)]
    for path in found:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return found


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write JSON atomically, keys sorted, for small metrics/index files kept in git.

    NaN and +-Infinity are refused (ValueError): they are not JSON, and ``dvc metrics`` and other
    readers reject them (a stage maps them to ``null`` first, see :mod:`s2igan.tracking`)."""
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike[str]) -> Any:
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(path, f"not valid JSON ({exc})") from None
