"""Benchmark: one SEN training step (forward, Eq. (8) loss, backward, Adam), ours against the
official S2IGAN code in the same run.

1. Same-run comparison on the official configuration (cfg/Pretrain/bird_train.yml: conv
   40 -> 64 -> 128, kernel 6, stride 2; bidirectional GRU 2 x 512; attention 128; 1024-d
   embeddings; 150 classes): batch 32 spoken captions of 1024 frames x 40 log-mel bins, the
   2048-d image features given (the official ``sen_noimg`` step of benchmarks/peer/time_peer.py).
   The two steps alternate (official, ours, ...) after ``--warmup`` untimed rounds; the medians
   are over the same ``--rounds``. Without a checkout of the official code the JSON says so and
   records our times alone.
2. Our default CPU profile (params.yaml ``sen``: its GRU width and batch, the feature size of
   ``features.backbone``, the training classes of the dataset), timed on its own.

Each step is also counted with torch's FlopCounterMode (forward + backward) and its GFLOP/s
compared with the peak measured by benchmarks/peak.py in the same run (same threads, float32).

usage: python benchmarks/sen_step.py [--threads N] [--rounds 5] [--official PATH] [--skip-default]
writes reports/benchmarks/sen_step.json (or --out)
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch

import bench
import peak
from s2igan.config import from_dict, load_params
from s2igan.device import mixed_precision
from s2igan.sen.config import SENConfig
from s2igan.sen.losses import distinctive_loss, matching_loss
from s2igan.sen.model import ImageEncoder, SpeechEncoder

FEATURE_DIMS = {"inception_v3": 2048, "efficientnet_lite0": 1280}


def our_step(cfg: SENConfig, batch: int, frames: int, feat_dim: int, n_classes: int,
             device: torch.device, lengths: torch.Tensor | None = None, amp: bool = False):
    """(step function, speech encoder): one call = one SEN update on a fixed random batch; with
    ``amp`` the speech encoder runs under :func:`s2igan.device.mixed_precision`, as
    ``sen.amp`` trains it."""
    torch.manual_seed(0)
    speech = SpeechEncoder(cfg).to(device)
    image = ImageEncoder(feat_dim, cfg.embed_dim).to(device)
    classifier = torch.nn.Linear(cfg.embed_dim, n_classes).to(device)
    params = [*speech.parameters(), *image.parameters(), *classifier.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    fbank = torch.randn(batch, frames, 40, device=device)
    feats = torch.randn(batch, feat_dim, device=device)
    labels = torch.randint(0, n_classes, (batch,), device=device)
    lengths = (torch.full((batch,), frames) if lengths is None else lengths).to(device)

    def step() -> float:
        with mixed_precision(device, amp):
            y = speech(fbank, lengths).float()  # (B, E)
        x = image(feats)  # (B, E)
        loss = matching_loss(y, x, labels, cfg.beta)
        if cfg.distinctive:
            loss = loss + distinctive_loss(classifier, y, x, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step, speech


def official_step(peer, batch: int, frames: int):
    """(step function, speech encoder) of the official ``sen_noimg`` step (time_peer.py)."""
    step, audio_model, _, _ = peer.make_sen_step(batch, frames, None, with_image_cnn=False)
    count = [0]

    def call():
        count[0] += 1
        step(count[0])

    return call, audio_model


def default_profile(params: dict, device: torch.device) -> tuple[SENConfig, int, int, int, str]:
    """The SEN config, feature size, class count and frames of params.yaml's default profile."""
    cfg = from_dict(SENConfig, {**params.get("sen", {}), "device": device.type}, "sen")
    backbone = params.get("features", {}).get("backbone", "efficientnet_lite0")
    data = params.get("data", {})
    birds = data.get("synthbirds", {})
    classes = (birds.get("n_classes", 250) - birds.get("test_classes", 50)
               if data.get("name", "synthbirds") == "synthbirds" else 150)
    frames = int(params.get("fbank", {}).get("max_frames", 1024))
    return cfg, FEATURE_DIMS.get(backbone, 2048), classes, frames, backbone


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--frames", type=int, default=1024)
    ap.add_argument("--impl", default="auto", choices=["auto", "fast", "torch"],
                    help="our GRU (sen.gru_impl); auto = the fast scan when training on a CPU")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds before timing")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds (official, ours)")
    ap.add_argument("--official", default=None,
                    help="checkout of the official code (default: $S2IGAN_REF or .peer/S2IGAN)")
    ap.add_argument("--no-official", action="store_true", help="time ours alone")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--skip-default", action="store_true", help="skip the default CPU profile")
    ap.add_argument("--default-rounds", type=int, default=5)
    ap.add_argument("--peak-seconds", type=float, default=1.0)
    ap.add_argument("--out", default="reports/benchmarks/sen_step.json")
    args = ap.parse_args()
    device, sync, env, measured_peak = peak.machine(args.device, args.threads, args.peak_seconds)
    peak_gflops = measured_peak["peak_gflops"]

    # -- 1. the same-run comparison on the official configuration --------------------------------
    cfg = SENConfig(gru_impl=args.impl, device=device.type)   # the defaults are the paper's
    ours, speech = our_step(cfg, args.batch, args.frames, 2048, 150, device)
    if args.no_official:
        peer, official_info = None, {"status": "not run", "reason": "--no-official"}
    else:
        peer, official_info = bench.load_official(args.official)
    steps = {}
    if peer is not None:
        official, audio_model = official_step(peer, args.batch, args.frames)
        steps["official"] = official
        official_info["params"] = {"speech_encoder": bench.nparams(audio_model)}
    else:
        print(f"official code {official_info['status']}: {official_info['reason']}", flush=True)
    steps["ours"] = ours
    comparison = {
        "config": {"batch": args.batch, "frames": args.frames, "lengths": "every caption full",
                   "n_mels": 40, "feat_dim": 2048, "classes": 150, "gru_hidden": cfg.gru_hidden,
                   "embed_dim": cfg.embed_dim, "image_features": "given (cached)",
                   "ours_gru_impl": args.impl},
        "official": official_info,
        "ours_params": {"speech_encoder": bench.nparams(speech)},
        **bench.compare(steps, args.warmup, args.rounds, sync, peak_gflops),
    }
    result = {"benchmark": "one SEN training step; official and ours alternating in one run",
              "environment": env, "peak": measured_peak, "comparison": comparison}
    del steps, ours

    # -- 2. our default CPU profile, timed on its own ---------------------------------------------
    if not args.skip_default:
        params = load_params(args.params)
        cfg2, feat_dim, classes, frames, backbone = default_profile(params, device)
        step2, _ = our_step(cfg2, cfg2.batch_size, frames, feat_dim, classes, device)
        flop = bench.count_flops(step2)
        times = [r["default"] for r in bench.alternate({"default": step2}, 1,
                                                        args.default_rounds, sync)]
        median = statistics.median(times)
        result["default_profile"] = {
            "config": {"source": args.params, "batch": cfg2.batch_size, "frames": frames,
                       "lengths": "every caption full", "gru_hidden": cfg2.gru_hidden,
                       "embed_dim": cfg2.embed_dim, "feat_dim": feat_dim, "backbone": backbone,
                       "classes": classes, "gru_impl": cfg2.gru_impl},
            "step_s": bench.rounded(times), "median_step_s": round(median, 4),
            "efficiency": bench.efficiency(flop, median, peak_gflops)}
        print(f"default profile: {median:.3f} s per step", flush=True)
        result["default_profile"]["precision"] = bench.precisions(
            lambda amp: our_step(cfg2, cfg2.batch_size, frames, feat_dim, classes, device,
                                 amp=amp)[0], device, args.default_rounds, sync)
        print(f"float32 / bf16: {result['default_profile']['precision']['speedup_bf16']}x",
              flush=True)
    result["environment"]["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    print(f"wrote {bench.write_json(args.out, result)}")


if __name__ == "__main__":
    main()
