"""How much of a ``gen/acc_*`` number is the judge's: retrain the attribute judge of the `judge`
stage with other seeds and widths, on the same real images, and score the same generated test
images with each.

Every judge reads the real test images at about the same accuracy, so a spread between them on
generated images says how far those images sit from what real birds look like: the judges learnt
the same rule on real birds and extend it differently to drawings between the modes. The
committed judge (`models/judge/judge.pt`) stays the pipeline's metric; this script only reports
its neighbours beside it.

Runs after `dvc repro` on its outputs (data/prepared, data/embeddings, models/rdg, models/judge);
each extra judge trains in about a minute on 2 cores (the IS classifier with it).

usage: python scripts/judge_spread.py [--generator models/rdg/generator.pt ...]
       [--judges 1:16 2:32] [--noise 0] [--out reports/fidelity/judge_spread.json]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from s2igan.arrays import load_vectors
from s2igan.config import from_dict, load_params
from s2igan.data import manifest as mf
from s2igan.evaluate.fidelity import judged_values, value_scores
from s2igan.evaluate.judge import JudgeConfig, Judges, attribute_table, build_judges
from s2igan.io import write_json
from s2igan.rdg.run import generator_vectors
from s2igan.rdg.sampling import fixed_noise, generate, load_generator


def judge_variants(specs: list[str]) -> list[tuple[int, int]]:
    """``"seed:width"`` strings -> (seed, width) pairs; a malformed one is refused by name."""
    out = []
    for spec in specs:
        seed, _, width = spec.partition(":")
        if not (seed.isdigit() and width.isdigit() and int(width) > 0):
            raise SystemExit(f"--judges {spec!r}: want SEED:WIDTH, e.g. 1:16")
        out.append((int(seed), int(width)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", type=Path, nargs="+", default=[Path("models/rdg/generator.pt")])
    ap.add_argument("--judges", nargs="+", default=["1:16", "2:32"])
    ap.add_argument("--noise", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("reports/fidelity/judge_spread.json"))
    args = ap.parse_args()

    cfg = from_dict(JudgeConfig, load_params().get("judge"), "judge")
    frame = mf.read(Path("data/prepared/manifest.parquet"))
    committed = Judges.load(Path("models/judge/judge.pt"))
    committed_real = json.loads(Path("reports/judge/metrics.json").read_text(encoding="utf8"))
    judges = {f"committed (seed {cfg.seed}, width {cfg.width})": (committed, committed_real)}
    for seed, width in judge_variants(args.judges):
        judge, real = build_judges(frame, replace(cfg, seed=seed, width=width),
                                   committed.image_size)
        judges[f"seed {seed}, width {width}"] = (judge, real)

    by_caption = frame.set_index("caption_id")
    result: dict = {"noise_seed": args.noise, "generators": {}}
    for path in args.generator:
        g = load_generator(path, "cpu")
        index, x = load_vectors(generator_vectors(path.parent, Path("data/embeddings"), g),
                                "test_speech")
        truth = attribute_table(by_caption.loc[index["id"]].reset_index()).astype(str)
        images = generate(g, torch.from_numpy(np.asarray(x)).float(),
                          fixed_noise(len(index), g.cfg.z_dim, args.noise))
        rows = {}
        for name, (judge, real) in judges.items():
            scores = value_scores(judged_values(judge, images), truth, "gen")
            rows[name] = {k: v for k, v in (scores | real).items()
                          if k.startswith(("gen/acc_", "real_test/acc_"))}
        result["generators"][str(path)] = rows
    write_json(args.out, result)
    for path, rows in result["generators"].items():
        print(path)
        print(pd.DataFrame(rows).T.round(3).to_string())


if __name__ == "__main__":
    main()
