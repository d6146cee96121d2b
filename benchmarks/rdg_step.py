"""Benchmark: one RDG training step (G forward, the per-scale D updates, the relation supervisor
update, the G update with KL, EMA), ours against the official S2IGAN code in the same run.

1. Same-run comparison on the official configuration (cfg/birds_3stages.yml: 64/128/256 px,
   GF_DIM = DF_DIM = 64, R_NUM = 2, EMBEDDING_DIM = 128, MD_LOSS = 1), batch 8, the relation
   supervisor on Inception-v3 with random weights on both sides (no ImageNet weights offline;
   timing does not depend on the weights). The two steps alternate (official, ours, official,
   ours, ...) after ``--warmup`` untimed rounds, and the medians are over the same ``--rounds``.
   Ours gets the real images' embeddings as inputs (our pipeline embeds the real images once
   before training, ``rs.real_features: rescaled``); the official step recomputes them.
   Without a checkout of the official code (benchmarks/get_official.sh) the JSON says so and
   records our times alone.
2. Our default CPU profile (the ``dg``, ``rs``, ``rdg`` sections of params.yaml, its backbone),
   timed on its own: a step of it is not comparable with the official one.
3. Generation with the EMA generator of the paper profile: ms per image at batch 1 and 64.

Each step is also counted with torch's FlopCounterMode (forward + backward; matrix products and
convolutions), and the achieved GFLOP/s is compared with the peak measured by benchmarks/peak.py
in the same run, with the same thread count and dtype (float32).

usage: python benchmarks/rdg_step.py [--threads N] [--rounds 3] [--official PATH] [--skip-default]
writes reports/benchmarks/rdg_step.json (or --out)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

import bench
import peak
from s2igan.config import from_dict, load_params
from s2igan.features.backbones import InceptionV3, load_backbone
from s2igan.rdg.config import DGConfig, RDGConfig, RSConfig
from s2igan.rdg.relation import ImageEmbedder
from s2igan.rdg.sampling import generate
from s2igan.rdg.step import RDGNets, build_nets, train_step
from s2igan.sen.model import ImageEncoder

SPEECH_DIM = 1024       # the official SPEECH.DIMENSION (the SEN embedding of the paper)
OFFICIAL_SIZES = (64, 128, 256)   # cfg/birds_3stages.yml: BASE_SIZE 64, BRANCH_NUM 3


def paper_configs(batch: int, sizes=(64, 128, 256), device: str = "cpu", amp: bool = True
                  ) -> tuple[DGConfig, RSConfig, RDGConfig]:
    """The official RDG configuration (cfg/birds_3stages.yml): the dataclass defaults are the
    paper's (concat D head, no matching head, no mode seeking, no DiffAugment, RS on every step
    and every image at the backbone's own input size)."""
    dg = DGConfig(image_sizes=tuple(sizes), ngf=64, ndf=64, z_dim=100, ca_dim=128, res_blocks=2)
    return dg, RSConfig(), RDGConfig(batch_size=batch, device=device, amp=amp)


def random_inception(tmp_dir: str | Path) -> InceptionV3:
    """Our Inception-v3 backbone with random weights (the official harness does the same)."""
    from torchvision.models import inception_v3

    path = Path(tmp_dir) / "inception_v3_random.pth"
    if not path.is_file():
        torch.manual_seed(0)
        net = inception_v3(weights=None, aux_logits=True, transform_input=False, init_weights=False)
        torch.save(net.state_dict(), path)
    return InceptionV3(path)


def make_batch(b: int, dg: DGConfig, e: int, device: torch.device, seed: int = 0,
               y_dim: int | None = None) -> dict:
    """Random tensors of one step's shapes (see :func:`s2igan.rdg.step.train_step`): image
    embeddings of size ``e``, the generator's speech input of ``y_dim`` (default ``e``; with
    ``dg.condition_vlad`` the embedding followed by the VLAD, ``Generator.input_dim``)."""
    g = torch.Generator().manual_seed(seed)
    n = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    batch = {"images": [n(b, 3, s, s).clamp(-1, 1) for s in dg.image_sizes],
             "y": F.normalize(n(b, y_dim or e), dim=1), "class_id": torch.arange(b) % 4,
             "z": n(b, dg.z_dim), "eps": n(b, dg.ca_dim),
             "gt": F.normalize(n(b, e), dim=1), "ri": F.normalize(n(b, e), dim=1),
             "mi": F.normalize(n(b, e), dim=1), "wrong": torch.roll(torch.arange(b), 1),
             "wrong_mask": torch.ones(b)}
    return {k: [x.to(device) for x in v] if isinstance(v, list) else v.to(device)
            for k, v in batch.items()}


