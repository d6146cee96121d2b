"""Where do held-out phrasings lose their colours: in the speech side's reading of the attributes,
or in the drawing? Reads the generator's discrete attribute code (``dg.condition_attributes``,
README "A discrete attribute code") for the unseen test captions and for the evaluate stage's
held-out phrasings of the same classes, and scores each reading against the image's attributes,
as ``gen/acc_*`` scores the drawn bird. With ``--alphas`` it also refits the ridge classifier of
the code at other strengths, on the embedding, the VLAD or both, to see whether regularisation
alone carries the reading over to new phrasings.

Runs after `dvc repro` on its outputs (data/prepared, data/embeddings, models/sen, models/rdg);
synthesises the held-out phrasings with the evaluation voice (about a minute on 2 cores).

usage: python scripts/code_reading.py [--alphas 1 100 10000] [--out reports/phrasings/code_reading.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from s2igan.arrays import load_vectors
from s2igan.config import from_dict, load_params
from s2igan.data import manifest as mf
from s2igan.evaluate.fidelity import heldout_phrasings, part_word_scores, value_scores, voice_speech
from s2igan.evaluate.judge import attribute_table
from s2igan.evaluate.run import EvalConfig
from s2igan.io import write_json
from s2igan.rdg.attributes import one_hot_targets
from s2igan.rdg.run import generator_vectors, speech_sources
from s2igan.rdg.sampling import load_generator
from s2igan.sen.checkpoint import load_sen
from s2igan.speech.frontend import FbankConfig, SpeechFrontend


def readings(scores: np.ndarray, group: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """The value each attribute's highest-scoring column names: ``scores`` (N, K), ``group`` (K,)
    the attribute index of each column, ``names`` (K,) ``"<attribute>=<value>"``."""
    out = {}
    for g in np.unique(group):
        cols = np.flatnonzero(group == g)
        attr = names[cols[0]].split("=", 1)[0]
        values = np.asarray([names[c].split("=", 1)[1] for c in cols])
        out[attr] = values[scores[:, cols].argmax(1)]
    return out


def scores_of(x: np.ndarray, mean: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return (np.asarray(x, dtype=np.float64) - mean) @ weight + bias


def refit(train: np.ndarray, targets: np.ndarray, alpha: float, cols: slice
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge of ``fit_attribute_code`` at a fixed ``alpha`` on the columns ``cols`` of the
    generator input; (mean, weight, bias) in the full input's coordinates."""
    from sklearn.linear_model import Ridge

    x = np.asarray(train, dtype=np.float64)
    mean, std = x.mean(0), x.std(0)
    std[std < 1e-12] = 1.0
    keep = np.zeros(x.shape[1], dtype=bool)
    keep[cols] = True
    ridge = Ridge(alpha=alpha).fit(((x - mean) / std)[:, keep], targets)
    weight = np.zeros((x.shape[1], targets.shape[1]))
    weight[keep] = ridge.coef_.T / std[keep, None]
    return mean, weight, np.asarray(ridge.intercept_, dtype=np.float64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alphas", type=float, nargs="*", default=[])
    ap.add_argument("--out", type=Path, default=Path("reports/phrasings/code_reading.json"))
    args = ap.parse_args()

    params = load_params()
    cfg = from_dict(EvalConfig, params.get("evaluate"), "evaluate")
    frontend = SpeechFrontend(fbank=from_dict(FbankConfig, params.get("fbank"), "fbank"),
                              tts_backend=params["tts"]["backend"], voice=cfg.voice,
                              workers=cfg.tts_workers)
    rdg_dir = Path("models/rdg")
    embeddings, sen_checkpoint, _ = speech_sources(rdg_dir, Path("data/embeddings"),
                                                   Path("models/sen"))
    encoder, _, _ = load_sen(sen_checkpoint, "cpu", speech_only=True)
    g = load_generator(rdg_dir / "generator.pt", "cpu")
    code = g.project.attributes
    if code is None:
        raise SystemExit("the generator has no attribute code (dg.condition_attributes: 0)")
    vectors = generator_vectors(rdg_dir, embeddings, g)
    frame = mf.read(Path("data/prepared/manifest.parquet")).set_index("caption_id")
    sets = {}
    for split in ("train", "test"):
        index, x = load_vectors(vectors, f"{split}_speech")
        sets[split] = (np.asarray(x), frame.loc[index["id"]].reset_index())
    train_labels = attribute_table(sets["train"][1]).astype(str)
    targets, group, names, _ = one_hot_targets(train_labels)
    if not np.array_equal(group, code.group.numpy()):
        raise SystemExit("the code's columns do not match the training labels' attributes")
    test_x, captions = sets["test"]
    truth = attribute_table(captions).astype(str)
    texts = heldout_phrasings(captions, cfg.heldout_phrasings, cfg.seed)
    held_x = voice_speech(texts, frontend, g.speech_input(encoder)).numpy()

    def score(mean, weight, bias) -> dict[str, float]:
        out = value_scores(readings(scores_of(test_x, mean, weight, bias), group, names), truth,
                           "code_test")
        pred = readings(scores_of(held_x, mean, weight, bias), group, names)
        out.update(value_scores(pred, truth, "code_heldout_phrasing"))
        out.update(part_word_scores(pred, truth, texts, "code_heldout_phrasing"))
        return {k: v for k, v in out.items() if "/acc_" in k}

    fitted = [t.detach().double().numpy() for t in (code.mean, code.weight, code.bias)]
    result = {"the generator's code": score(*fitted)}
    width = sets["train"][0].shape[1]
    centres = getattr(g.project, "centres", None)         # the VLAD part (dg.condition_vlad)
    split = width - (centres.numel() if centres is not None else 0)
    parts = {"both": slice(None)}
    if split < width:
        parts.update(embedding=slice(0, split), vlad=slice(split, None))
    for alpha in args.alphas:
        for name, cols in parts.items():
            result[f"ridge alpha {alpha:g}, {name}"] = score(
                *refit(sets["train"][0], targets, alpha, cols))
    write_json(args.out, {"texts": texts[:: max(1, len(texts) // 20)], "readings": result})
    table = pd.DataFrame(result).T
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
