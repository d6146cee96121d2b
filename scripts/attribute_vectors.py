"""Condition vectors of the discrete attribute code for ``scripts/condition_diagnostic.py`` (#9;
README "A discrete attribute code").

Reads the outputs of `dvc repro` (``models/rdg/condition``: each caption's SEN embedding followed
by the VLAD of its frame states; the manifest's attribute labels) and fits the classifier of
``dg.condition_attributes`` (:func:`s2igan.rdg.attributes.fit_attribute_code`) on the training
captions. Writes under ``OUT``, each folder one ``--vectors`` of the diagnostic (run with
``--set dg.condition_projection=none --set dg.condition_vlad=0``):

* ``hard``: training captions get the one-hot code of their image's true attributes, test
  captions the code of the classifier's reading of their speech (what the pipeline's code gives:
  on the training captions the classifier reads every attribute right), through a fixed Gaussian
  projection (seed 0) to the SEN's size;
* ``hardcv``: training captions get the classifier's reading too, fitted without their class
  (5 folds of classes): codes with the errors of unseen classes;
* ``concat``: the pipeline's CCA condition (``imageside_vectors.py``'s ``control``; pass its
  folder as ``--cca``) beside the one-hot code through a 128-wide projection, each normalised;
* ``crown2``: ``hard`` with the crown's one-hot doubled.

usage: python scripts/attribute_vectors.py OUT [--cca CONTROL_DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import GroupKFold

from s2igan.arrays import load_vectors
from s2igan.data import manifest as mf
from s2igan.rdg.attributes import fit_attribute_code, one_hot_argmax, one_hot_targets

ATTRIBUTES = ["crown", "wing", "belly", "size"]


def reading(fit, x: np.ndarray) -> np.ndarray:
    """(N, K) one-hot of the fitted classifier's reading of ``x``."""
    scores = torch.from_numpy((x - fit.mean) @ fit.weight + fit.bias)
    return one_hot_argmax(scores, torch.from_numpy(fit.group)).numpy()


def normalised(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--cca", type=Path, help="imageside_vectors.py's control folder (concat)")
    args = ap.parse_args()
    frame = mf.read(Path("data/prepared/manifest.parquet"))
    attrs = mf.attributes(frame.set_index("caption_id"))[ATTRIBUTES].astype(str)
    ids, x = {}, {}
    for split in ("train", "test"):
        ids[split], v = load_vectors("models/rdg/condition", f"{split}_speech")
        x[split] = np.asarray(v, np.float64)
    labels = {s: attrs.loc[ids[s]["id"].to_numpy()].reset_index(drop=True) for s in x}
    fit = fit_attribute_code(x["train"], labels["train"], 512)
    truth = {s: one_hot_targets(labels[s])[0] for s in x}
    test = reading(fit, x["test"])
    for g, a in enumerate(ATTRIBUTES):
        cols = fit.group == g
        print(f"{a}: unseen test captions read right "
              f"{(test[:, cols] == truth['test'][:, cols]).all(1).mean():.3f}")
    crossed = np.zeros_like(truth["train"])
    classes = ids["train"]["class_id"].to_numpy()
    for fold, held in GroupKFold(5).split(x["train"], groups=classes):
        part = fit_attribute_code(x["train"][fold], labels["train"].iloc[fold], 512)
        crossed[held] = reading(part, x["train"][held])
    code = np.random.default_rng(0).normal(size=(truth["train"].shape[1], 512))
    narrow = np.random.default_rng(0).normal(size=(truth["train"].shape[1], 128))
    doubled = np.where(fit.group == 0, 2.0, 1.0)
    sets = {"hard": (truth["train"] @ code, test @ code),
            "hardcv": (crossed @ code, test @ code),
            "crown2": ((truth["train"] * doubled) @ code, (test * doubled) @ code)}
    if args.cca is not None:
        cca = {s: np.load(args.cca / f"{s}_speech.npy").astype(np.float64) for s in x}
        sets["concat"] = (np.c_[normalised(cca["train"]), normalised(truth["train"] @ narrow)],
                          np.c_[normalised(cca["test"]), normalised(test @ narrow)])
    for name, (train, tst) in sets.items():
        (args.out / name).mkdir(parents=True, exist_ok=True)
        np.save(args.out / name / "train_speech.npy", train.astype(np.float32))
        np.save(args.out / name / "test_speech.npy", tst.astype(np.float32))


if __name__ == "__main__":
    main()
