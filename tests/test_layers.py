"""The library's layers, checked from its imports (ast, like tests/test_dvc_deps.py): no module
imports a higher layer, and the project's own modules are imported at module level, where a
reader sees a module's real dependencies (ARCHITECTURE.md, "Import direction").

    foundation (config, overrides, io, arrays, stage, tracking, device, checkpoint)
      -> data -> speech | features | metrics -> sen -> rdg -> evaluate -> cli, generate
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "s2igan"

FOUNDATION = {"__init__", "config", "overrides", "io", "arrays", "stage", "tracking", "device",
              "checkpoint", "distributed"}
LAYERS = {"data": 1, "speech": 2, "asr": 2, "features": 2, "metrics": 2, "sen": 3, "rdg": 4,
          "evaluate": 5, "bundle": 6, "cli": 6, "generate": 6,
          "pyfunc": 6, "pyfunc_model": 6}
# The package's public API, exported lazily by ``s2igan/__init__.py`` (a PEP 562 module
# ``__getattr__``): ``s2igan.load_bundle`` imports the top layer only when it is used, so
# importing any foundation module stays cheap and no stage depends on the model code through it.
LAZY_EXPORTS = {("s2igan/__init__.py", "s2igan.bundle")}
# Imports of the project's own modules that may stay inside a function, and why.
LAZY_ALLOWED = {
    # make_backend loads only the backend asked for: piper-tts / coqui-tts are heavy, and coqui
    # is an optional extra that may not be installed.
    ("s2igan/speech/tts/__init__.py", "s2igan.speech.tts.piper"),
    ("s2igan/speech/tts/__init__.py", "s2igan.speech.tts.espeak"),
    ("s2igan/speech/tts/__init__.py", "s2igan.speech.tts.coqui"),
}


def layer(module: str) -> int:
    """Layer of a dotted ``s2igan`` module name (0 = foundation)."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top in FOUNDATION:
        return 0
    if top not in LAYERS:
        raise AssertionError(f"{module}: no layer assigned (add it to LAYERS and ARCHITECTURE.md)")
    return LAYERS[top]


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def own_imports(path: Path) -> list[tuple[str, bool]]:
    """(imported s2igan module, at module level?) for every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    top_level = {id(node) for node in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [base]
        else:
            continue
        out += [(n, id(node) in top_level) for n in names if n.split(".")[0] == "s2igan"]
    return out


FILES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    for path in FILES:
        layer(module_name(path))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_import_from_a_lower_layer_to_a_higher_one(path):
    mine = layer(module_name(path))
    rel = path.relative_to(REPO).as_posix()
    upward = [name for name, _ in own_imports(path)
              if layer(name) > mine and (rel, name) not in LAZY_EXPORTS]
    assert not upward, f"layer {mine} imports a higher layer: {upward}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_own_modules_are_imported_at_module_level(path):
    rel = path.relative_to(REPO).as_posix()
    hidden = [name for name, top in own_imports(path)
              if not top and (rel, name) not in LAZY_ALLOWED | LAZY_EXPORTS]
    assert not hidden, f"function-level import of {hidden}: move it to the top of the module"


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    """The walker itself: an rdg module importing evaluation code is caught, nested imports too."""
    fake = PACKAGE / "rdg" / "x.py"
    src = "import torch\n\ndef f():\n    from s2igan.evaluate.run import evaluate\n"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: src)
    [(name, top)] = own_imports(fake)
    assert name == "s2igan.evaluate.run" and not top
    assert layer(name) > layer(module_name(fake))


def test_lazy_exports_are_only_in_the_module_getattr():
    """The one upward import of ``s2igan/__init__.py`` sits inside its ``__getattr__``."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    getattr_fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef)
                      and n.name == "__getattr__")
    inside = {node.module for node in ast.walk(getattr_fn) if isinstance(node, ast.ImportFrom)}
    assert {name for _, name in LAZY_EXPORTS} == inside
    assert [name for name, top in own_imports(PACKAGE / "__init__.py") if top] == []
