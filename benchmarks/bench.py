"""Shared parts of the step benchmarks: the machine record, same-run alternating timing, FLOP
counting, and loading the official S2IGAN code (through benchmarks/peer/time_peer.py) when a
checkout of it is present.

Honest-speed rules (issue #14): a speed ratio against the official code comes only from one run
that alternates the two steps (A B A B ...) on the same configuration, with the medians taken
over the same rounds; no reference time is hard-coded anywhere.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HARNESS = HERE / "peer" / "time_peer.py"
OFFICIAL_COMMIT = "8cca123"                        # the commit time_peer.py was written against
DEFAULT_CHECKOUT = ROOT / ".peer" / "S2IGAN"       # where benchmarks/get_official.sh puts it
PEER_SITE = ROOT / ".peer" / "site"                # easydict, tensorboardX (official code only)


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict:
    """What a number depends on: CPU, threads, torch, load of the machine when it was taken."""
    env = {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
           "python": platform.python_version(), "device": str(device),
           "loadavg": [round(v, 2) for v in os.getloadavg()],
           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    try:
        env["git_commit"] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                           capture_output=True, text=True,
                                           timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        env["git_commit"] = None
    return env


def synchronizer(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def timed(fn: Callable[[], object], sync: Callable[[], None]) -> float:
    """Wall seconds of one call of ``fn`` (device work included)."""
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def alternate(steps: dict[str, Callable[[], object]], warmup: int, rounds: int,
              sync: Callable[[], None] = lambda: None, log: bool = True) -> list[dict[str, float]]:
    """Time the steps in turn, ``rounds`` times, after ``warmup`` untimed turns.

    Each round calls every step once in the order of ``steps`` (A B, A B, ...), so the steps see
    the same machine load; returns one ``{name: seconds}`` per timed round.
    """
    for _ in range(warmup):
        for fn in steps.values():
            fn()
    out = []
    for r in range(rounds):
        row = {name: timed(fn, sync) for name, fn in steps.items()}
        out.append(row)
        if log:
            print(f"  round {r + 1}/{rounds}: "
                  + "  ".join(f"{k} {v:.3f} s" for k, v in row.items()), flush=True)
    return out


def medians(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]} if rows else {}


def compare(steps: dict[str, Callable[[], object]], warmup: int, rounds: int,
            sync: Callable[[], None], peak_gflops: float | None) -> dict:
    """The same-run comparison of ``steps`` (``"ours"`` and, when the checkout is present,
    ``"official"`` first): FLOPs of one untimed call each, then :func:`alternate`; returns the
    rounds, the medians, the ratio official/ours (None without the official step), its ceiling
    (the official median over our step's floor at the measured peak) and each step's
    :func:`efficiency`, and prints the ratio."""
    flops = {name: count_flops(fn) for name, fn in steps.items()}
    rows = alternate(steps, warmup, rounds, sync)
    med = medians(rows)
    ratio = round(med["official"] / med["ours"], 3) if "official" in med else None
    # the largest ratio ours could reach with its own arithmetic: the official median over our
    # floor (every counted FLOP at the measured peak)
    floor = floor_seconds(flops["ours"], peak_gflops)
    ceiling = round(med["official"] / floor, 3) if ratio is not None and floor else None
    if ratio is not None:
        print(f"official {med['official']:.3f} s, ours {med['ours']:.3f} s: {ratio:.2f}x",
              flush=True)
    return {"order": list(steps), "warmup_rounds": warmup,
            "rounds": [{f"{k}_s": round(v, 4) for k, v in r.items()} for r in rows],
            **{f"{k}_median_s": round(v, 4) for k, v in med.items()},
            "ratio_official_over_ours": ratio, "ratio_ceiling_at_peak": ceiling,
            **{f"{k}_efficiency": efficiency(flops[k], med[k], peak_gflops) for k in steps}}


def count_flops(fn: Callable[[], object]) -> float:
    """FLOPs of one call of ``fn`` (forward + backward) as torch's FlopCounterMode counts them:
    matrix products and convolutions only (element-wise work, norms and optimiser updates are
    not counted), i.e. the arithmetic a step cannot do without."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return float(counter.get_total_flops())


def efficiency(flop: float, seconds: float, peak_gflops: float | None) -> dict:
    """GFLOP per step, GFLOP/s achieved, the fraction of the measured peak, and the floor: the
    seconds the step's counted arithmetic takes at that peak, below which no implementation of
    the same arithmetic goes on this machine."""
    gflops = flop / 1e9 / seconds if seconds > 0 else None
    floor = floor_seconds(flop, peak_gflops)
    return {"gflop_per_step": round(flop / 1e9, 3),
            "gflops_achieved": None if gflops is None else round(gflops, 3),
            "fraction_of_peak": (round(gflops / peak_gflops, 4)
                                 if gflops is not None and peak_gflops else None),
            "floor_s_at_peak": None if floor is None else round(floor, 4)}


def floor_seconds(flop: float, peak_gflops: float | None) -> float | None:
    """Seconds ``flop`` counted FLOPs take at the measured peak (None without a peak)."""
    return flop / 1e9 / peak_gflops if peak_gflops else None


def load_official(checkout: str | Path | None):
    """The official code's timing harness (``benchmarks/peer/time_peer.py``) imported against a
    checkout of github.com/xinshengwang/S2IGAN, or why it cannot be.

    Returns ``(module, info)``; ``module`` is None when the checkout or its packages are absent,
    and ``info["status"]`` says ``present`` or ``absent`` with the reason. Importing the harness
    applies its run-time shims (it edits no file of the checkout): safe YAML loading, a random
    Inception-v3 state dict instead of a download, ``Tensor.cuda`` as the identity (CPU only).
    """
    path = Path(checkout or os.environ.get("S2IGAN_REF") or DEFAULT_CHECKOUT).resolve()
    info = {"checkout": str(path), "harness": str(HARNESS.relative_to(ROOT)),
            "expected_commit": OFFICIAL_COMMIT}
    if not all((path / f).is_file() for f in ("models/model.py", "steps/trainer.py")):
        return None, {**info, "status": "absent",
                      "reason": f"no checkout of the official code at {path} "
                                f"(benchmarks/get_official.sh makes one)"}
    if PEER_SITE.is_dir() and str(PEER_SITE) not in sys.path:
        sys.path.append(str(PEER_SITE))
    os.environ["S2IGAN_REF"] = str(path)
    spec = importlib.util.spec_from_file_location("time_peer", HARNESS)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as exc:
        return None, {**info, "status": "absent",
                      "reason": f"the official code cannot be imported: {exc} "
                                f"(benchmarks/get_official.sh installs its extra packages)"}
    sys.modules["time_peer"] = module
    try:
        commit = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return module, {**info, "status": "present", "commit": commit}


def nparams(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def write_json(path: str | Path, data: dict) -> Path:
    """Write ``data`` atomically (temporary file + rename) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    tmp.replace(path)
    return path


def rounded(values, digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in values]


def precisions(make_step: Callable[[bool], Callable[[], object]], device: torch.device,
               rounds: int, sync: Callable[[], None], per_call: int = 1) -> dict:
    """float32 against bf16 autocast of the same step, alternating in one run.

    ``make_step(amp)`` builds the step with mixed precision off / on. Where the device has no
    native bf16 (:func:`s2igan.device.bf16_native`) only float32 is timed and the ratio is None.
    ``per_call`` steps per call (the RDG's cycle of ``rs.every`` steps) divides the times."""
    from s2igan.device import bf16_native   # noqa: PLC0415 - benchmarks import s2igan lazily

    native = bf16_native(device)
    steps = {"float32": make_step(False)}
    if native:
        steps["bf16_autocast"] = make_step(True)
    rows = alternate(steps, 1, rounds, sync)
    per_step = {k: [r[k] / per_call for r in rows] for k in steps}
    med = {k: statistics.median(v) for k, v in per_step.items()}
    return {"bf16_native": native,
            "step_s": {k: [round(x, 4) for x in v] for k, v in per_step.items()},
            "median_step_s": {k: round(v, 4) for k, v in med.items()},
            "speedup_bf16": (round(med["float32"] / med["bf16_autocast"], 3) if native else None),
            "timing": f"float32 and bf16 autocast alternating, {rounds} rounds after one untimed"}
