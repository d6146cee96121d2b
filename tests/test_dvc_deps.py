"""dvc.yaml against the code: every stage lists as a dep each s2igan module its script imports
(transitively, imports inside functions included), its command line matches its script, and
`rdg` depends on the RDG files it imports only and on no evaluation code, so editing evaluation
code does not retrain it.

Static (ast + yaml), so it runs in well under a second.
"""

from __future__ import annotations

import ast
import shlex
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "s2igan"


def _stages() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _script(stage: dict) -> tuple[str, list[str]]:
    """(script path, its arguments) of a stage ``cmd: python stages/<name>.py ARGS``."""
    words = shlex.split(stage["cmd"])
    assert words[0] == "python" and words[1].startswith("stages/"), stage["cmd"]
    return words[1], words[2:]


def _module_file(name: str) -> str | None:
    """Repo-relative file of the s2igan module or package ``name`` (None: not a module)."""
    base = REPO.joinpath(*name.split("."))
    if (base / "__init__.py").is_file():
        return (base / "__init__.py").relative_to(REPO).as_posix()
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py").relative_to(REPO).as_posix()
    return None


def _imported_modules(rel: str) -> set[str]:
    """Dotted names of the s2igan modules a file imports, anywhere in it, with their parent
    packages (importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` too)."""
    path = REPO / rel
    tree = ast.parse(path.read_text(), filename=rel)
    parts = Path(rel).with_suffix("").parts
    package = parts[:-1]  # the package a relative import is relative to (also for __init__)
    names: set[str] = set()
    lazy = {id(n) for stmt in tree.body if _is_lazy_export(rel, stmt) for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in lazy:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package[:len(package) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            # `from pkg import name`: name is a submodule or an attribute; keep it if a module
            names.update(f"{base}.{alias.name}" for alias in node.names)
    found = set()
    for name in names:
        if name.split(".")[0] != PACKAGE:
            continue
        pieces = name.split(".")
        found.update(".".join(pieces[:k]) for k in range(1, len(pieces) + 1))
    return {n for n in found if _module_file(n) is not None}


@lru_cache(maxsize=None)
def imported_files(rel: str) -> frozenset[str]:
    """Every s2igan file that running ``rel`` may import, transitively."""
    seen: set[str] = set()
    todo = [rel]
    while todo:
        for name in _imported_modules(todo.pop()):
            file = _module_file(name)
            if file not in seen:
                seen.add(file)
                todo.append(file)
    return frozenset(seen)


def _is_lazy_export(rel: str, stmt: ast.stmt) -> bool:
    """A package ``__init__``'s module ``__getattr__`` (PEP 562): it imports its module only
    when a caller uses the attribute (``s2igan.load_bundle``); no stage script does
    (:func:`test_no_stage_uses_a_lazy_export`), so its imports are no stage's deps."""
    return (Path(rel).name == "__init__.py" and isinstance(stmt, ast.FunctionDef)
            and stmt.name == "__getattr__")


def _runs_no_code(rel: str) -> bool:
    """A package ``__init__`` of only a docstring and constants cannot change a stage's output
    (so it need not be a dep; ``s2igan/__init__.py`` would otherwise be a dep of every stage)."""
    if Path(rel).name != "__init__.py":
        return False
    for stmt in ast.parse((REPO / rel).read_text()).body:
        if _is_lazy_export(rel, stmt):
            continue
        value = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign, ast.AnnAssign)) else None
        if not isinstance(value, ast.Constant):
            return False
    return True


def required_deps(stage: dict) -> set[str]:
    script, _ = _script(stage)
    return {f for f in imported_files(script) if not _runs_no_code(f)}


def covered(file: str, deps: list[str]) -> bool:
    return any(file == d or file.startswith(d.rstrip("/") + "/") for d in deps)


def _deps(stage: dict) -> list[str]:
    return [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]


STAGES = _stages()


def test_walker_follows_imports_transitively_and_inside_functions():
    files = imported_files("stages/prepare.py")
    # direct, via `from s2igan.data import manifest` (a submodule named in the import list)
    assert "s2igan/data/manifest.py" in files
    # transitive: synthbirds -> captions
    assert "s2igan/data/captions.py" in files
    # through the library call: data.prepare -> data.adapters, then its adapters
    assert {"s2igan/data/adapters/__init__.py", "s2igan/data/adapters/cub.py"} <= files
    assert "s2igan/rdg/train.py" not in files
    # an import inside a function: make_backend's `from s2igan.speech.tts.piper import ...`
    assert "s2igan/speech/tts/piper.py" in imported_files("stages/tts.py")
    # relative imports are resolved: the adapters' `from . import ...`-style imports, if any,
    # and the package __init__ files of everything imported
    assert "s2igan/__init__.py" in files and _runs_no_code("s2igan/__init__.py")
    assert not _runs_no_code("s2igan/speech/__init__.py")  # it imports s2igan.speech.store


