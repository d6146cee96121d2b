"""Benchmark: one full RDG training step (G forward, the per-scale D updates, RS update, G update
with KL and EMA) at the official S2IGAN configuration (64/128/256 px, GF_DIM = DF_DIM = 64,
R_NUM = 2, EMBEDDING_DIM = 128; cfg/birds_3stages.yml), batch 8 on the CPU by default; plus
generation throughput (EMA generator, batch 64). Writes reports/benchmarks/rdg_step.json.

The relation supervisor runs the real backbone (EfficientNet-Lite0, ImageNet weights) and the
SEN image encoder (random weights: timing only) on the generated 256 px images.

usage: python benchmarks/rdg_step.py [--device cpu|cuda] [--batch 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from s2igan.features.backbones import load_backbone
from s2igan.io import write_json
from s2igan.rdg.config import DGConfig, RDGConfig, RSConfig
from s2igan.rdg.relation import ImageEmbedder
from s2igan.rdg.sampling import generate
from s2igan.rdg.step import build_nets, train_step
from s2igan.sen.model import ImageEncoder


def make_batch(b: int, dg: DGConfig, e: int, device) -> dict:
    g = torch.Generator().manual_seed(0)
    n = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    batch = {"images": [n(b, 3, s, s).clamp(-1, 1) for s in dg.image_sizes],
             "y": F.normalize(n(b, e), dim=1), "class_id": torch.arange(b) % 4,
             "z": n(b, dg.z_dim), "eps": n(b, dg.ca_dim),
             "gt": F.normalize(n(b, e), dim=1), "ri": F.normalize(n(b, e), dim=1),
             "mi": F.normalize(n(b, e), dim=1), "wrong": torch.roll(torch.arange(b), 1),
             "wrong_mask": torch.ones(b)}
    return {k: [x.to(device) for x in v] if isinstance(v, list) else v.to(device)
            for k, v in batch.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--ndf", type=int, default=64)
    ap.add_argument("--out", default="reports/benchmarks/rdg_step.json")
    args = ap.parse_args()
    device = torch.device(args.device)
    dg = DGConfig(image_sizes=tuple(int(s) for s in args.sizes.split(",")), ngf=args.ngf,
                  ndf=args.ndf, z_dim=100, ca_dim=128, res_blocks=2)
    rs, rdg = RSConfig(), RDGConfig(batch_size=args.batch, device=args.device, amp=True)
    backbone = load_backbone("efficientnet_lite0")
    embedder = ImageEmbedder(backbone, ImageEncoder(backbone.dim, 1024))
    torch.manual_seed(0)
    nets = build_nets(dg, rs, rdg, 1024, True, device, embedder)
    batch = make_batch(args.batch, dg, 1024, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(args.repeats + 1):            # the first step warms up (allocations, kernels)
        sync()
        t = time.perf_counter()
        train_step(nets, batch, dg, rs, rdg, fine_grained=True)
        sync()
        if i:
            times.append(time.perf_counter() - t)
    result = {
        "config": {"image_sizes": list(dg.image_sizes), "ngf": dg.ngf, "ndf": dg.ndf,
                   "res_blocks": dg.res_blocks, "batch": args.batch, "rs": "relation",
                   "backbone": "efficientnet_lite0", "device": str(device),
                   "torch_threads": torch.get_num_threads(), "cpu": platform.processor()},
        "step_seconds_median": statistics.median(times), "step_seconds": times,
        "official_step_seconds_reference": 19.9 if device.type == "cpu" else None,
    }
    if device.type == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    speech = F.normalize(torch.randn(64, 1024), dim=1)
    z = torch.randn(64, dg.z_dim)
    nets.ema.eval()
    generate(nets.ema, speech, z, 64)
    sync()
    t = time.perf_counter()
    for _ in range(2):
        generate(nets.ema, speech, z, 64)
    sync()
    result["generate_images_per_second_batch64"] = 128 / (time.perf_counter() - t)
    if result["official_step_seconds_reference"]:
        result["speedup_vs_official"] = 19.9 / result["step_seconds_median"]
    write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
