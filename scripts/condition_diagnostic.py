"""Which condition lets the RDG bind colours to parts: the RDG of params.yaml retrained on
replaced speech embeddings and scored like the evaluate stage (README, "Binding, not colour").

Runs after `dvc repro` on its outputs. ``--condition``:

* ``sen``: the cached SEN embeddings as they are (the baseline);
* ``oracle``: a diagnostic, not a system: the true attributes of each caption's image, one-hot,
  through a fixed random projection to the SEN's size, L2-normalised;
* ``classmean``: each caption's class-mean SEN embedding (no within-class variation), normalised;
* ``probe``: a diagnostic that uses the attribute labels: the scores of a linear probe (ridge,
  one per attribute, fitted on the training captions' SEN embeddings) for every attribute value,
  through the oracle's projection. It shows what the SEN's linearly readable information gives
  the generator once it is presented part by part;
* ``vectors``: speech vectors of another encoder, ``--vectors DIR`` holding ``train_speech.npy``
  and ``test_speech.npy`` in the row order of ``data/embeddings`` (a SEN variant screened
  outside the pipeline), normalised.

Each writes the replaced embeddings to ``<scratch>/<condition>/embeddings`` (image embeddings
copied), trains there with ``--set section.key=value`` overrides (e.g.
``--set rs.enabled=false --set dg.condition_projection=lda``), scores, and appends one JSON
line to ``--out``. The generator reads the replaced vectors alone: ``dg.condition_vlad`` (the
VLAD of the SEN's frame states) falls back to 0, as the `rdg` stage says, because a VLAD of the
SEN's states would not belong to them.

usage: python scripts/condition_diagnostic.py --condition oracle --set rs.enabled=false
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from s2igan.config import from_dict, load_params
from s2igan.data import manifest as mf
from s2igan.evaluate.judge import Judges, attribute_table
from s2igan.rdg.config import DGConfig, RDGConfig, RSConfig
from s2igan.rdg.run import train_from_paths

sys.path.insert(0, str(Path(__file__).parent))
from fidelity_curve import score

SRC = Path("data/embeddings")
ATTRIBUTES = ("crown", "wing", "belly", "size")


def oracle(frame: pd.DataFrame, ids: pd.DataFrame, dim: int) -> np.ndarray:
    """(N, dim) one-hot attributes of each caption's image through a fixed random projection."""
    attrs = attribute_table(frame.set_index("caption_id"))
    vocab = {a: sorted(attrs[a].astype(str).unique()) for a in ATTRIBUTES}
    rows = attrs.loc[ids["id"].to_numpy()]
    onehot = np.concatenate([np.eye(len(vocab[a]))[[vocab[a].index(v) for v in rows[a].astype(str)]]
                             for a in ATTRIBUTES], axis=1)
    proj = np.random.default_rng(0).normal(size=(onehot.shape[1], dim))
    return onehot @ proj


def probe_scores(frame: pd.DataFrame, ids: dict[str, pd.DataFrame], vectors: dict[str, np.ndarray],
                 dim: int) -> dict[str, np.ndarray]:
    """{split: (N, dim)} ridge-probe scores of every attribute value, projected like
    :func:`oracle`."""
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.preprocessing import StandardScaler

    attrs = attribute_table(frame.set_index("caption_id"))
    scaler = StandardScaler().fit(vectors["train"])
    x = {s: scaler.transform(v) for s, v in vectors.items()}
    y = attrs.loc[ids["train"]["id"].to_numpy()]
    scores = {s: [] for s in vectors}
    for a in ATTRIBUTES:
        clf = RidgeClassifierCV(alphas=(0.1, 1.0, 10.0, 100.0, 1e3, 1e4)).fit(
            x["train"], y[a].astype(str).to_numpy())
        for s in vectors:
            d = clf.decision_function(x[s])
            scores[s].append(np.c_[-d, d] if d.ndim == 1 else d)     # two values: one column
    proj = np.random.default_rng(0).normal(size=(sum(m.shape[1] for m in scores["train"]), dim))
    return {s: np.concatenate(m, axis=1) @ proj for s, m in scores.items()}


