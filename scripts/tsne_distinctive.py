"""The t-SNE pair of TASLP Fig. 9: test speech embeddings of the SEN with and without the
distinctive (class) loss, Eq. (7), side by side, with how tightly each clusters by class.

Runs after `dvc repro` on its outputs: the pipeline's SEN (`models/sen/best.pt`, distinctive on
by default) is one side; the other is the SEN of params.yaml trained again here with
`sen.distinctive` flipped, into a scratch folder. Writes ``--out`` (PNG) and ``--json``:
test mAP and the cosine silhouette score of the test speech embeddings by class, for both.

usage: python scripts/tsne_distinctive.py [--scratch /tmp/s2igan-tsne] [--out docs/tsne_distinctive.png]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.metrics import silhouette_score

from s2igan.config import from_dict, load_params
from s2igan.data import manifest as mf
from s2igan.device import resolve_device
from s2igan.io import atomic_path, write_json
from s2igan.sen.checkpoint import load_sen
from s2igan.sen.config import SENConfig
from s2igan.sen.data import load_split
from s2igan.sen.evaluate import evaluate_split
from s2igan.sen.run import train_and_evaluate
from s2igan.sen.tsne import plot_tsne

FBANK, FEATURES = Path("data/fbank"), Path("data/features")


def test_embeddings(checkpoint: Path, cfg: SENConfig) -> tuple[dict, np.ndarray, np.ndarray]:
    """(test scores, speech embeddings (N, E), class ids (N,)) of a trained SEN."""
    device = resolve_device(cfg.device)
    speech, image, _ = load_sen(checkpoint, device, speech_only=True)
    test = load_split(FBANK, FEATURES, "test")
    scores, emb = evaluate_split(speech, image, test, "fine_grained", cfg.eval_batch_size, device)
    return scores, np.asarray(emb), test.captions["class_id"].to_numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/s2igan-tsne"))
    ap.add_argument("--out", type=Path, default=Path("docs/tsne_distinctive.png"))
    ap.add_argument("--json", type=Path, default=Path("reports/curves/tsne_distinctive.json"))
    args = ap.parse_args()
    cfg = from_dict(SENConfig, load_params()["sen"], "sen")
    other = replace(cfg, distinctive=not cfg.distinctive)
    frame = mf.read(Path("data/prepared/manifest.parquet"))
    train_and_evaluate(frame, FBANK, FEATURES, args.scratch / "models", args.scratch / "reports",
                       other)
    sides = {cfg.distinctive: Path("models/sen/best.pt"),
             other.distinctive: args.scratch / "models" / "best.pt"}
    result, panels = {}, []
    for distinctive in (True, False):
        scores, emb, classes = test_embeddings(sides[distinctive], cfg)
        name = "with" if distinctive else "without"
        result[f"{name}_distinctive"] = {
            "test_map": float(scores["map"]),
            "silhouette_cosine": float(silhouette_score(emb, classes, metric="cosine")),
            "checkpoint": str(sides[distinctive])}
        png = args.scratch / f"tsne_{name}.png"
        plot_tsne(emb, classes, png, cfg.tsne_classes, cfg.tsne_points, cfg.seed,
                  title=f"{name} the distinctive loss (test mAP {scores['map']:.2f})")
        panels.append(Image.open(png).convert("RGB"))
    canvas = Image.new("RGB", (sum(p.width for p in panels), max(p.height for p in panels)), "white")
    x = 0
    for p in panels:
        canvas.paste(p, (x, 0))
        x += p.width
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        canvas.save(tmp, format="PNG")
    write_json(args.json, {"sen": {"epochs": cfg.epochs, "seed": cfg.seed}, **result})
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
