"""kill -9 in the middle of training, then the same command again: the real `sen` stage
(`python stages/sen.py ...`, tiny SEN) and the real `rdg` stage (`python stages/rdg.py ...`, tiny
generator, no relation supervisor: its ImageNet backbone is not at hand offline) killed with
SIGKILL at a random moment after their first checkpoint resume from
``models/.resume/<stage>/last.pt`` and end with the metrics of an uninterrupted run (every key
but the timings) and the same ``loss.csv``, and no temporary is left behind. Between the kill and
the re-run the stage's DVC out ``models/<stage>`` is deleted, as ``dvc repro`` does before it
runs a stage whose outs are not ``persist``: the resumable checkpoint lives beside the out."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from conftest import E

from s2igan.arrays import save_vectors
from s2igan.checkpoint import load_checkpoint
from s2igan.data import manifest

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 40
SEN = {"embed_dim": 32, "gru_hidden": 16, "gru_layers": 1, "conv_channels": [8, 16],
       "att_hidden": 8, "epochs": EPOCHS, "batch_size": 8, "lr": 3e-3, "lr_step": 5,
       "lr_gamma": 0.9, "val_fraction": 0.25, "threads": 1, "device": "cpu",
       "tsne_points": 50}
RDG_EPOCHS = 30
RDG = {"dg": {"image_sizes": [16, 32], "ngf": 16, "ndf": 4, "z_dim": 8, "ca_dim": 6,
              "res_blocks": 1},
       "rs": {"enabled": False},
       "rdg": {"epochs": RDG_EPOCHS, "batch_size": 4, "mode_seeking": 1.0, "device": "cpu",
               "num_threads": 1, "sample_captions": 2, "diff_augment": "translation"},
       "features": {"weights": None}}
DOWN = "http://127.0.0.1:9"   # no tracking server: one warning, the metrics JSON is written

COMMANDS = {
    "sen": ["data/prepared", "data/fbank", "data/features", "models/sen", "reports/sen"],
    "rdg": ["data/prepared", "data/embeddings", "data/fbank", "data/features", "models/sen",
            "models/rdg", "reports/rdg"],
}


def _sen_fixtures():
    """``write_dataset`` of the SEN tests: filterbanks and image features of 6 classes."""
    spec = importlib.util.spec_from_file_location("_sen_fixtures", REPO / "tests/sen/test_sen.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_dataset


def _sen_workspace(root: Path) -> Path:
    root.mkdir()
    frame = _sen_fixtures()(root / "data", per_class=6)
    manifest.write(frame, root / "data/prepared/manifest.parquet")
    (root / "params.yaml").write_text(yaml.safe_dump({"sen": SEN}))
    return root


def _rdg_workspace(root: Path) -> Path:
    """The SEN tests' manifest (6 classes, 3 images each, 2 captions) with a noise PNG per image
    at its ``image_path`` and a random unit speech embedding per caption in data/embeddings,
    the `embed` stage's layout; no SEN or features are read with ``rs.enabled: false``."""
    root.mkdir()
    frame = _sen_fixtures()(root / "data", per_class=3)
    manifest.write(frame, root / "data/prepared/manifest.parquet")
    rng = np.random.default_rng(0)
    for path in manifest.images(frame)["image_path"]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / path)
    for split in ("train", "test"):
        part = frame[frame["split"] == split]
        emb = rng.standard_normal((len(part), E)).astype(np.float32)
        save_vectors(root / "data/embeddings", f"{split}_speech",
                     pd.DataFrame({"id": part["caption_id"].values,
                                   "image_id": part["image_id"].values,
                                   "class_id": part["class_id"].values}),
                     emb / np.linalg.norm(emb, axis=1, keepdims=True))
    (root / "params.yaml").write_text(yaml.safe_dump(RDG))
    return root


def _command(stage: str) -> list[str]:
    return [sys.executable, str(REPO / f"stages/{stage}.py"), *COMMANDS[stage]]


