"""Benchmark: this machine's measured peak throughput for the thread count and dtype in use.

Two small probes, each run for about ``--seconds`` after one untimed call:
* matmul: (n x n) @ (n x n), 2 n^3 FLOP per product;
* conv2d: 3x3 convolution, 64 -> 64 channels on a (8, 64, 56, 56) batch, padding 1,
  2 * 3 * 3 * 64 * 64 * 56 * 56 * 8 FLOP per call (the FLOP counter's convention: a
  multiply-add is 2 FLOP).
The peak is the larger of the two. The step benchmarks divide their achieved GFLOP/s by it.

usage: python benchmarks/peak.py [--threads N] [--dtype float32] [--device cpu]
writes reports/benchmarks/peak.json (or --out)
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

import bench


def _rate(fn, flop: float, seconds: float, sync) -> float:
    """GFLOP/s of ``fn`` over at least ``seconds`` (and at least 3 calls) after one warm-up."""
    fn()
    sync()
    calls, t0 = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        if calls >= 3:
            sync()
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds:
                return flop * calls / elapsed / 1e9


def probe(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
          seconds: float = 1.0, n: int = 1024, conv_batch: int = 8) -> dict:
    """Measured matmul and conv2d GFLOP/s on ``device`` with the current torch thread count."""
    device = torch.device(device)
    sync = bench.synchronizer(device)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dtype)
    b = torch.randn(n, n, generator=g).to(device, dtype)
    x = torch.randn(conv_batch, 64, 56, 56, generator=g).to(device, dtype)
    w = torch.randn(64, 64, 3, 3, generator=g).to(device, dtype)
    with torch.no_grad():
        mm = _rate(lambda: a @ b, 2.0 * n ** 3, seconds, sync)
        conv = _rate(lambda: F.conv2d(x, w, padding=1), 2.0 * 9 * 64 * 64 * 56 * 56 * conv_batch,
                     seconds, sync)
    return {"matmul_gflops": round(mm, 3), "conv2d_gflops": round(conv, 3),
            "peak_gflops": round(max(mm, conv), 3), "dtype": str(dtype).replace("torch.", ""),
            "threads": torch.get_num_threads(), "device": str(device),
            "probe": {"matmul_n": n, "conv2d": f"({conv_batch},64,56,56) 3x3 64->64",
                      "seconds_each": seconds}}


def machine(device_name: str, threads: int, peak_seconds: float):
    """The start of every step benchmark: the thread count (0 = torch's default), the device,
    its synchronizer, the :func:`bench.environment` record and the measured :func:`probe` peak,
    both printed. Returns (device, sync, environment, peak record)."""
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(device_name)
    env = bench.environment(device)
    print(f"{env['cpu_model']}, {env['torch_threads']} threads, torch {env['torch']}, "
          f"load {env['loadavg']}", flush=True)
    measured = probe(device, torch.float32, peak_seconds)
    print(f"peak: {measured['peak_gflops']:.1f} GFLOP/s", flush=True)
    return device, bench.synchronizer(device), env, measured


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--out", default="reports/benchmarks/peak.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {"benchmark": "measured matmul / conv2d throughput (the peak the step benchmarks "
                           "compare with)",
              "environment": bench.environment(torch.device(args.device)),
              **probe(args.device, getattr(torch, args.dtype), args.seconds)}
    print(f"matmul {result['matmul_gflops']:.1f} GFLOP/s, conv2d {result['conv2d_gflops']:.1f} "
          f"GFLOP/s ({result['threads']} threads, {result['dtype']})")
    print(f"wrote {bench.write_json(args.out, result)}")


if __name__ == "__main__":
    main()
