"""Issue #12.4: every `torch.load` of the project's code is `weights_only=True`, and no code
unpickles anything (no `pickle`, `np.load(allow_pickle=True)`, `pd.read_pickle`).

Static (ast) over s2igan/, stages/, scripts/ and benchmarks/: a new loader that forgets the
flag fails here, not only when someone thinks of a crafted file (test_model_files.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FILES = sorted(p for d in ("s2igan", "stages", "scripts", "benchmarks")
               for p in (REPO / d).rglob("*.py"))


def _keyword(call: ast.Call, name: str):
    kw = next((k for k in call.keywords if k.arg == name), None)
    return None if kw is None else getattr(kw.value, "value", kw.value)


def unsafe_loads(source: str) -> list[str]:
    """The pickle-capable loads in ``source``, as ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if any(n.split(".")[0] in ("pickle", "cPickle", "dill", "joblib") for n in names):
                found.append(f"{node.lineno}: imports a pickle module")
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = getattr(node.func.value, "id", None)
        if (owner, node.func.attr) == ("torch", "load") and _keyword(node, "weights_only") is not True:
            found.append(f"{node.lineno}: torch.load without weights_only=True")
        if (owner, node.func.attr) == ("np", "load") and _keyword(node, "allow_pickle") is True:
            found.append(f"{node.lineno}: np.load(allow_pickle=True)")
        if (owner, node.func.attr) == ("pd", "read_pickle"):
            found.append(f"{node.lineno}: pd.read_pickle")
    return found


def test_the_checker_finds_unsafe_loads():
    src = ("import torch, pickle\nimport numpy as np\n"
           "torch.load(p)\ntorch.load(p, weights_only=False)\ntorch.load(p, weights_only=True)\n"
           "np.load(p, allow_pickle=True)\n")
    assert unsafe_loads(src) == ["1: imports a pickle module",
                                 "3: torch.load without weights_only=True",
                                 "4: torch.load without weights_only=True",
                                 "6: np.load(allow_pickle=True)"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_pickle_loads(path):
    assert not unsafe_loads(path.read_text()), (path, unsafe_loads(path.read_text()))
