"""s2igan.stage.run_stage: usage on a wrong argument count, `<stage>: bad input: <file>: ...` on
BadInputError, and SIGTERM unwinding so that atomic temporary outputs are removed.

Each case runs a tiny stage script in a subprocess (only the standard library and s2igan.io are
imported, so each takes a fraction of a second), as `dvc repro` would run a real one.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

HEADER = '''"""Stage `toy`: a stand-in for a real stage.

usage: python stages/toy.py IN_FILE OUT_FILE
"""

import os
import signal
import time
from pathlib import Path

from s2igan.io import BadInputError, atomic_dir, atomic_path
from s2igan.stage import run_stage

'''
FOOTER = '''

if __name__ == "__main__":
    run_stage(main, __doc__)
'''


def run_toy(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "toy.py"
    script.write_text(HEADER + textwrap.dedent(body) + FOOTER)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


COPY = """
def main(in_file, out_file):
    with atomic_path(out_file) as tmp:
        tmp.write_text(Path(in_file).read_text().upper())
"""


@pytest.mark.parametrize("args", [(), ("a",), ("a", "b", "c")])
def test_wrong_argument_count_exits_with_the_usage(tmp_path, args):
    out = run_toy(tmp_path, COPY, *args)
    assert out.returncode == 1
    assert "usage: python stages/toy.py IN_FILE OUT_FILE" in out.stderr
    assert "Traceback" not in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.py"]


def test_right_argument_count_runs_main(tmp_path):
    (tmp_path / "in.txt").write_text("bird")
    out = run_toy(tmp_path, COPY, "in.txt", "out.txt")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "out.txt").read_text() == "BIRD"


def test_usage_without_a_docstring_names_the_arguments(tmp_path):
    script = tmp_path / "bare.py"
    script.write_text("from s2igan.stage import run_stage\n\n"
                      "def main(prepared, out_dir):\n    pass\n\n"
                      "run_stage(main, None)\n")
    out = subprocess.run([sys.executable, str(script)], env=dict(os.environ, PYTHONPATH=str(REPO)),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "bare.py PREPARED OUT_DIR" in out.stderr


def test_bad_input_exits_naming_the_stage_and_the_file(tmp_path):
    body = """
    def main(in_file, out_file):
        with atomic_path(out_file) as tmp:
            tmp.write_text("partial")
            raise BadInputError(in_file, "no 'caption_id' column")
    """
    out = run_toy(tmp_path, body, "data/manifest.parquet", "out.txt")
    assert out.returncode == 1
    assert out.stderr.strip() == "toy: bad input: data/manifest.parquet: no 'caption_id' column"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.py"]  # no output, no temp file


def test_other_errors_keep_their_traceback(tmp_path):
    body = """
    def main(in_file, out_file):
        raise ValueError("a bug, not bad input")
    """
    out = run_toy(tmp_path, body, "a", "b")
    assert out.returncode == 1
    assert "Traceback" in out.stderr and "ValueError: a bug, not bad input" in out.stderr
    assert "bad input:" not in out.stderr


@pytest.mark.parametrize("context", ["atomic_path", "atomic_dir"])
def test_sigterm_unwinds_and_removes_temporary_outputs(tmp_path, context):
    """SIGTERM's default action would kill the process with the temp output left behind
    (return code -15); run_stage's handler exits with 143 through the `finally` blocks."""
    body = f"""
    def main(in_file, out_file):
        with {context}(out_file) as tmp:
            Path(in_file).write_text(str(tmp))
            (tmp / "part.bin" if tmp.is_dir() else tmp).write_text("partial")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # interrupted by the handler
        raise AssertionError("not reached")
    """
    out = run_toy(tmp_path, body, "tmp_name.txt", "out")
    assert out.returncode == 143, out.stderr
    tmp_name = tmp_path / (tmp_path / "tmp_name.txt").read_text()  # as the script saw it
    assert tmp_name.name.startswith(".out.") and tmp_name.resolve().parent == tmp_path.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp_name.txt", "toy.py"]


STAGE_SCRIPTS = sorted((REPO / "stages").glob("*.py"))


@pytest.mark.parametrize("script", STAGE_SCRIPTS, ids=lambda p: p.stem)
def test_stage_scripts_end_with_run_stage(script):
    """Every stage script uses the shared entry point (and no copy of its boilerplate)."""
    tree = ast.parse(script.read_text())
    last = tree.body[-1]
    assert ast.unparse(last) == "if __name__ == '__main__':\n    run_stage(main, __doc__)"
    assert "usage:" in ast.get_docstring(tree).lower()
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "signal" not in imported


def _sigterm_action(_):
    import signal
    return signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def _initialised(_):
    import os
    return os.environ.get("S2IGAN_TEST_INIT")


def _set_env(value):
    import os
    os.environ["S2IGAN_TEST_INIT"] = value


def test_worker_pool_workers_die_on_sigterm_by_default(monkeypatch):
    """run_stage's SIGTERM handler (a Python-level exit) must not reach forked pool workers:
    Pool.terminate() would then leave a worker blocked on the task-queue lock and hang the stage."""
    import signal

    from s2igan.stage import _exit_on_sigterm, worker_pool
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)      # as run_stage installs it
    try:
        with worker_pool(2) as pool:
            assert pool.map(_sigterm_action, range(4)) == [True] * 4
        with worker_pool(2, _set_env, ("ran",)) as pool:             # the caller's initializer too
            assert pool.map(_initialised, range(2)) == ["ran", "ran"]
    finally:
        signal.signal(signal.SIGTERM, previous)
