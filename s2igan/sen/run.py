"""The `sen` and `embed` stages' work: load the splits, train, evaluate on test, embed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from s2igan.arrays import Ragged, load_vectors, save_vectors
from s2igan.asr.transcripts import read_transcripts, wer_metrics
from s2igan.data import manifest
from s2igan.device import resolve_device
from s2igan.distributed import is_main
from s2igan.io import BadInputError
from s2igan.sen.checkpoint import load_sen
from s2igan.sen.config import SENConfig
from s2igan.sen.data import SENSplit, available_splits, carve_validation, load_split
from s2igan.sen.evaluate import embed_images, embed_speech, evaluate_split
from s2igan.sen.text import build_vocab, caption_texts, tokens
from s2igan.sen.train import train_sen
from s2igan.sen.tsne import plot_tsne


def train_and_evaluate(frame: pd.DataFrame, fbank_dir: str | Path, features_dir: str | Path,
                       model_dir: str | Path, report_dir: str | Path, cfg: SENConfig,
                       log_step: Callable[[dict, int], None] | None = None) -> dict:
    """Train the SEN (resuming ``model_dir/last.pt``), evaluate ``best.pt`` on the test split.

    Validation = the manifest's ``val`` split when it exists and shares no class with ``test``;
    otherwise ``val_fraction`` of the training images of every training class. Test classes are
    never seen in training or model selection (fine-grained data has class-disjoint splits).

    ``sen.kind: text``: the captions' ground-truth text (the manifest's ``text``) replaces their
    filterbanks, as word ids over the training captions' vocabulary (:mod:`s2igan.sen.text`).
    """
    kind = frame.attrs.get("kind", "fine_grained")
    splits = set(available_splits(fbank_dir)) & set(available_splits(features_dir))
    if "train" not in splits:
        raise BadInputError(fbank_dir, "no `train` split in the filterbanks and features")
    train = load_split(fbank_dir, features_dir, "train")
    test = load_split(fbank_dir, features_dir, "test") if "test" in splits else None
    if "val" in splits:
        val = load_split(fbank_dir, features_dir, "val")
        if test is not None and kind == "fine_grained":
            shared = set(val.images["class_id"]) & set(test.images["class_id"])
            if shared:
                raise BadInputError(Path(features_dir) / "val.ids.parquet",
                                    f"val shares classes {sorted(shared)[:5]} with test")
    else:
        train, val = carve_validation(train, cfg.val_fraction, np.random.default_rng(cfg.seed))
    if cfg.val_captions > 0:  # cheaper model selection: the first captions of every image
        val = val.subset(np.arange(len(val.images)), cfg.val_captions)
    vocab = None
    if cfg.kind == "text":
        truth = frame.set_index(frame["caption_id"].astype(str))["text"].to_dict()
        where = "manifest.parquet"
        vocab = build_vocab(caption_texts(train.captions["id"], truth, where), cfg.text.min_count)
        train, val = (_as_tokens(s, truth, vocab, where) for s in (train, val))
        test = _as_tokens(test, truth, vocab, where) if test is not None else None
    report_dir = Path(report_dir)
    summary = train_sen(train, val, kind, cfg, model_dir, csv_path=report_dir / "loss.csv",
                        log_step=log_step, vocab=vocab)
    if not is_main():      # several processes: rank 0 evaluates and writes
        return {}
    metrics = {**summary, "train/images": len(train.images), "val/images": len(val.images)}
    if vocab is not None:
        metrics["sen/vocab_size"] = len(vocab)
    device = resolve_device(cfg.device)
    speech, image, _ = load_sen(Path(model_dir) / "best.pt", device, speech_only=True)
    if test is not None:
        scores, s_emb = evaluate_split(speech, image, test, kind, cfg.eval_batch_size, device,
                                       progress=lambda it: tqdm(it, desc="sen test", unit="batch"))
        metrics.update({f"test/{k}": v for k, v in scores.items()})
        plot_tsne(s_emb, test.captions["class_id"].to_numpy(), report_dir / "tsne.png",
                  cfg.tsne_classes, cfg.tsne_points, cfg.seed)
    return metrics


def _as_tokens(split: SENSplit, texts: dict, vocab: list[str], where: str) -> SENSplit:
    """``split`` with the word ids of its captions' ``texts`` in place of the filterbanks."""
    index = split.fbank.index
    return replace(split, fbank=tokens(caption_texts(index["id"], texts, where), index, vocab))