def our_step(dg: DGConfig, rs: RSConfig, rdg: RDGConfig, embedder, embed_dim: int,
             device: torch.device):
    """(step function, nets): one call = one :func:`train_step` on a fixed random batch."""
    torch.manual_seed(0)
    nets = build_nets(dg, rs, rdg, embed_dim, True, device, embedder)
    batch = make_batch(rdg.batch_size, dg, embed_dim, device,
                       y_dim=nets.generator.input_dim)
    return (lambda: train_step(nets, batch, dg, rs, rdg, fine_grained=True)), nets


def official_step(peer, batch: int):
    """(step function, its modules) of the official gan_full step (time_peer.py)."""
    trainer = peer.build_gan(batch, peer.frozen_inception())
    step = peer.make_gan_step(trainer, batch, with_rs=True)
    count = [0]

    def call():
        count[0] += 1
        step(count[0])

    return call, trainer


@torch.no_grad()
def generation_ms(nets: RDGNets, z_dim: int, embed_dim: int, batch_sizes, device,
                  images: int = 64) -> dict[str, float]:
    """Milliseconds per image of the EMA generator (F^ca noise off, as evaluation) at each batch
    size: ``images`` images (at least one batch) after one untimed batch."""
    sync = bench.synchronizer(device)
    out = {}
    for b in batch_sizes:
        n = max(images, b)
        speech = F.normalize(torch.randn(n, embed_dim), dim=1)
        z = torch.randn(n, z_dim)
        generate(nets.ema, speech[:b], z[:b], b)
        seconds = bench.timed(lambda: generate(nets.ema, speech, z, b), sync)
        out[f"batch_{b}"] = round(1000 * seconds / n, 3)
    return out