def test_no_stage_uses_a_lazy_export():
    """Stage scripts and the library import ``s2igan.bundle`` by name, never through the lazy
    ``s2igan.load_bundle`` (whose import the dep walker does not follow)."""
    for path in [*(REPO / "stages").glob("*.py"), *(REPO / PACKAGE).rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == PACKAGE and not node.level:
                assert all(a.name == "__version__" for a in node.names), path
            if isinstance(node, ast.Attribute) and node.attr == "load_bundle":
                assert getattr(node.value, "id", None) != PACKAGE, path


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_cover_every_imported_module(name):
    stage = STAGES[name]
    script, _ = _script(stage)
    deps = _deps(stage)
    assert script in deps, f"{name}: its script {script} is not a dep"
    missing = sorted(f for f in required_deps(stage) if not covered(f, deps))
    assert not missing, f"{name}: imported but not in deps: {missing}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_code_deps_exist_and_are_used(name):
    """No typo'd dep path, and no s2igan file dep (or folder) that the stage never imports."""
    stage = STAGES[name]
    imported = imported_files(_script(stage)[0])
    for dep in _deps(stage):
        if dep.startswith((f"{PACKAGE}/", "stages/")):
            assert (REPO / dep).exists(), f"{name}: dep {dep} does not exist"
        if dep.startswith(f"{PACKAGE}/"):
            assert any(covered(f, [dep]) for f in imported), f"{name}: {dep} is never imported"


def test_rdg_training_does_not_depend_on_evaluation_code():
    """`rdg` lists exactly the RDG files it imports and nothing of ``s2igan/evaluate``, so
    editing evaluation code (scores, figures, judges) does not retrain the generator."""
    stage = STAGES["rdg"]
    deps = _deps(stage)
    rdg_files = {p.relative_to(REPO).as_posix() for p in (REPO / PACKAGE / "rdg").glob("*.py")}
    needed = {f for f in required_deps(stage) if f in rdg_files}
    assert {f for f in rdg_files if covered(f, deps)} == needed
    evaluation = {p.relative_to(REPO).as_posix()
                  for p in (REPO / PACKAGE / "evaluate").rglob("*.py")}
    assert evaluation, "s2igan/evaluate holds the evaluation code"
    assert not evaluation & required_deps(stage)
    assert not any(covered(f, deps) for f in evaluation)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_cmd_arguments_match_the_script(name):
    """The cmd passes exactly as many paths as the script's main() takes."""
    script, args = _script(STAGES[name])
    tree = ast.parse((REPO / script).read_text())
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    assert not main.args.vararg and not main.args.defaults
    assert len(args) == len(main.args.args), (
        f"{name}: cmd passes {args}, main takes {[a.arg for a in main.args.args]}")


def _tracked_params(script: str) -> list[str] | None:
    """The names passed to ``stage_params(params, NAME, ...)`` for the ``params=`` of the
    script's ``StageRun(...)``; ``[]`` for a StageRun without ``params=`` (None: the stage
    opens no StageRun)."""
    tree = ast.parse((REPO / script).read_text())
    assigned = {t.id: node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "StageRun":
            value = next((k.value for k in node.keywords if k.arg == "params"), None)
            if value is None:
                return []
            if isinstance(value, ast.Name):  # params=tracked, tracked = stage_params(...)
                value = assigned.get(value.id)
            assert (isinstance(value, ast.Call) and getattr(value.func, "id", None)
                    == "stage_params"), f"{script}: StageRun(params=stage_params(params, ...))"
            return [ast.literal_eval(arg) for arg in value.args[1:]]
    return None


@pytest.mark.parametrize("name", sorted(STAGES))
def test_mlflow_params_are_the_dvc_params(name):
    """A stage logs to MLflow exactly the params DVC tracks for it, under their params.yaml
    names (``sen.lr``, ``features.backbone``), so runs of different stages never share a param."""
    stage = STAGES[name]
    tracked = _tracked_params(_script(stage)[0])
    assert tracked is not None, f"{name}: no StageRun (every stage writes its metrics file)"
    assert tracked == stage.get("params", []), name


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_stage_declares_its_metrics_file(name):
    """One metrics file per stage, ``reports/<stage>/metrics.json``, kept in git."""
    metrics = [next(iter(m)) if isinstance(m, dict) else m for m in STAGES[name].get("metrics", [])]
    assert f"reports/{name}/metrics.json" in metrics, name
