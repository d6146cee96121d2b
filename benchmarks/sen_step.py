"""Benchmark: one SEN training step at the official configuration.

Batch 32 spoken captions padded to 1024 frames x 40 log-mel bins, 2048-d image features given
(cached, as our pipeline trains), full Eq. (8) loss (matching + distinctive over 150 classes),
backward and Adam step. Median of ``--repeats`` timed steps after ``--warmup`` untimed ones.

Two recurrent implementations with identical parameters and results:
* ``torch``: ``nn.GRU`` on a packed sequence (what the official code runs);
* ``fast``: s2igan.sen.gru (one bmm per step for both directions, hand-written backward).
Two length profiles: ``full`` (every caption 1024 frames: the worst case) and ``mixed`` (real
lengths drawn uniformly from 256-1024 frames, padded to 1024).

usage: python benchmarks/sen_step.py [--device cpu|cuda] [--batch 32] [--impl both]
writes reports/benchmarks/sen_step.json (or --out)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from s2igan.sen.config import SENConfig
from s2igan.sen.losses import distinctive_loss, matching_loss
from s2igan.sen.model import ImageEncoder, SpeechEncoder

OFFICIAL_CPU_SECONDS = 6.9  # the official code's step on this 2-core CPU (measured by the lead)


def make_step(impl: str, batch: int, frames: int, feat_dim: int, n_classes: int,
              lengths: torch.Tensor, device: torch.device):
    torch.manual_seed(0)
    cfg = SENConfig(gru_impl=impl)
    speech = SpeechEncoder(cfg).to(device)
    image = ImageEncoder(feat_dim, cfg.embed_dim).to(device)
    classifier = torch.nn.Linear(cfg.embed_dim, n_classes).to(device)
    params = [*speech.parameters(), *image.parameters(), *classifier.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3, betas=cfg.betas, weight_decay=cfg.weight_decay)
    fbank = torch.randn(batch, frames, 40, device=device)
    feats = torch.randn(batch, feat_dim, device=device)
    labels = torch.randint(0, n_classes, (batch,), device=device)
    lengths = lengths.to(device)

    def step() -> float:
        y = speech(fbank, lengths)  # (B, 1024)
        x = image(feats)  # (B, 1024)
        loss = matching_loss(y, x, labels, cfg.beta) + distinctive_loss(classifier, y, x, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def time_step(step, device: torch.device, warmup: int, repeats: int) -> list[float]:
    times = []
    for i in range(warmup + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--frames", type=int, default=1024)
    ap.add_argument("--feat-dim", type=int, default=2048)
    ap.add_argument("--classes", type=int, default=150)
    ap.add_argument("--impl", default="both", choices=["both", "fast", "torch"])
    ap.add_argument("--lengths", default="both", choices=["both", "full", "mixed"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="reports/benchmarks/sen_step.json")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    profiles = {"full": torch.full((args.batch,), args.frames, dtype=torch.long),
                "mixed": torch.randint(args.frames // 4, args.frames + 1, (args.batch,),
                                       generator=g)}
    impls = ["fast", "torch"] if args.impl == "both" else [args.impl]
    if device.type == "cuda" and args.impl == "both":
        impls = ["torch", "fast"]  # torch = cuDNN GRU (what gru_impl=auto uses on a GPU)
    names = ["full", "mixed"] if args.lengths == "both" else [args.lengths]
    load_before = os.getloadavg()
    results: dict[str, dict] = {}
    for impl in impls:
        for name in names:
            step = make_step(impl, args.batch, args.frames, args.feat_dim, args.classes,
                             profiles[name], device)
            times = time_step(step, device, args.warmup, args.repeats)
            results[f"{impl}/{name}"] = {"median_s": round(statistics.median(times), 4),
                                         "times_s": [round(t, 4) for t in times],
                                         "mean_frames": float(profiles[name].float().mean())}
            print(f"{impl:5s} {name:5s} median {statistics.median(times):.3f} s  "
                  f"({', '.join(f'{t:.2f}' for t in times)})", flush=True)
    out = {
        "benchmark": "one SEN training step (forward, Eq. 8 loss, backward, Adam)",
        "batch": args.batch, "frames": args.frames, "n_mels": 40, "feat_dim": args.feat_dim,
        "classes": args.classes, "device": str(device), "threads": args.threads,
        "warmup": args.warmup, "repeats": args.repeats, "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "results": results,
    }
    if device.type == "cpu":
        out["official_cpu_s"] = OFFICIAL_CPU_SECONDS
        out["speedup_vs_official"] = {k: round(OFFICIAL_CPU_SECONDS / v["median_s"], 2)
                                      for k, v in results.items()}
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    tmp.replace(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
