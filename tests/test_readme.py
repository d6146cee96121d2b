"""Every command the README (and docs/ablations.md, docs/systems.md and docs/speed.md, which hold
its older tables and measurements) shows is checked here, short of running what the pipeline
tests run:

* each `dvc exp run -S key=value ...` names existing params keys, and the params it gives pass
  the `check` stage (so a copied command does not fail at the first stage);
* each `s2igan <command> [options]` parses with the CLI's own parser;
* each `make <target>` is a Makefile target, each `python <script>` exists.
The end-to-end runs of these (ablations, generate, dvc push / pull, own data) are in
tests/test_pipeline.py, tests/cli/ and tests/data/test_own_data_pipeline.py.
"""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path

import pytest
import yaml
from conftest import check_stage

from s2igan.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "docs/ablations.md", "docs/systems.md", "docs/speed.md")
# (docs/fidelity.md keeps commands of retired params)


def _commands() -> list[str]:
    """The shell lines (```bash blocks) of the README and of the pages it hands its tables to,
    continuations joined, comments dropped."""
    text = "\n".join((REPO / name).read_text(encoding="utf8") for name in DOCS)
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        block = re.sub(r"\\\n\s*", " ", block)
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                lines.extend(part.strip() for part in line.split("&&"))
    # commands quoted in the prose and tables: `dvc exp run ...`, `python scripts/x.py ...`
    lines += re.findall(r"`((?:dvc exp run|python \S+\.py|s2igan |make )[^`]*)`", text)
    return list(dict.fromkeys(lines))


def _set(params: dict, dotted: str, value) -> None:
    *path, last = dotted.split(".")
    node = params
    for key in path:
        assert isinstance(node.get(key), dict), f"-S {dotted}: no params section {key!r}"
        node = node[key]
    assert last in node, f"-S {dotted}: params.yaml has no key {last!r} there"
    node[last] = value


def test_the_readme_shows_commands():
    cmds = _commands()
    assert sum(c.startswith("dvc exp run") for c in cmds) >= 10
    assert any(c.startswith("s2igan generate") for c in cmds)


@pytest.mark.parametrize("cmd", [c for c in _commands()   # (not a bare mention or a template)
                                 if c.startswith("dvc exp run") and " -S " in c and "<" not in c])
def test_every_readme_experiment_passes_the_check_stage(cmd):
    check = check_stage()
    params = copy.deepcopy(check.load_params(REPO / "params.yaml"))
    words = shlex.split(cmd)
    overrides = [words[i + 1] for i, w in enumerate(words) if w == "-S"]
    assert overrides, cmd
    for item in overrides:
        key, value = item.split("=", 1)
        _set(params, key, yaml.safe_load(value))
    problems = [p for p in check.problems(params)
                if "data.root" not in p]          # (a user's dataset path is not here)
    assert problems == [], cmd


@pytest.mark.parametrize("cmd", [c for c in _commands()   # (not a bare mention: `s2igan generate`)
                                 if c.startswith("s2igan ") and (" -" in c or " " in c[7:])])
def test_every_readme_cli_call_parses(cmd):
    words = shlex.split(cmd)[1:]
    if words == ["--version"]:
        with pytest.raises(SystemExit) as exit_:
            build_parser().parse_args(words)
        assert exit_.value.code == 0
        return
    build_parser().parse_args(words)        # argparse exits (fails the test) on a bad call


def test_every_readme_make_target_and_script_exists():
    makefile = (REPO / "Makefile").read_text()
    for cmd in _commands():
        words = shlex.split(cmd)
        if words[0] == "make":
            for target in (w for w in words[1:] if "=" not in w):
                assert re.search(rf"^{re.escape(target)}:", makefile, flags=re.M), cmd
        if words[0] == "python" and words[1].endswith(".py"):
            assert (REPO / words[1]).is_file(), cmd


def test_every_readme_script_takes_its_options():
    """`python <script> --options` as quoted: each option is one the script's parser knows."""
    for cmd in _commands():
        words = shlex.split(cmd)
        if words[0] != "python" or not words[1].endswith(".py") or len(words) == 2:
            continue
        source = (REPO / words[1]).read_text(encoding="utf8")
        for option in (w for w in words[2:] if w.startswith("--")):
            assert f'"{option.split("=")[0]}"' in source, f"{cmd}: {words[1]} has no {option}"
