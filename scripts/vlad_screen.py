"""Screen VLAD pooling of the SEN's frame states as the generator's condition, without a GAN run.

The SEN's self-attention, Eq. (1)-(2), sums the BiGRU states of a whole utterance into one
vector: "red" said of the crown and "red" said of the wings land on nearly the same direction
(README, "Why the SEN embedding loses the binding"). The frame states themselves may keep which
part a colour was said of, because each state also carries its neighbouring words. VLAD
(Jegou et al., CVPR 2010; NetVLAD, Arandjelovic et al., CVPR 2016) keeps that: k-means on
training frame states gives K centres, and an utterance becomes the K per-centre sums of its
states' residuals, each sum L2-normalised ("intra-normalisation"), the whole L2-normalised
again, K x 2H numbers in all. No labels: the clusters are what the frames hold (word contexts),
the residuals what differs within them (which colour came with "crown").

Reads the outputs of `dvc repro embed` (data/prepared, data/fbank, data/features,
models/sen/best.pt) and reports, for the pooled SEN embedding and for the VLAD vectors:

* ``probe/<vectors>_*`` and ``binding/<vectors>_*``: the evaluate stage's probe (training
  classes to unseen classes) and part entanglement (training captions);
* ``heldout_voice/<vectors>_*``: the unseen-class probe scored on the test captions spoken by
  the evaluate stage's held-out voice (``evaluate.heldout_voices``, first one; the probe and the
  k-means centres are fitted on the training voices only);
* the same for the generator's condition fitted on them as the `rdg` stage fits
  ``dg.condition_projection: cca``: canonical directions of the vectors against the backbone
  features of their images, the leading ``--dims`` weighted by their correlation, after
  ``--pca`` whitened principal components of the vectors and ``--feature-pca`` of the image
  features (the pipeline's condition: 128, 128 and 64 directions).

The condition vectors of the VLAD are written to ``--save`` (``train_speech.npy``,
``test_speech.npy``) for ``scripts/condition_diagnostic.py --condition vectors --vectors DIR
--set dg.condition_projection=none``, which trains and scores a generator on them. One JSON line
is appended to ``--out``. About 6 minutes on 2 cores (379 s with K 16, PCA 1,024 and the
held-out voice).

usage: python scripts/vlad_screen.py --clusters 16 --pca 1024 --feature-pca 128 --dims 64
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from s2igan.arrays import Ragged
from s2igan.config import from_dict, load_params
from s2igan.data import manifest as mf
from s2igan.evaluate.fidelity import attributes_of
from s2igan.metrics.diagnostics import attribute_probe, part_entanglement
from s2igan.rdg.condition import CCA_PCA_DIMS, VLAD_PCA_DIMS, weighted_cca
from s2igan.rdg.data import image_features_in_order
from s2igan.sen.checkpoint import load_sen
from s2igan.sen.evaluate import embed_speech
from s2igan.sen.vlad import SpeechWithVLAD, fit_centres, sample_states
from s2igan.speech.frontend import FbankConfig, SpeechFrontend

PARTS = ("crown", "wing", "belly")


def cca_condition(train: np.ndarray, features: np.ndarray, others: list[np.ndarray], pca: int,
                  dims: int, feature_pca: int | None = None) -> list[np.ndarray]:
    """The `rdg` stage's ``cca`` condition with ``pca`` whitened components of the vectors and
    ``feature_pca`` (default: ``pca``) of the image features: the leading ``dims`` canonical
    directions of ``train`` against ``features``, weighted by their correlation, applied to
    ``train`` and each of ``others``, rows L2-normalised."""
    mean, w = weighted_cca(train, features, dims, pca, feature_pca)
    out = []
    for x in [train, *others]:
        y = (x - mean) @ w
        out.append(y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12))
    return out


def heldout_fbank(frame, index, params: dict, voice: str) -> Ragged:
    """The captions of ``index`` (the test split's Ragged index) spoken by ``voice`` (each
    distinct text once), as filterbanks in that row order."""
    frontend = SpeechFrontend(fbank=from_dict(FbankConfig, params.get("fbank"), "fbank"),
                              tts_backend=params["tts"]["backend"], voice=voice)
    texts = frame.set_index("caption_id").loc[index["id"], "text"].fillna("").tolist()
    done: dict[str, np.ndarray] = {}
    for t in texts:
        if t not in done:
            done[t] = frontend.text_fbank(t)
    return Ragged.from_list([done[t] for t in texts], index)


def scores(name: str, train: np.ndarray, train_attrs, test: np.ndarray, test_attrs,
           heldout: np.ndarray | None = None) -> dict[str, float]:
    out = {f"probe/{name}_{a}": v for a, v in
           attribute_probe(train, train_attrs, test, test_attrs).items()}
    if heldout is not None:
        out.update({f"heldout_voice/{name}_{a}": v for a, v in
                    attribute_probe(train, train_attrs, heldout, test_attrs).items()})
    out.update({f"binding/{name}_{p}": v for p, v in
                part_entanglement(train, train_attrs, PARTS).items()})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=16, help="k-means centres (K)")
    ap.add_argument("--pca", type=int, default=VLAD_PCA_DIMS,
                    help="whitened components of the VLAD side of the CCA (the pipeline: 1,024)")
    ap.add_argument("--feature-pca", type=int, default=CCA_PCA_DIMS,
                    help="whitened components of the image side (the pipeline: 128)")
    ap.add_argument("--dims", type=int, default=64, help="canonical directions kept")
    ap.add_argument("--per-caption", type=int, default=20, help="frames per caption for k-means")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--heldout-voice", default=None,
                    help="voice for heldout_voice/* (default: evaluate.heldout_voices[0]; "
                         "'none': skip)")
    ap.add_argument("--save", type=Path, default=None,
                    help="folder for the VLAD condition vectors (default: none written)")
    ap.add_argument("--out", type=Path, default=Path("reports/curves/vlad_screen.jsonl"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    params = load_params()
    voice = args.heldout_voice or (params["evaluate"].get("heldout_voices") or ["none"])[0]
    frame = mf.read(Path("data/prepared/manifest.parquet"))
    encoder = load_sen(Path("models/sen/best.pt"), speech_only=True)[0]
    fbanks = {split: Ragged.load("data/fbank", split, mmap=False) for split in ("train", "test")}
    if voice != "none":
        fbanks["heldout"] = heldout_fbank(frame, fbanks["test"].index, params, voice)
    tr_index = fbanks["train"].index
    tr_attrs, te_attrs = (attributes_of(frame, fbanks[s].index["id"], "caption_id")
                          for s in ("train", "test"))
    # states of every training caption, as the committed screen ran (the rdg stage draws them
    # from CENTRE_CAPTIONS captions since)
    centres = fit_centres(sample_states(encoder, fbanks["train"], args.per_caption, args.seed,
                                        max_captions=None), args.clusters, args.seed)
    model = SpeechWithVLAD(encoder, torch.from_numpy(centres))
    both = {s: embed_speech(model, f).astype(np.float64) for s, f in fbanks.items()}
    E = both["train"].shape[1] - centres.size
    pooled = {s: v[:, :E] for s, v in both.items()}
    vlads = {s: v[:, E:] for s, v in both.items()}
    features = np.asarray(image_features_in_order(Path("data/features"), "train",
                                                  tr_index["image_id"]), np.float64)
    row = {"clusters": args.clusters, "pca": args.pca, "feature_pca": args.feature_pca,
           "dims": args.dims, "seed": args.seed, "heldout_voice": voice}
    for name, vecs, pca, fpca, dims in (
            ("pooled", pooled, 0, 0, 0), ("vlad", vlads, 0, 0, 0),
            ("condition_pooled", pooled, CCA_PCA_DIMS, CCA_PCA_DIMS, 64),
            ("condition_vlad", vlads, args.pca, args.feature_pca, args.dims)):
        tr, te, held = vecs["train"], vecs["test"], vecs.get("heldout")
        if pca:
            tr, te, *rest = cca_condition(tr, features, [te] + ([held] if held is not None
                                                                 else []), pca, dims, fpca)
            held = rest[0] if rest else None
        row.update(scores(name, tr, tr_attrs, te, te_attrs, held))
        if name == "condition_vlad" and args.save is not None:
            args.save.mkdir(parents=True, exist_ok=True)
            np.save(args.save / "train_speech.npy", tr.astype(np.float32))
            np.save(args.save / "test_speech.npy", te.astype(np.float32))
            if held is not None:
                np.save(args.save / "heldout_speech.npy", held.astype(np.float32))
    row["seconds"] = round(time.perf_counter() - t0, 1)
    row = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
    print(json.dumps(row, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as fh:
        fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