def _env() -> dict[str, str]:
    env = dict(os.environ, MLFLOW_TRACKING_URI=DOWN, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def _run(cwd: Path, stage: str, log: list[str] | None = None) -> dict:
    proc = subprocess.run(_command(stage), cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if log is not None:
        log.append(proc.stdout + proc.stderr)
    return json.loads((cwd / f"reports/{stage}/metrics.json").read_text())


def _untimed(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not k.startswith("time/")}


def _epochs_done(path: Path) -> int:
    """Epochs trained by a checkpoint: one history row each (sen counts ``epoch`` from 1, rdg
    from 0)."""
    return len(load_checkpoint(path)["history"])


def _kill_after_first_checkpoint(work: Path, stage: str, epochs: int, delay: float) -> int:
    """Start the stage in ``work``, SIGKILL it ``delay`` s after its resumable checkpoint
    ``models/.resume/<stage>/last.pt`` appears; returns the checkpoint's epoch, asserted to be
    before the last one; the out ``models/<stage>`` is then deleted, as DVC would."""
    last = work / f"models/.resume/{stage}/last.pt"
    proc = subprocess.Popen(_command(stage), cwd=work, env=_env(), stdout=subprocess.DEVNULL,
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
    done = _epochs_done(last)
    assert 1 <= done < epochs, f"killed {delay:.2f} s after the first checkpoint at epoch {done}"
    assert not (work / f"reports/{stage}/metrics.json").exists()
    shutil.rmtree(work / f"models/{stage}", ignore_errors=True)   # what `dvc repro` does first
    return done


def _no_temporaries(work: Path) -> None:
    assert not [p for p in work.rglob("*") if p.name.endswith((".tmp", ".old"))]


@pytest.mark.slow
def test_sigkill_after_a_checkpoint_then_rerun_equals_uninterrupted(tmp_path):
    straight = _run(_sen_workspace(tmp_path / "straight"), "sen")

    work = _sen_workspace(tmp_path / "killed")
    delay = random.uniform(0.0, 0.3)   # training lasts about 1.5 s after it
    done = _kill_after_first_checkpoint(work, "sen", EPOCHS, delay)

    log: list[str] = []
    resumed = _run(work, "sen", log)
    # it resumed (a run from scratch would end with the same numbers too)
    assert f"resuming from models/.resume/sen/last.pt after epoch {done}" in log[0], log[0][-2000:]
    assert _untimed(resumed) == _untimed(straight), f"killed after epoch {done}"
    assert _epochs_done(work / "models/sen/last.pt") == EPOCHS
    assert (work / "reports/sen/loss.csv").read_text() == \
        (tmp_path / "straight/reports/sen/loss.csv").read_text()
    _no_temporaries(work)


def _losses(work: Path) -> pd.DataFrame:
    return pd.read_csv(work / "reports/rdg/loss.csv").drop(columns="seconds")


@pytest.mark.slow
def test_rdg_sigkill_after_a_checkpoint_then_rerun_equals_uninterrupted(tmp_path):
    straight = _run(_rdg_workspace(tmp_path / "straight"), "rdg")
    ref = tmp_path / "straight"

    work = _rdg_workspace(tmp_path / "killed")
    delay = random.uniform(0.0, 0.8)   # training lasts about 3 s after it (0.1 s an epoch)
    done = _kill_after_first_checkpoint(work, "rdg", RDG_EPOCHS, delay)
    before = load_checkpoint(work / "models/.resume/rdg/last.pt")["history"]

    resumed = _run(work, "rdg")
    # it resumed: the killed run's epochs, wall times included, are kept, not trained again
    assert load_checkpoint(work / "models/rdg/last.pt")["history"][:done] == before
    assert _untimed(resumed) == _untimed(straight), f"killed after epoch {done}"
    assert resumed["epochs"] == RDG_EPOCHS
    assert _epochs_done(work / "models/rdg/last.pt") == RDG_EPOCHS
    pd.testing.assert_frame_equal(_losses(work), _losses(ref))   # every epoch, timings aside
    ours = load_checkpoint(work / "models/rdg/generator.pt")["generator"]
    theirs = load_checkpoint(ref / "models/rdg/generator.pt")["generator"]
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs), f"killed after epoch {done}"
    final = f"reports/rdg/samples/epoch_{RDG_EPOCHS:03d}.png"
    assert (work / final).read_bytes() == (ref / final).read_bytes()
    _no_temporaries(work)
