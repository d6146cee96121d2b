"""Fidelity diagnostics of the `evaluate` stage: where the spoken attributes get lost.

* ``probe/<vectors>_<attr>``: a linear probe (:func:`s2igan.metrics.diagnostics.attribute_probe`)
  trained on the training classes and scored on the unseen test classes, on three kinds of
  vectors: the SEN speech embeddings of the captions (``speech``), the SEN image embeddings
  (``image``) and the raw backbone features of the images (``features``).
* ``binding/<vectors>_<p>_<q>``: on the same training vectors and on the generator's projected
  condition (``condition``), the mean cosine between "colour on part p" and "colour on part q"
  (:func:`s2igan.metrics.diagnostics.part_entanglement`): near 1, the vectors say which colours
  were spoken but not where.
* ``seen/acc_<attr>``: the judge's verdict on images generated from captions of TRAINING classes
  (a seeded sample), beside ``gen/acc_<attr>`` on the unseen test classes.
* ``seen/anypart_<part>``, ``gen/anypart_<part>``, ``heldout_voice/anypart_<part>``: how often
  the colour the judge reads on a part is the spoken colour of any part (binding, not colour).
* ``gen/diversity``: the mean absolute pixel difference of two images of the same caption under
  two noise seeds (:func:`s2igan.metrics.diagnostics.noise_diversity`).
* ``heldout_voice/acc_<attr>``: the test captions re-spoken by voices held out of training (TTS
  -> filterbank -> SEN -> generator, the same noise as ``gen/acc``), so the two read side by side.
* ``heldout_phrasing/acc_<attr>``: the unseen test classes described in phrasings the training
  grammar never produces (:mod:`s2igan.data.phrasings`), spoken by the evaluation voice (one of
  the training voices), with the same noise as ``gen/acc``: new words, not a new voice.
  ``heldout_phrasing/acc_<part>_known_word`` and ``_new_word`` split it by whether the caption
  names the part with a word the training grammar has for it ("head", "wings") or with a new one
  ("headed", "winged", "tummy", ...: :data:`s2igan.data.phrasings.NEW_PART_WORDS`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from s2igan.arrays import load_vectors
from s2igan.data.captions import COLOUR_SLOTS
from s2igan.data.phrasings import heldout_pool, names_part_with_new_word
from s2igan.evaluate.judge import Judges, attribute_table, predict
from s2igan.metrics.diagnostics import (
    attribute_accuracy,
    attribute_probe,
    colour_anywhere,
    noise_diversity,
    part_entanglement,
)
from s2igan.rdg.generator import Generator
from s2igan.rdg.sampling import fixed_noise, generate
from s2igan.speech.frontend import SpeechFrontend, embed_fbanks


def attributes_of(frame: pd.DataFrame, ids, key: str) -> pd.DataFrame:
    """Attribute table (one column per attribute) of the manifest rows whose ``key`` is ``ids``."""
    table = frame.drop_duplicates(key).set_index(key).loc[np.asarray(ids)]
    return attribute_table(table).reset_index(drop=True)


def probe_scores(frame: pd.DataFrame, embeddings: Path, features: Path,
                 project: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 vectors: Path | None = None) -> dict[str, float]:
    """``probe/<speech|image|features>_<attr>``: train-class probe, unseen-class accuracy.
    ``binding/<speech|image|features|condition>_<p>_<q>``: :func:`part_entanglement` of the
    training vectors between two colour parts (``condition``: the generator's input vectors,
    ``vectors/train_speech`` (default: the speech embeddings), through ``project``, the
    generator's fitted projection, i.e. what F^ca reads).
    No ``probe/image_*`` without SEN image embeddings (``sen.kind: classifier`` has none)."""
    sources = {"speech": (embeddings, "{split}_speech", "caption_id"),
               "image": (embeddings, "{split}_image", "image_id"),
               "features": (features, "{split}", "image_id")}
    out: dict[str, float] = {}
    for name, (folder, pattern, key) in sources.items():
        if name == "image" and not (Path(folder) / "train_image.npy").is_file():
            continue
        parts = {}
        for split in ("train", "test"):
            index, vecs = load_vectors(folder, pattern.format(split=split))
            parts[split] = (np.asarray(vecs, np.float64), attributes_of(frame, index["id"], key))
        acc = attribute_probe(*parts["train"], *parts["test"])
        out.update({f"probe/{name}_{a}": v for a, v in acc.items()})
        out.update(_binding(name, *parts["train"]))
        if name == "speech" and project is not None:
            x = parts["train"][0] if vectors is None else load_vectors(vectors, "train_speech")[1]
            with torch.no_grad():
                y = project(torch.from_numpy(np.asarray(x)).float()).double().numpy()
            out.update(_binding("condition", y, parts["train"][1]))
    return out


def _binding(name: str, x: np.ndarray, attrs: pd.DataFrame) -> dict[str, float]:
    parts = tuple(p for p in COLOUR_SLOTS if p in attrs.columns)
    if len(parts) < 2:
        return {}
    return {f"binding/{name}_{k}": v for k, v in part_entanglement(x, attrs, parts).items()}


def judged_accuracy(judges: Judges, images: torch.Tensor, truth: pd.DataFrame,
                    prefix: str) -> dict[str, float]:
    """``<prefix>/acc_<attr>``: the attribute judge on uint8 images against ``truth``; and
    ``<prefix>/anypart_<part>`` (:func:`colour_anywhere`) for the colour parts the judge reads."""
    return value_scores(judged_values(judges, images), truth, prefix)


def value_scores(pred: dict[str, np.ndarray], truth: pd.DataFrame, prefix: str
                 ) -> dict[str, float]:
    """:func:`judged_accuracy` of readings already judged (:func:`judged_values`), with
    :func:`two_value_recalls`."""
    out = {f"{prefix}/acc_{a}": attribute_accuracy(p, truth[a].astype(str).to_numpy())
           for a, p in pred.items()}
    out.update(two_value_recalls(pred, truth, prefix))
    out.update(anypart_scores(pred, truth, prefix))
    return out


def two_value_recalls(pred: dict[str, np.ndarray], truth: pd.DataFrame, prefix: str
                      ) -> dict[str, float]:
    """``<prefix>/acc_<attr>_<value>``: for each attribute with two values (SynthBirds' size),
    the accuracy over the rows whose true value is ``value``, so that a miss shows which way
    it goes (2026-12-08: small birds drawn as large). An attribute is scored when its true
    values in these rows are exactly two, so colours (ten values) are left out, and so is an
    attribute whose rows all have one value."""
    out = {}
    for a, p in pred.items():
        true = truth[a].astype(str).to_numpy()
        if len(np.unique(true)) == 2:
            out.update({f"{prefix}/acc_{a}_{v}": r for v, r in value_recalls(p, true).items()})
    return out


def value_recalls(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """{value: the share of the rows whose true value is ``value`` that ``pred`` reads as it},
    for every value in ``true``."""
    pred, true = np.asarray(pred), np.asarray(true)
    return {str(v): float((pred[true == v] == v).mean()) for v in np.unique(true)}


def judged_values(judges: Judges, images: torch.Tensor) -> dict[str, np.ndarray]:
    """The attribute judge's reading of uint8 images: one value name per image and attribute."""
    probs = predict(judges.attributes, images)
    return {a: np.asarray(values)[probs[a].argmax(1)] for a, values in judges.values.items()}


def part_word_scores(pred: dict[str, np.ndarray], truth: pd.DataFrame, texts: list[str],
                     prefix: str) -> dict[str, float]:
    """``<prefix>/acc_<part>_known_word`` / ``_new_word``: the accuracy of each colour part over
    the captions that name the part with a training word / a held-out word
    (:func:`names_part_with_new_word`); a split with no caption is left out."""
    out = {}
    for part in COLOUR_SLOTS:
        if part not in pred:
            continue
        new = np.array([names_part_with_new_word(t, part) for t in texts])
        hit = pred[part] == truth[part].astype(str).to_numpy()
        for name, rows in (("known_word", ~new), ("new_word", new)):
            if rows.any():
                out[f"{prefix}/acc_{part}_{name}"] = float(hit[rows].mean())
    return out


def anypart_scores(pred: dict[str, np.ndarray], truth: pd.DataFrame, prefix: str
                   ) -> dict[str, float]:
    """``<prefix>/anypart_<part>`` (:func:`colour_anywhere`) over the colour parts in ``pred``
    (judged colour names per part); none with fewer than two such parts."""
    parts = tuple(p for p in COLOUR_SLOTS if p in pred)
    if len(parts) < 2:
        return {}
    return {f"{prefix}/anypart_{p}": v for p, v in colour_anywhere(pred, truth, parts).items()}


def seen_class_scores(g: Generator, judges: Judges, frame: pd.DataFrame, embeddings: Path,
                      n: int, seed: int, batch_size: int = 64) -> dict[str, float]:
    """``seen/acc_<attr>`` on ``n`` seeded training captions (fixed noise, CA noise off)."""
    index, speech = load_vectors(embeddings, "train_speech")
    rows = np.sort(np.random.default_rng(seed).choice(len(index), min(n, len(index)),
                                                      replace=False))
    images = generate(g, torch.from_numpy(np.asarray(speech)[rows]).float(),
                      fixed_noise(len(rows), g.cfg.z_dim, seed), batch_size)
    return judged_accuracy(judges, images, attributes_of(frame, index["id"].iloc[rows],
                                                         "caption_id"), "seen")


def diversity_score(g: Generator, speech: torch.Tensor, first: torch.Tensor, seed: int) -> float:
    """Mean |image(z) - image(z')| / 255 over captions ``speech`` whose images under the
    evaluation noise are ``first``; z' comes from ``seed``."""
    other = generate(g, speech, fixed_noise(len(speech), g.cfg.z_dim, seed))
    return noise_diversity(first.numpy(), other.numpy())


def voice_speech(texts: list[str], frontend: SpeechFrontend, speech_encoder) -> torch.Tensor:
    """SEN speech embeddings (N, E) of ``texts`` spoken by the frontend's voice (each distinct
    text synthesised once, over the frontend's workers)."""
    distinct = sorted(set(texts))
    emb = embed_fbanks(speech_encoder, frontend.text_fbanks(distinct))
    row = {t: i for i, t in enumerate(distinct)}
    return emb[[row[t] for t in texts]]


def heldout_voice_scores(g: Generator, judges: Judges, captions: pd.DataFrame, z: torch.Tensor,
                         voices: tuple[str, ...], frontend: SpeechFrontend, speech_encoder,
                         batch_size: int = 64) -> dict[str, float]:
    """``heldout_voice/acc_<attr>``: the test captions spoken by each held-out voice, judged
    with the evaluation noise ``z``; the mean over the voices."""
    truth = attribute_table(captions)
    texts = captions["text"].fillna("").tolist()
    runs = []
    for voice in voices:
        speech = voice_speech(texts, replace(frontend, voice=voice), speech_encoder)
        runs.append(judged_accuracy(judges, generate(g, speech, z, batch_size), truth,
                                    "heldout_voice"))
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]} if runs else {}