def default_profile(params: dict, device: torch.device, tmp_dir: str) -> tuple:
    """Configs, embedder and embedding size of the default CPU profile in params.yaml."""
    dg = from_dict(DGConfig, params.get("dg"), "dg")
    rs = from_dict(RSConfig, params.get("rs"), "rs")
    rdg = from_dict(RDGConfig, {**params.get("rdg", {}), "device": device.type}, "rdg")
    embed_dim = int(params.get("sen", {}).get("embed_dim", SPEECH_DIM))
    feats = params.get("features", {})
    name = feats.get("backbone", "efficientnet_lite0")
    if name == "inception_v3" and not feats.get("weights"):
        backbone = random_inception(tmp_dir)
    else:
        backbone = load_backbone(name, feats.get("weights"))
    if rs.input_size:
        backbone.input_size = rs.input_size
    embedder = (ImageEmbedder(backbone, ImageEncoder(backbone.dim, embed_dim))
                if rs.enabled else None)
    return dg, rs, rdg, embedder, embed_dim, name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds before timing")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds (official, ours)")
    ap.add_argument("--official", default=None,
                    help="checkout of the official code (default: $S2IGAN_REF or .peer/S2IGAN)")
    ap.add_argument("--no-official", action="store_true", help="time ours alone")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--skip-default", action="store_true", help="skip the default CPU profile")
    ap.add_argument("--default-rounds", type=int, default=3)
    ap.add_argument("--gen-batches", default="1,64")
    ap.add_argument("--peak-seconds", type=float, default=1.0)
    ap.add_argument("--out", default="reports/benchmarks/rdg_step.json")
    args = ap.parse_args()
    device, sync, env, measured_peak = peak.machine(args.device, args.threads, args.peak_seconds)
    peak_gflops = measured_peak["peak_gflops"]
    tmp = tempfile.TemporaryDirectory()

    # -- 1. the same-run comparison on the official configuration --------------------------------
    # float32 as the official code runs (the bf16 comparison is in the default profile, below)
    dg, rs, rdg = paper_configs(args.batch, [int(s) for s in args.sizes.split(",")], args.device,
                                amp=False)
    embedder = ImageEmbedder(random_inception(tmp.name), ImageEncoder(2048, SPEECH_DIM))
    ours, nets = our_step(dg, rs, rdg, embedder, SPEECH_DIM, device)
    if args.no_official:
        peer, official_info = None, {"status": "not run", "reason": "--no-official"}
    elif tuple(dg.image_sizes) != OFFICIAL_SIZES:
        peer, official_info = None, {"status": "not run", "reason": f"--sizes {args.sizes} is not "
                                     f"the official configuration's 64,128,256"}
    else:
        peer, official_info = bench.load_official(args.official)
    steps = {}
    if peer is not None:
        official, trainer = official_step(peer, args.batch)
        steps["official"] = official
        official_info["params"] = {"generator": bench.nparams(trainer.netG),
                                   "discriminators": sum(bench.nparams(d) for d in trainer.netsD)}
    else:
        print(f"official code {official_info['status']}: {official_info['reason']}", flush=True)
    steps["ours"] = ours
    comparison = {
        "config": {"image_sizes": list(dg.image_sizes), "ngf": dg.ngf, "ndf": dg.ndf,
                   "res_blocks": dg.res_blocks, "z_dim": dg.z_dim, "ca_dim": dg.ca_dim,
                   "speech_dim": SPEECH_DIM, "batch": args.batch, "kl_weight": rdg.kl_weight,
                   "relation_supervisor": "Inception-v3, random weights, 299 px, every step, "
                                          "every image",
                   "ours_real_image_embeddings": "given (computed once before training)",
                   "generator_difference": "ours adds the condition to each next stage as a "
                   "per-sample bias and is densely connected (Eq. 10); the official stage "
                   "convolves it tiled as 128 channels: 0.75 % fewer generator parameters"},
        "official": official_info,
        "ours_params": {"generator": bench.nparams(nets.generator),
                        "discriminators": bench.nparams(nets.discriminators)},
        **bench.compare(steps, args.warmup, args.rounds, sync, peak_gflops),
    }
    result = {"benchmark": "one RDG training step; official and ours alternating in one run",
              "environment": env, "peak": measured_peak, "comparison": comparison}
    result["generation_ms_per_image"] = generation_ms(
        nets, dg.z_dim, SPEECH_DIM, [int(b) for b in args.gen_batches.split(",")], device)
    del steps, ours, nets, embedder
    if peer is not None:
        del official, trainer

    # -- 2. our default CPU profile, timed on its own ---------------------------------------------
    if not args.skip_default:
        params = load_params(args.params)
        dg2, rs2, rdg2, emb2, e2, backbone = default_profile(params, device, tmp.name)
        step2, _ = our_step(dg2, rs2, rdg2, emb2, e2, device)

        def cycle():        # rs.every steps: the relation supervisor runs on one of them
            for _ in range(rs2.every):
                step2()

        flop = bench.count_flops(cycle) / rs2.every
        rows2 = bench.alternate({"default": cycle}, 1, args.default_rounds, sync)
        per_step = [r["default"] / rs2.every for r in rows2]
        median = sorted(per_step)[len(per_step) // 2]
        result["default_profile"] = {
            "config": {"source": args.params, "image_sizes": list(dg2.image_sizes),
                       "ngf": dg2.ngf, "ndf": dg2.ndf, "batch": rdg2.batch_size,
                       "backbone": backbone, "rs_every": rs2.every,
                       "rs_max_images": rs2.max_images, "rs_input_size": rs2.input_size,
                       "d_match": dg2.d_match, "mode_seeking": rdg2.mode_seeking,
                       "diff_augment": rdg2.diff_augment, "embed_dim": e2},
            "step_s": bench.rounded(per_step), "median_step_s": round(median, 4),
            "timing": f"median over {args.default_rounds} rounds of {rs2.every} step(s) each "
                      f"(per step), after one untimed round",
            "efficiency": bench.efficiency(flop, median, peak_gflops)}
        print(f"default profile: {median:.3f} s per step", flush=True)

        def cycle_at(amp: bool):
            step, _ = our_step(dg2, rs2, dataclasses.replace(rdg2, amp=amp), emb2, e2, device)
            return lambda: [step() for _ in range(rs2.every)]

        result["default_profile"]["precision"] = bench.precisions(
            cycle_at, device, args.default_rounds, sync, per_call=rs2.every)
        print(f"float32 / bf16: {result['default_profile']['precision']['speedup_bf16']}x",
              flush=True)
    result["environment"]["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    print(f"wrote {bench.write_json(args.out, result)}")


if __name__ == "__main__":
    main()
