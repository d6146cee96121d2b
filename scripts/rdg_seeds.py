"""Seed-to-seed spread of the RDG: retrain the generator of params.yaml for several `rdg.seed`
values, with and without a change, and score each run as the evaluate stage does.

Runs after `dvc repro` on its outputs (data/prepared, data/embeddings, data/features,
models/sen, models/judge) and never touches models/ or reports/ of the pipeline: every run trains
into ``--scratch/<variant>_<seed>``. Each run is scored with the evaluate stage's functions on
the same fixed noise: judge accuracy of the generated unseen test images (``gen/acc_*``) and of
1,000 seen-class captions (``seen/acc_*``), the noise diversity, FID on the backbone features of
``data/features/backbone.json`` and IS with the judge's class classifier. Rows go to
``--out`` (JSON) and the table (mean ± sample std per variant, `scripts/seed_table.py`'s format)
to stdout.

Two processes of one thread each use 2 cores better than one of two threads: run the baseline
in one (``--change ''``) and the variant alone in the other (``--no-baseline``), each to its own
``--out``, then join them with ``--table-from A.json B.json`` (trains nothing; writes the joined
rows to ``--out`` and prints the table).

usage: python scripts/rdg_seeds.py [--seeds 0 1 2] [--change "rs.enabled=false"] [--no-baseline]
       [--threads 1] [--scratch /tmp/s2igan-seeds] [--out reports/seeds/rdg_seeds.json]
       python scripts/rdg_seeds.py --table-from A.json B.json [--out reports/seeds/rdg_seeds.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from s2igan.arrays import load_vectors
from s2igan.config import ConfigError, from_dict, load_params
from s2igan.data import manifest as mf
from s2igan.data.images import load_images
from s2igan.evaluate.judge import Judges
from s2igan.evaluate.run import EvalConfig, backbone_features, fid_and_is
from s2igan.features.extract import load_features_backbone
from s2igan.io import write_json
from s2igan.overrides import with_overrides
from s2igan.rdg.config import DGConfig, RDGConfig, RSConfig
from s2igan.rdg.run import generator_vectors, train_from_paths
from s2igan.rdg.sampling import fixed_noise, generate, load_generator

SCRIPTS = Path(__file__).resolve().parent


def _sibling(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def with_change(params: dict, change: str | None) -> dict:
    """``params`` with the space-separated dotted ``key=value`` overrides of ``change`` (the
    values parsed as YAML, as ``dvc exp run -S``); ``None`` leaves them as they are."""
    try:
        return with_overrides(params, (change or "").split())
    except ConfigError as err:
        raise SystemExit(f"--change {err}") from None


def quality(model_dir: Path, frame, embeddings: Path, features: Path, judges: Judges,
            real_feats: np.ndarray | None, backbone) -> dict:
    """FID and IS of the generated unseen test images, as the evaluate stage computes them."""
    g = load_generator(model_dir / "generator.pt")
    _, speech = load_vectors(generator_vectors(model_dir, embeddings, g), "test_speech")
    y = torch.from_numpy(np.asarray(speech)).float()
    gen = generate(g, y, fixed_noise(len(y), g.cfg.z_dim, 0), 64)
    m = fid_and_is(gen, backbone_features(backbone, gen, 64), real_feats, judges, backbone,
                   EvalConfig().is_splits)
    return {k: m[k] for k in ("gen/fid", "gen/is")}


TABLE_METRICS = ["gen/fid", "gen/is", "gen/acc_crown", "gen/acc_wing", "gen/acc_belly",
                 "gen/acc_size", "seen/acc_crown", "seen/acc_wing", "seen/acc_belly",
                 "gen/diversity"]


def joined_rows(paths: list[Path]) -> list[dict]:
    """The rows of several runs of this script; a (change, seed) pair may appear only once."""
    rows, seen = [], set()
    for path in paths:
        for row in json.loads(path.read_text())["rows"]:
            key = (row["change"], row["params"]["rdg"]["seed"])
            if key in seen:
                raise SystemExit(f"{path}: {row['change'] or 'baseline'} seed {key[1]} "
                                 "is already in an earlier file")
            seen.add(key)
            rows.append(row)
    return rows


def seed_table_of(rows: list[dict], changes: list[str]) -> str:
    """Mean ± std per variant; grouped by the changed keys (rdg.epochs when there are none)."""
    group = sorted({i.partition("=")[0] for c in changes for i in c.split()}) or ["rdg.epochs"]
    return _sibling("seed_table").table([(r["params"], r["metrics"]) for r in rows], group,
                                        TABLE_METRICS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--change", default="rs.enabled=false",
                    help="the compared variant: dotted key=value pairs, space-separated "
                         "('' = baseline only)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/s2igan-seeds"))
    ap.add_argument("--out", type=Path, default=Path("reports/seeds/rdg_seeds.json"))
    ap.add_argument("--no-baseline", action="store_true", help="train the variant only")
    ap.add_argument("--table-from", type=Path, nargs="+", default=[],
                    help="join the rows of these JSON files; train nothing")
    args = ap.parse_args()
    if args.table_from:
        rows = joined_rows(args.table_from)
        write_json(args.out, {"rows": rows})
        print(seed_table_of(rows, sorted({r["change"] for r in rows if r["change"]})))
        return
    if args.no_baseline and not args.change:
        raise SystemExit("--no-baseline needs a --change to train")
    if args.threads:
        torch.set_num_threads(args.threads)
    curve = _sibling("fidelity_curve")
    base = load_params()
    prepared, embeddings, features = Path("data/prepared"), Path("data/embeddings"), Path("data/features")
    frame = mf.read(prepared / "manifest.parquet")
    judges = Judges.load(Path("models/judge/judge.pt"))
    backbone = load_features_backbone(features, base["features"]["weights"])
    real_feats = None
    rows = []
    variants = ([] if args.no_baseline else [None]) + ([args.change] if args.change else [])
    for change in variants:
        for seed in args.seeds:
            params = with_change(base, change)
            params["rdg"]["seed"] = seed
            dg = from_dict(DGConfig, params["dg"], "dg")
            rs = from_dict(RSConfig, params["rs"], "rs")
            rdg = from_dict(RDGConfig, params["rdg"], "rdg")
            name = (change or "baseline").replace("=", "-").replace(" ", "_")
            run_dir = args.scratch / f"{name}_{seed}"
            t0 = time.time()
            train_from_paths(prepared, embeddings, features, Path("models/sen"),
                             run_dir / "models", run_dir / "reports", dg, rs, rdg,
                             weights=base["features"]["weights"], fbank=Path("data/fbank"))
            if real_feats is None:
                real_table = mf.images(frame[frame["split"] == "test"])
                real = load_images(real_table, (dg.image_sizes[-1],), desc="load test images")[0]
                real_feats = backbone_features(backbone, real, 64)
            scores = curve.score(run_dir / "models", frame, embeddings, judges)
            metrics = {k.replace("unseen/", "gen/"): v for k, v in scores.items()}
            metrics["gen/diversity"] = metrics.pop("diversity")
            metrics.update(quality(run_dir / "models", frame, embeddings, features, judges,
                                   real_feats, backbone))
            rows.append({"change": change or "", "params": params,
                         "metrics": {k: float(v) for k, v in metrics.items()},
                         "train_seconds": round(time.time() - t0, 1)})
            write_json(args.out, {"rows": rows})
            print(f"{change or 'baseline'} seed {seed}: " + ", ".join(
                f"{k} {v:.3g}" for k, v in rows[-1]["metrics"].items()), file=sys.stderr)
    print(seed_table_of(rows, [args.change] if args.change else []))


if __name__ == "__main__":
    main()