def embed_texts(cfg: SENConfig, prepared_dir: str | Path | None,
                transcripts_dir: str | Path | None) -> tuple[dict[str, str], dict]:
    """``sen.kind: text``: the text of every caption the `embed` stage encodes, and its metrics.

    ``sen.text.source: truth``: the manifest's captions. ``asr``: the pocketsphinx transcripts of
    the `asr` stage's cache where it has one (the splits of ``asr.splits``), the manifest's text
    elsewhere; metrics ``<split>/asr_wer`` and ``<split>/asr_wer_words`` of the transcribed
    splits (corpus WER against the manifest's text, :mod:`s2igan.asr.wer`)."""
    if prepared_dir is None:
        raise BadInputError(None, "sen.kind: text needs the prepared manifest (caption text)")
    frame = manifest.read(Path(prepared_dir) / "manifest.parquet")
    truth = frame.set_index(frame["caption_id"].astype(str))["text"]
    texts = truth.to_dict()
    metrics: dict = {"embed/text_source": cfg.text.source}
    if cfg.text.source == "asr":
        if transcripts_dir is None:
            raise BadInputError(None, "sen.text.source: asr needs the `asr` stage's transcripts")
        heard = read_transcripts(transcripts_dir)
        if heard.empty:
            raise BadInputError(Path(transcripts_dir) / "transcripts.parquet",
                                "no transcripts: run the `asr` stage with sen.kind: text and "
                                "sen.text.source: asr")
        ids = heard["caption_id"].astype(str)
        missing = sorted(set(ids) - set(truth.index))
        if missing:
            raise BadInputError(Path(transcripts_dir) / "transcripts.parquet",
                                f"caption {missing[0]!r} is not in the manifest (stale cache)")
        texts.update(zip(ids, heard["text"].fillna("").astype(str)))
        scores = wer_metrics(heard.reset_index(drop=True), truth.loc[ids].reset_index(drop=True))
        metrics.update({k.replace("/wer", "/asr_wer"): v for k, v in scores.items()})
        metrics["embed/asr_captions"] = len(heard)
    return texts, metrics


def embed_all(fbank_dir: str | Path, features_dir: str | Path, checkpoint: str | Path,
              out_dir: str | Path, batch_size: int = 128, prepared_dir: str | Path | None = None,
              transcripts_dir: str | Path | None = None) -> dict[str, int]:
    """``<split>_speech`` (captions) and ``<split>_image`` (images) embeddings into ``out_dir``;
    returns the `embed` stage's metrics: ``<split>_speech`` / ``<split>_image`` counts and the
    embedding size ``embed_dim``.

    By ``sen.kind``: ``teacher_student``'s image embedding is the backbone feature itself (its
    speech embedding has the feature's size); ``classifier`` writes no ``<split>_image`` (it has
    no image side: the RDG runs with ``rs.enabled: false``, see :func:`load_sen`); ``text``
    embeds the text of each caption (:func:`embed_texts`: ground truth or ASR transcript, from
    ``prepared_dir`` / ``transcripts_dir``) with its text encoder, as ``<split>_speech``."""
    device = resolve_device("auto")
    speech, image, cfg = load_sen(checkpoint, device, speech_only=True)
    torch.set_num_threads(cfg.threads)
    counts = {}
    texts = None
    if cfg.kind == "text":
        texts, extra = embed_texts(cfg, prepared_dir, transcripts_dir)
        counts.update(extra)
    for split in available_splits(fbank_dir):
        fbank = Ragged.load(fbank_dir, split, mmap=False)
        if texts is not None:  # the captions' text as word ids, in place of the filterbanks
            fbank = tokens(caption_texts(fbank.index["id"], texts, str(prepared_dir)),
                           fbank.index, speech.vocab)
        emb = embed_speech(speech, fbank, batch_size, device,
                           progress=lambda it, s=split: tqdm(it, desc=f"embed {s}", unit="batch"))
        cols = [c for c in ("id", "image_id", "class_id") if c in fbank.index]
        save_vectors(out_dir, f"{split}_speech", fbank.index[cols], emb)
        counts[f"{split}_speech"] = len(emb)
    for split in available_splits(features_dir) if image is not None else ():
        index, feats = load_vectors(features_dir, split)
        emb = embed_images(image, feats, device=device)
        save_vectors(out_dir, f"{split}_image", index[["id", "class_id"]], emb)
        counts[f"{split}_image"] = len(emb)
    counts["embed_dim"] = speech.proj.out_features if speech.proj is not None else cfg.embed_dim
    return counts
