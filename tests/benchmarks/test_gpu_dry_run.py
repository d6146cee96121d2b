"""benchmarks/gpu.sh --dry-run: the whole GPU benchmark, shrunk, on the CPU."""

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_sh_dry_run_writes_its_json_and_sample_grid(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["benchmarks/gpu.sh", "--dry-run", "--out", str(tmp_path)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "gpu.json").read_text())
    assert res["dry_run"] is True and res["environment"]["device"] == "cpu"
    rdg = res["rdg_step"]
    for amp in ("amp_on", "amp_off"):
        assert rdg[amp]["median_s"] > 0 and len(rdg[amp]["step_s"]) == rdg["config"]["timed_steps"]
        assert "peak_memory_gib" in rdg[amp]          # null on a CPU
    assert set(res["generation_ms_per_image"]) == {"batch_1", "batch_4"}
    assert all(v > 0 for v in res["generation_ms_per_image"].values())
    assert res["sen_step"]["median_s"] > 0
    train = res["training"]
    assert train["steps"] == 2 and train["epochs"] == 1
    assert res["total_s"] < 60
    # the grid: a row of real images, then one row per generator scale, 3 training classes
    grid = Image.open(tmp_path / train["sample_grid"])
    size, pad, columns, rows = 32, 2, 3, 1 + 2
    assert grid.size == (columns * (size + pad) + pad, rows * (size + pad) + pad)
