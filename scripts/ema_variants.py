"""Does the EMA's lag cost fidelity? One trained RDG scored three ways: the EMA generator it
ships, the live generator of the same step, and the EMA with its BatchNorm statistics
re-estimated on training captions.

The EMA (``rdg.ema_decay``) averages the weights and, in our ``update_ema``, the BatchNorm
running statistics too; at a high learning rate the live weights run ahead of both. Re-estimating
the statistics asks whether the averaged weights are good and only their statistics lag.

Runs after `dvc repro` on its outputs (data/prepared, data/embeddings, models/judge) and never
writes into models/: each variant is a copy of the model folder (without ``last.pt``) under
``--scratch``, scored with `scripts/fidelity_curve.py`'s ``score()`` (judge accuracy of the unseen
test captions and of 1,000 seen-class captions, noise diversity). Writes ``--out`` (JSON).
Measured in docs/fidelity.md "Twice the learning rate" (reports/curves/ema_variants.json).

usage: python scripts/ema_variants.py [--model models/rdg] [--batches 100] [--threads 2]
       [--scratch /tmp/s2igan-ema] [--out reports/curves/ema_variants.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from s2igan.arrays import load_vectors
from s2igan.checkpoint import load_checkpoint, save_checkpoint
from s2igan.data import manifest as mf
from s2igan.evaluate.judge import Judges
from s2igan.io import write_json
from s2igan.rdg.run import generator_vectors
from s2igan.rdg.sampling import load_generator

SCRIPTS = Path(__file__).resolve().parent


def _sibling(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@torch.no_grad()
def recalibrate_batchnorm(module: nn.Module, batches: int,
                          run_batch: Callable[[nn.Module, int], None]) -> nn.Module:
    """Replace every BatchNorm's running statistics by the equal-weight mean over ``batches``
    forward passes in train mode (``run_batch(module, i)`` does pass ``i``); weights untouched.

    With ``momentum=None`` PyTorch keeps a cumulative average: after the passes, running_mean is
    the mean of the batch means and running_var the mean of the unbiased batch variances.
    The module comes back in eval mode with each BatchNorm's momentum restored.
    """
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise ValueError("recalibrate_batchnorm: the module has no BatchNorm layer")
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    module.train()
    for i in range(batches):
        run_batch(module, i)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return module.eval()


def variant_folder(model_dir: Path, state: dict, dest: Path) -> Path:
    """A copy of ``model_dir`` (the condition files, not the resume checkpoint ``last.pt``) whose
    ``generator.pt`` carries ``state`` instead of the EMA weights; replaces ``dest``."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(model_dir, dest, ignore=shutil.ignore_patterns("last.pt"))
    ckpt = load_checkpoint(model_dir / "generator.pt", what="generator checkpoint")
    save_checkpoint(dest / "generator.pt", {**ckpt, "generator": state})
    return dest


def recalibrated_ema(model_dir: Path, embeddings: Path, batches: int, batch_size: int = 24,
                     seed: int = 1) -> dict:
    """The state of the shipped EMA generator with BatchNorm statistics re-estimated on training
    captions (random order, fresh z and CA noise per pass, as in training)."""
    g = load_generator(model_dir / "generator.pt")
    _, speech = load_vectors(generator_vectors(model_dir, embeddings, g), "train_speech")
    y = torch.from_numpy(np.asarray(speech)).float()
    rng = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=rng)
    batches = min(batches, len(y) // batch_size)
    bar = tqdm(total=batches, desc="ema_variants: BatchNorm statistics", unit="batch")

    def run_batch(module: nn.Module, i: int) -> None:
        yy = y[order[i * batch_size:(i + 1) * batch_size]]
        module(torch.randn(len(yy), g.cfg.z_dim, generator=rng), yy,
               eps=torch.randn(len(yy), g.cfg.ca_dim, generator=rng))
        bar.update()

    recalibrate_batchnorm(g, batches, run_batch)
    bar.close()
    return g.state_dict()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path("models/rdg"),
                    help="an rdg model folder with generator.pt (EMA) and last.pt (live)")
    ap.add_argument("--batches", type=int, default=100, help="passes of 24 for the statistics")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/s2igan-ema"))
    ap.add_argument("--out", type=Path, default=Path("reports/curves/ema_variants.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    live = load_checkpoint(args.model / "last.pt", what="resume checkpoint (the live generator)",
                           missing="train first", keys=("generator",))["generator"]
    score = _sibling("fidelity_curve").score
    frame = mf.read(Path("data/prepared/manifest.parquet"))
    judges = Judges.load(Path("models/judge/judge.pt"))
    embeddings = Path("data/embeddings")
    folders = {
        "ema": args.model,
        "live": variant_folder(args.model, live, args.scratch / "live"),
        "ema_bn": variant_folder(args.model, recalibrated_ema(args.model, embeddings,
                                                              args.batches),
                                 args.scratch / "ema_bn"),
    }
    out = {}
    for name, folder in folders.items():
        out[name] = score(folder, frame, embeddings, judges)
        print(name, {k: round(v, 3) for k, v in out[name].items()}, flush=True)
    write_json(args.out, out)


if __name__ == "__main__":
    main()