def heldout_phrasings(captions: pd.DataFrame, n: int, seed: int) -> list[str]:
    """One held-out phrasing per caption row: each class gets a seeded pool of ``n`` texts
    (:func:`heldout_pool`, classes in id order) and its k-th row reads text k mod n."""
    truth = attribute_table(captions)
    first = {cid: i for i, cid in reversed(list(enumerate(captions["class_id"])))}
    rng = np.random.default_rng(seed)
    pools = {cid: heldout_pool({k: str(v) for k, v in truth.iloc[first[cid]].items()}, n, rng)
             for cid in sorted(first)}
    seen: dict = {}
    texts = []
    for cid in captions["class_id"]:
        k = seen[cid] = seen.get(cid, -1) + 1
        texts.append(pools[cid][k % len(pools[cid])])
    return texts


def heldout_phrasing_scores(g: Generator, judges: Judges, captions: pd.DataFrame,
                            z: torch.Tensor, n: int, seed: int, frontend: SpeechFrontend,
                            speech_encoder, batch_size: int = 64
                            ) -> tuple[dict[str, float], list[str], torch.Tensor]:
    """``heldout_phrasing/acc_<attr>`` (and ``anypart``): every test caption replaced by a
    held-out phrasing of its class (:func:`heldout_phrasings`), spoken by ``frontend``'s voice,
    generated with the evaluation noise ``z``. Returns the scores, the texts and the images."""
    texts = heldout_phrasings(captions, n, seed)
    images = generate(g, voice_speech(texts, frontend, speech_encoder), z, batch_size)
    truth = attribute_table(captions)
    pred = judged_values(judges, images)     # judged once, for both kinds of score
    scores = value_scores(pred, truth, "heldout_phrasing")
    scores.update(part_word_scores(pred, truth, texts, "heldout_phrasing"))
    return scores, texts, images
