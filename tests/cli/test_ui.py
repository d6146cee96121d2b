"""`s2igan ui` leaves nothing running when it is stopped: the MLflow server runs in a process
group of its own, and SIGTERM (or Ctrl-C) to `s2igan ui` stops the whole group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, counts as stopped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_sigterm_stops_the_child_of_the_child(tmp_path):
    """Like `mlflow server` (which starts uvicorn and does not stop it when terminated), the
    command here starts a grandchild and does not pass SIGTERM on."""
    pidfile = tmp_path / "grandchild.pid"
    child = f"sleep 300 & echo $! > {pidfile}; wait"
    code = ("import sys; from s2igan.cli import run_process_group; "
            f"sys.exit(run_process_group(['sh', '-c', {child!r}]))")
    runner = subprocess.Popen([sys.executable, "-c", code], env=_env())
    try:
        assert _wait_for(lambda: pidfile.is_file() and pidfile.read_text().strip(), 20)
        grandchild = int(pidfile.read_text())
        assert _alive(grandchild)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=20) == 128 + signal.SIGTERM
        assert _wait_for(lambda: not _alive(grandchild), 5), "grandchild outlived `s2igan ui`"
    finally:
        if runner.poll() is None:
            runner.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow  # the MLflow server takes 10-30 s to start on 2 cores
def test_ui_sigterm_frees_the_port(tmp_path):
    port = _free_port()
    env = dict(_env(), MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    ui = subprocess.Popen([sys.executable, "-m", "s2igan.cli", "ui", "--port", str(port)],
                          env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: _serving(port), 120), "the MLflow UI did not start"
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=30) in (0, 128 + signal.SIGTERM)  # uvicorn may exit cleanly
        assert _wait_for(lambda: not _port_taken(port), 10), "the MLflow server outlived the UI"
    finally:
        if ui.poll() is None:
            ui.kill()