def class_mean(ids: pd.DataFrame, vectors: np.ndarray) -> np.ndarray:
    return pd.DataFrame(vectors).groupby(ids["class_id"].to_numpy()).transform("mean").to_numpy()


def given_vectors(folder: Path, split: str, n: int) -> np.ndarray:
    """``folder/<split>_speech.npy``, which must hold one row per caption of the split."""
    v = np.load(folder / f"{split}_speech.npy").astype(np.float64)
    if v.ndim != 2 or len(v) != n:
        raise SystemExit(f"{folder / f'{split}_speech.npy'}: expected {n} rows (the captions "
                         f"of data/embeddings/{split}_speech), got shape {v.shape}")
    return v


def replaced_embeddings(condition: str, frame: pd.DataFrame, out: Path,
                        vectors: Path | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    probe = None
    if condition == "probe":
        ids = {s: pd.read_parquet(SRC / f"{s}_speech.ids.parquet") for s in ("train", "test")}
        vecs = {s: np.load(SRC / f"{s}_speech.npy").astype(np.float64) for s in ("train", "test")}
        probe = probe_scores(frame, ids, vecs, vecs["train"].shape[1])
    for split in ("train", "test"):
        for name in (f"{split}_image.npy", f"{split}_image.ids.parquet",
                     f"{split}_speech.ids.parquet"):
            shutil.copy(SRC / name, out / name)
        ids = pd.read_parquet(SRC / f"{split}_speech.ids.parquet")
        v = np.load(SRC / f"{split}_speech.npy").astype(np.float64)
        if condition == "oracle":
            v = oracle(frame, ids, v.shape[1])
        elif condition == "classmean":
            v = class_mean(ids, v)
        elif condition == "probe":
            v = probe[split]
        elif condition == "vectors":
            v = given_vectors(vectors, split, len(ids))
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
        np.save(out / f"{split}_speech.npy", v.astype(np.float32))
    return out


def overrides(pairs: list[str]) -> dict:
    out: dict = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        section, _, name = key.partition(".")
        if section not in ("dg", "rs", "rdg") or not name or not _:
            raise SystemExit(f"--set {pair!r}: expected dg|rs|rdg.<key>=<value>")
        out.setdefault(section, {})[name] = yaml.safe_load(value)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--condition", choices=("sen", "oracle", "classmean", "probe", "vectors"),
                    default="sen")
    ap.add_argument("--vectors", type=Path, help="--condition vectors: the folder of them")
    ap.add_argument("--label", default="", help="recorded in the line (default: the condition)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/s2igan-condition"))
    ap.add_argument("--out", type=Path, default=Path("reports/curves/condition_diagnostic.jsonl"))
    args = ap.parse_args()
    if (args.condition == "vectors") != (args.vectors is not None):
        raise SystemExit("--vectors DIR goes with --condition vectors, and only with it")
    over = overrides(args.set)
    params = load_params()
    sec = {k: {**params.get(k, {}), **over.get(k, {})} for k in ("dg", "rs", "rdg")}
    frame = mf.read(Path("data/prepared/manifest.parquet"))
    run = args.scratch / (args.label or args.condition).replace("/", "_")
    emb = replaced_embeddings(args.condition, frame, run / "embeddings", args.vectors)
    t = time.time()
    train_from_paths(Path("data/prepared"), emb, Path("data/features"), Path("models/sen"),
                     run / "models", run / "reports", from_dict(DGConfig, sec["dg"], "dg"),
                     from_dict(RSConfig, sec["rs"], "rs"), from_dict(RDGConfig, sec["rdg"], "rdg"),
                     weights=None)
    row = {"condition": args.condition, "label": args.label, "set": over,
           "train_seconds": round(time.time() - t)}
    row.update(score(run / "models", frame, emb, Judges.load("models/judge/judge.pt")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as fh:
        fh.write(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                             for k, v in row.items()}) + "\n")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
