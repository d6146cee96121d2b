"""GPU benchmark (run through benchmarks/gpu.sh, at most 8 minutes): the paper profile on a GPU.

* RDG step of the paper profile (64/128/256 px, official widths, relation supervisor on
  Inception-v3 with random weights on every image of every step), batch 24, AMP (bf16 autocast)
  on and off: median step time and peak GPU memory;
* SEN step of the paper profile, batch 128 x 1024 frames, image features given;
* generation with the EMA generator: ms per image at batch 1 and 64;
* a short paper-profile RDG training on SynthBirds drawn at 256 px, its sample grid saved.
  No TTS or SEN runs on the device: each class's condition is a fixed random unit vector (plus a
  little per-image noise) standing in for the speech embedding, so the grid shows that the
  paper profile trains at 256 px, not what speech makes of it.

``--dry-run`` shrinks every part (16/32 px, tiny widths, batch 4, a few steps) so that the whole
script runs on a CPU in well under a minute; the JSON then says ``"dry_run": true``.

usage: benchmarks/gpu.sh [--dry-run] [--out DIR]
writes DIR/gpu.json and DIR/gpu_samples.png (DIR: reports/benchmarks)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import bench
import rdg_step
import sen_step
from s2igan.data import manifest as mf
from s2igan.data.images import load_images
from s2igan.data.synthbirds import SynthBirdsConfig, generate as draw_birds
from s2igan.rdg.data import TrainData
from s2igan.rdg.relation import ImageEmbedder, embed_images
from s2igan.rdg.train import SampleSpec, train_rdg
from s2igan.sen.config import SENConfig
from s2igan.sen.model import ImageEncoder

FULL = dict(sizes=(64, 128, 256), ngf=64, ndf=64, rdg_batch=24, steps=5, warmup=2,
            sen=SENConfig(), sen_batch=128, frames=1024, gen_batches=(1, 64), gen_images=256,
            classes=40, test_classes=8, per_class=6, image_size=256, supersample=3,
            train_epochs=20, train_steps=0, rs_input=0)
DRY = dict(sizes=(16, 32), ngf=16, ndf=8, rdg_batch=4, steps=2, warmup=1,
           sen=SENConfig(gru_hidden=32, embed_dim=64, att_hidden=16), sen_batch=4, frames=64,
           gen_batches=(1, 4), gen_images=8, classes=4, test_classes=1, per_class=3,
           image_size=64, supersample=1, train_epochs=1, train_steps=2, rs_input=75)


def peak_memory_gib(device: torch.device) -> float | None:
    return (round(torch.cuda.max_memory_allocated(device) / 2 ** 30, 3)
            if device.type == "cuda" else None)


def reset_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def time_steps(step, device: torch.device, warmup: int, steps: int) -> dict:
    rows = bench.alternate({"step": step}, warmup, steps, bench.synchronizer(device), log=False)
    times = [r["step"] for r in rows]
    return {"median_s": round(statistics.median(times), 4), "step_s": bench.rounded(times)}


def rdg_part(s: dict, device: torch.device, tmp: str) -> tuple:
    """RDG step with AMP on and off: (results, the AMP-on nets, their DGConfig)."""
    out, nets_amp = {}, None
    for amp in (True, False):
        reset_memory(device)
        dg, rs, rdg = rdg_step.paper_configs(s["rdg_batch"], s["sizes"], device.type, amp)
        dg = replace(dg, ngf=s["ngf"], ndf=s["ndf"])
        backbone = rdg_step.random_inception(tmp)
        if s["rs_input"]:
            backbone.input_size = s["rs_input"]
        embedder = ImageEmbedder(backbone, ImageEncoder(backbone.dim, rdg_step.SPEECH_DIM))
        step, nets = rdg_step.our_step(dg, rs, rdg, embedder, rdg_step.SPEECH_DIM, device)
        res = time_steps(step, device, s["warmup"], s["steps"])
        res["peak_memory_gib"] = peak_memory_gib(device)
        out["amp_on" if amp else "amp_off"] = res
        print(f"RDG step, batch {s['rdg_batch']}, AMP {'on' if amp else 'off'}: "
              f"{res['median_s']:.3f} s, peak memory {res['peak_memory_gib']} GiB", flush=True)
        if amp:
            nets_amp = nets
        else:
            del nets
    out["config"] = {"image_sizes": list(dg.image_sizes), "ngf": dg.ngf, "ndf": dg.ndf,
                     "batch": s["rdg_batch"], "rs": "relation, Inception-v3 random weights, "
                     f"input {s['rs_input'] or 299} px, every step, every image",
                     "amp": "bf16 autocast where the device computes bf16 natively "
                            "(s2igan.device.bf16_native)",
                     "warmup_steps": s["warmup"], "timed_steps": s["steps"]}
    return out, nets_amp, dg


def sen_part(s: dict, device: torch.device) -> dict:
    cfg = replace(s["sen"], device=device.type)
    reset_memory(device)
    step, _ = sen_step.our_step(cfg, s["sen_batch"], s["frames"], 2048, 150, device)
    res = time_steps(step, device, s["warmup"], s["steps"])
    res["peak_memory_gib"] = peak_memory_gib(device)
    res["config"] = {"batch": s["sen_batch"], "frames": s["frames"], "gru_hidden": cfg.gru_hidden,
                     "embed_dim": cfg.embed_dim, "feat_dim": 2048, "classes": 150,
                     "gru_impl": cfg.gru_impl}
    print(f"SEN step, batch {s['sen_batch']}: {res['median_s']:.3f} s", flush=True)
    return res


def synthbirds_data(s: dict, work: Path, embed_dim: int, embedder, device) -> tuple:
    """SynthBirds images at every scale with class-code conditions, and a sample spec."""
    cfg = SynthBirdsConfig(n_classes=s["classes"], test_classes=s["test_classes"],
                           images_per_class=s["per_class"], captions_per_image=1,
                           image_size=s["image_size"], supersample=s["supersample"],
                           workers=max(1, min(8, (os.cpu_count() or 1) - 1)))
    frame = draw_birds(cfg, work, seed=0)
    table = mf.images(frame[frame["split"] == "train"])
    images = load_images(table, tuple(s["sizes"]), desc="load synthbirds")
    class_ids = table["class_id"].to_numpy()
    g = torch.Generator().manual_seed(0)
    codes = F.normalize(torch.randn(int(class_ids.max()) + 1, embed_dim, generator=g), dim=1)
    noise = torch.randn(len(class_ids), embed_dim, generator=g)
    speech = F.normalize(codes[torch.from_numpy(class_ids).long()] + 0.1 * noise, dim=1)
    data = TrainData(images=images, image_ids=table["image_id"].to_numpy(), class_ids=class_ids,
                     speech=speech.numpy().astype(np.float32),
                     caption_image=np.arange(len(class_ids)))
    data.image_emb = embed_images(embedder.to(device), images[-1]).numpy()
    first = np.unique(class_ids, return_index=True)[1][:8]
    return data, SampleSpec(speech[first], images[-1][first])


def train_part(s: dict, device: torch.device, tmp: str, out_dir: Path) -> dict:
    dg, rs, rdg = rdg_step.paper_configs(24 if not s["train_steps"] else s["rdg_batch"],
                                         s["sizes"], device.type, True)
    dg = replace(dg, ngf=s["ngf"], ndf=s["ndf"])
    rdg = replace(rdg, epochs=s["train_epochs"])
    backbone = rdg_step.random_inception(tmp)
    if s["rs_input"]:
        backbone.input_size = s["rs_input"]
    embedder = ImageEmbedder(backbone, ImageEncoder(backbone.dim, rdg_step.SPEECH_DIM))
    t0 = time.perf_counter()
    data, samples = synthbirds_data(s, Path(tmp) / "synthbirds", rdg_step.SPEECH_DIM, embedder,
                                    device)
    draw_s = time.perf_counter() - t0
    reports, models = Path(tmp) / "train_reports", Path(tmp) / "train_models"
    t0 = time.perf_counter()
    means = train_rdg(data, dg, rs, rdg, fine_grained=True, model_dir=models, report_dir=reports,
                      embedder=embedder, samples=samples, resume=False,
                      max_steps=s["train_steps"] or None)
    train_s = time.perf_counter() - t0
    grids = sorted((reports / "samples").glob("epoch_*.png"))
    grid = out_dir / "gpu_samples.png"
    shutil.copyfile(grids[-1], grid)
    steps_per_epoch = s["train_steps"] or len(data.image_ids) // rdg.batch_size
    print(f"training: {rdg.epochs} epochs x {steps_per_epoch} steps in {train_s:.1f} s; "
          f"grid {grid}", flush=True)
    return {"images": int(len(data.image_ids)), "image_size": s["image_size"],
            "epochs": rdg.epochs, "steps": rdg.epochs * steps_per_epoch,
            "batch": rdg.batch_size, "draw_and_embed_s": round(draw_s, 2),
            "train_s": round(train_s, 2),
            "final_losses": {k: round(v, 4) for k, v in means.items()},
            "sample_grid": grid.name,
            "grid_rows": "real images, then the EMA generator at every scale (fixed noise)",
            "condition": "a fixed random unit vector per class plus 0.1 noise per image (no TTS "
                         "or SEN on the device)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes, on the CPU")
    ap.add_argument("--device", default=None, help="default: cuda (cpu with --dry-run)")
    ap.add_argument("--out", default="reports/benchmarks")
    args = ap.parse_args()
    s = DRY if args.dry_run else FULL
    device = torch.device(args.device or ("cpu" if args.dry_run else "cuda"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu.py: no CUDA device (use --dry-run to check the script on a CPU)")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    result = {"benchmark": "paper profile on a GPU (benchmarks/gpu.sh)", "dry_run": args.dry_run,
              "environment": bench.environment(device)}
    with tempfile.TemporaryDirectory() as tmp:
        result["rdg_step"], nets, dg = rdg_part(s, device, tmp)
        images = max(s["gen_images"], max(s["gen_batches"]))
        result["generation_ms_per_image"] = rdg_step.generation_ms(
            nets, dg.z_dim, rdg_step.SPEECH_DIM, s["gen_batches"], device, images)
        result["generation_config"] = {"images_timed": images, "image_size": dg.image_sizes[-1],
                                       "generator": "EMA, F^ca noise off", "amp": "off"}
        print(f"generation: {result['generation_ms_per_image']} ms per image", flush=True)
        del nets
        result["sen_step"] = sen_part(s, device)
        result["training"] = train_part(s, device, tmp, out_dir)
    result["total_s"] = round(time.perf_counter() - t_start, 1)
    print(f"wrote {bench.write_json(out_dir / 'gpu.json', result)} in {result['total_s']} s")


if __name__ == "__main__":
    main()
