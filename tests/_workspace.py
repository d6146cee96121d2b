"""A temporary copy of the repo as a git + DVC workspace with a shrunk params.yaml, for the
end-to-end `dvc repro` tests (tests/test_pipeline.py, tests/data/test_own_data_pipeline.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = ("data/", "models/", "reports/")      # pipeline outputs: never copied
KEPT = ("data/own/",)                           # ... except the default data.root's README

# The tiny profile: every stage really runs, on a dataset small enough for a CI machine.
TINY = {
    "data": {"synthbirds": {"n_classes": 6, "test_classes": 2, "images_per_class": 3,
                            "captions_per_image": 2, "image_size": 64},
             "contact_sheet_images": 4},
    "tts": {"workers": 1, "examples": 2},
    "sen": {"epochs": 2, "batch_size": 8, "embed_dim": 64, "gru_hidden": 32},
    "dg": {"image_sizes": [16, 32], "ngf": 8, "ndf": 8, "z_dim": 16, "ca_dim": 16},
    "rdg": {"epochs": 1, "batch_size": 6},
    "judge": {"epochs": 1, "batch_size": 8},
    "evaluate": {"batch_size": 8},
}


def merge(base: dict, over: dict) -> dict:
    """``base`` with ``over``'s keys replaced, nested sections merged key by key."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return out


def run(cmd, cwd, env) -> str:
    """Run ``cmd``; its output, or an assertion error with the tail of both streams."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def make_workspace(work: Path, overrides: dict) -> dict[str, str]:
    """Copy the repo's git-listed files (not the pipeline outputs) into ``work``, merge
    ``overrides`` into its params.yaml, commit it all to a fresh git repo; returns the
    environment to run `dvc` in (this interpreter's bin first, a sqlite MLflow store in ``work``)."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        src = REPO / rel
        if src.is_file() and (not rel.startswith(OUTPUTS) or rel.startswith(KEPT)):
            dst = work / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    params = yaml.safe_load((work / "params.yaml").read_text())
    (work / "params.yaml").write_text(yaml.safe_dump(merge(params, overrides), sort_keys=False))
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny"]):
        run(cmd, work, env)
    return env
