"""Screen a SEN for the generator before any GAN run: what its speech embeddings, and the
condition the RDG would fit on them, keep of the part colours.

Reads the pipeline's outputs after `dvc repro embed` (data/prepared, data/embeddings,
data/features) and the `dg` section of params.yaml, fits the generator's condition projection
exactly as the `rdg` stage does (:func:`s2igan.rdg.condition.fit_projection`) and reports:

* ``probe/*`` and ``binding/*``: :func:`s2igan.evaluate.fidelity.probe_scores`, the keys the
  evaluate stage writes (speech, image and feature probes from train to unseen classes; part
  entanglement of the training vectors, ``condition`` being the projected speech);
* ``probe/condition_*``: the same probe on the projected speech (what F^ca reads), unseen
  classes;
* ``sen/test_map``: the SEN's test mAP from reports/sen/metrics.json.

Appends one JSON line (with ``--label``) to reports/curves/condition_screen.jsonl. About a
minute on one thread.

usage: python scripts/condition_screen.py --label "sen.feature_regression=1"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from s2igan.arrays import load_vectors
from s2igan.config import from_dict, load_params
from s2igan.data import manifest as mf
from s2igan.evaluate.fidelity import attributes_of, probe_scores
from s2igan.metrics.diagnostics import attribute_probe
from s2igan.rdg.condition import ConditionProjection, fit_projection
from s2igan.rdg.config import DGConfig
from s2igan.rdg.data import image_features_in_order


def fitted_condition(embeddings: Path, features: Path, dg: DGConfig) -> ConditionProjection:
    """The generator's projection fitted on the training captions, as the `rdg` stage fits it."""
    index, speech = load_vectors(embeddings, "train_speech")
    speech = np.asarray(speech, np.float64)
    feats = image_features_in_order(features, "train", index["image_id"])
    classes = index["class_id"].to_numpy()     # the embed stage records each caption's class
    project = ConditionProjection(speech.shape[1], dg.condition_dims)
    project.set(*fit_projection(dg.condition_projection, speech, classes, dg.condition_dims,
                                feats))
    return project


def condition_probe(frame, embeddings: Path, project: ConditionProjection) -> dict[str, float]:
    """``probe/condition_<attr>``: probe trained on the projected training captions, scored on
    the projected unseen-class captions."""
    parts = []
    for split in ("train", "test"):
        index, speech = load_vectors(embeddings, f"{split}_speech")
        with torch.no_grad():
            y = project(torch.from_numpy(np.asarray(speech, np.float32))).double().numpy()
        parts += [y, attributes_of(frame, index["id"], "caption_id")]
    return {f"probe/condition_{a}": v for a, v in attribute_probe(*parts).items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", required=True, help="what this SEN is (recorded in the line)")
    ap.add_argument("--out", type=Path, default=Path("reports/curves/condition_screen.jsonl"))
    args = ap.parse_args()
    params = load_params()
    dg = from_dict(DGConfig, params.get("dg"), "dg")
    if dg.condition_projection == "none":
        raise SystemExit("dg.condition_projection is none: there is no condition to screen")
    prepared, embeddings, features = (Path("data/prepared"), Path("data/embeddings"),
                                      Path("data/features"))
    frame = mf.read(prepared / "manifest.parquet")
    project = fitted_condition(embeddings, features, dg)
    row = {"label": args.label, "sen": params["sen"],
           "dg": {k: params["dg"][k] for k in ("condition_projection", "condition_dims")}}
    sen_metrics = Path("reports/sen/metrics.json")
    if sen_metrics.is_file():
        row["sen/test_map"] = json.loads(sen_metrics.read_text()).get("test/map")
    row.update(probe_scores(frame, embeddings, features, project))
    row.update(condition_probe(frame, embeddings, project))
    row = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
    print(json.dumps({k: v for k, v in row.items() if k not in ("sen", "dg")}, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
