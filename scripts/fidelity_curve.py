"""Attribute fidelity against training time: the RDG of params.yaml trained past the pipeline's
budget, scored every few epochs on unseen and seen classes.

Runs after `dvc repro` on its outputs (data/prepared, data/embeddings, data/features, models/sen,
models/judge); trains into a scratch folder (resuming chunk by chunk, which gives the same run as
one long training) and writes reports/curves/fidelity_curve.json and .png:
generated-image attribute accuracy (judge) on the unseen test classes and on seen-class
captions, plus the noise diversity, against training steps (the JSON also records the summed
training minutes of the epochs; read them as minutes only on an otherwise idle machine).

usage: python scripts/fidelity_curve.py [--steps 6000] [--every 4] [--scratch /tmp/curve]
       python scripts/fidelity_curve.py --plot-only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import torch

from s2igan.arrays import load_vectors
from s2igan.config import from_dict, load_params
from s2igan.data import manifest as mf
from s2igan.evaluate.fidelity import (attributes_of, diversity_score, judged_accuracy,
                                      seen_class_scores)
from s2igan.evaluate.judge import Judges
from s2igan.io import write_json
from s2igan.rdg.config import DGConfig, RDGConfig, RSConfig
from s2igan.rdg.run import generator_vectors, train_from_paths
from s2igan.rdg.sampling import fixed_noise, generate, load_generator

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)

COLOURS = ("crown", "wing", "belly")


def score(model_dir: Path, frame: pd.DataFrame, embeddings: Path, judges: Judges) -> dict:
    g = load_generator(model_dir / "generator.pt")
    embeddings = generator_vectors(model_dir, embeddings, g)     # dg.condition_vlad: its own
    index, speech = load_vectors(embeddings, "test_speech")
    y = torch.from_numpy(np.asarray(speech)).float()
    gen = generate(g, y, fixed_noise(len(y), g.cfg.z_dim, 0))
    out = judged_accuracy(judges, gen, attributes_of(frame, index["id"], "caption_id"), "unseen")
    out.update(seen_class_scores(g, judges, frame, embeddings, 1000, 0))
    out["diversity"] = diversity_score(g, y[:200], gen[:200], 1)
    return out


def plot(rows: list[dict], path: Path) -> None:
    steps = [r["steps"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, a in enumerate(COLOURS):
        ax.plot(steps, [r[f"unseen/acc_{a}"] for r in rows], "-o", color=f"C{k}",
                label=f"{a}, unseen classes")
        ax.plot(steps, [r[f"seen/acc_{a}"] for r in rows], "--", color=f"C{k}",
                label=f"{a}, seen classes")
    per_step = rows[-1]["train_minutes"] / max(steps[-1], 1)   # the run's mean step time
    if per_step > 0:     # training minutes on a second axis (read as minutes on an idle machine)
        top = ax.secondary_xaxis("top", functions=(lambda x: x * per_step,
                                                   lambda m: m / per_step))
        top.set_xlabel("training minutes (this run's mean step time)")
    ax.axhline(0.1, color="grey", lw=0.8, ls=":")
    ax.axhline(0.6, color="black", lw=0.8, ls=":")
    ax.set(xlabel="RDG training steps (batch 24)", ylabel="attribute accuracy (judge)",
           ylim=(0, 1))
    ax.set_title("Generated birds: part colours against training time", pad=8)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6000, help="stop after this many steps")
    ap.add_argument("--every", type=int, default=4, help="epochs between two scores")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/s2igan-curve"))
    ap.add_argument("--out", type=Path, default=Path("reports/curves"))
    ap.add_argument("--plot-only", action="store_true",
                    help="redraw the figure from --out's fidelity_curve.json, train nothing")
    args = ap.parse_args()
    if args.plot_only:
        rows = json.loads((args.out / "fidelity_curve.json").read_text())["rows"]
        plot(rows, args.out / "fidelity_curve.png")
        return
    params = load_params()
    dg = from_dict(DGConfig, params.get("dg"), "dg")
    rs = from_dict(RSConfig, params.get("rs"), "rs")
    rdg = from_dict(RDGConfig, params.get("rdg"), "rdg")
    if rdg.lr_decay_from < 1:
        sys.exit("fidelity_curve.py resumes one training in pieces of --every epochs; under "
                 f"rdg.lr_decay_from: {rdg.lr_decay_from} the learning rates depend on the total "
                 "epoch count, so no piece would resume. Run it with rdg.lr_decay_from: 1, or "
                 "train each budget on its own (scripts/rdg_seeds.py --change rdg.epochs=N).")
    prepared, embeddings = Path("data/prepared"), Path("data/embeddings")
    frame = mf.read(prepared / "manifest.parquet")
    judges = Judges.load(Path("models/judge/judge.pt"))
    n_images = frame.loc[frame["split"] == "train", "image_id"].nunique()
    steps_per_epoch = n_images * rdg.captions_per_image // rdg.batch_size
    rows: list[dict] = []
    epochs, start = 0, time.time()
    while True:
        epochs += args.every
        train_from_paths(prepared, embeddings, Path("data/features"), Path("models/sen"),
                         args.scratch / "models", args.scratch / "reports", dg, rs,
                         replace(rdg, epochs=epochs), weights=params["features"]["weights"],
                         fbank=Path("data/fbank"))
        history = pd.read_csv(args.scratch / "reports" / "loss.csv")
        row = {"epochs": epochs, "steps": epochs * steps_per_epoch,
               "train_minutes": round(float(history["seconds"].sum()) / 60, 2),
               **score(args.scratch / "models", frame, embeddings, judges)}
        rows.append(row)
        print(json.dumps(row), flush=True)
        write_json(args.out / "fidelity_curve.json",
                   {"config": {"dg": params["dg"], "rs": params["rs"], "rdg": params["rdg"]},
                    "wall_minutes": round((time.time() - start) / 60, 2), "rows": rows})
        plot(rows, args.out / "fidelity_curve.png")
        if row["steps"] >= args.steps:
            break


if __name__ == "__main__":
    main()
