"""kill -9 in the middle of training, then the same command again: the real `sen` stage
(`python stages/sen.py ...`, tiny SEN) killed with SIGKILL at a random moment after its first
checkpoint resumes from ``models/sen/last.pt`` and ends with the metrics of an uninterrupted run
(every key but the timings), and no temporary is left behind."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from s2igan.checkpoint import load_checkpoint
from s2igan.data import manifest

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 40
SEN = {"embed_dim": 32, "gru_hidden": 16, "gru_layers": 1, "conv_channels": [8, 16],
       "att_hidden": 8, "epochs": EPOCHS, "batch_size": 8, "lr": 3e-3, "lr_step": 5,
       "lr_gamma": 0.9, "val_fraction": 0.25, "threads": 1, "device": "cpu",
       "tsne_points": 50}
DOWN = "http://127.0.0.1:9"   # no tracking server: one warning, the metrics JSON is written


def _sen_fixtures():
    """``write_dataset`` of the SEN tests: filterbanks and image features of 6 classes."""
    spec = importlib.util.spec_from_file_location("_sen_fixtures", REPO / "tests/sen/test_sen.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_dataset


def _workspace(root: Path) -> Path:
    root.mkdir()
    frame = _sen_fixtures()(root / "data", per_class=6)
    manifest.write(frame, root / "data/prepared/manifest.parquet")
    (root / "params.yaml").write_text(yaml.safe_dump({"sen": SEN}))
    return root


def _command() -> list[str]:
    return [sys.executable, str(REPO / "stages/sen.py"), "data/prepared", "data/fbank",
            "data/features", "models/sen", "reports/sen"]


def _env() -> dict[str, str]:
    env = dict(os.environ, MLFLOW_TRACKING_URI=DOWN, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def _run(cwd: Path) -> dict:
    proc = subprocess.run(_command(), cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((cwd / "reports/sen/metrics.json").read_text())


def _untimed(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not k.startswith("time/")}


def _epoch(path: Path) -> int:
    return int(load_checkpoint(path)["epoch"])


@pytest.mark.slow
def test_sigkill_after_a_checkpoint_then_rerun_equals_uninterrupted(tmp_path):
    straight = _run(_workspace(tmp_path / "straight"))

    work = _workspace(tmp_path / "killed")
    last = work / "models/sen/last.pt"
    delay = random.uniform(0.0, 0.3)   # training lasts about 1.5 s after it
    proc = subprocess.Popen(_command(), cwd=work, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not last.exists():
            assert proc.poll() is None, "the stage ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint after 90 s"
            time.sleep(0.005)
        time.sleep(delay)
        assert proc.poll() is None, f"training finished within {delay:.2f} s of its checkpoint"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = _epoch(last)
    assert 1 <= done < EPOCHS, f"killed {delay:.2f} s after the first checkpoint at epoch {done}"
    assert not (work / "reports/sen/metrics.json").exists()

    resumed = _run(work)
    assert _untimed(resumed) == _untimed(straight), f"killed after epoch {done}"
    assert _epoch(last) == EPOCHS
    assert (work / "reports/sen/loss.csv").read_text() == \
        (tmp_path / "straight/reports/sen/loss.csv").read_text()
    assert not [p for p in work.rglob("*") if p.name.endswith((".tmp", ".old"))]
