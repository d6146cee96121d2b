"""Embedding whole splits with trained encoders, and the SEN retrieval evaluation.

Fine-grained data (Table VII): every spoken caption of the split queries all its images by
cosine similarity; relevant = the same class; score = mAP. Scene data: speech -> image and
image -> speech recall@1/5/10 (relevant = the caption's own image / the image's own captions),
plus the speech -> image mAP with relevant = own image.

Other systems (``sen.kind``): ``teacher_student`` is scored the same way, by the cosine of its
(unnormalised) speech embedding with the backbone feature; ``classifier`` has no image side and
is scored by speech -> speech retrieval (``speech_map``: every caption queries the split's other
captions, relevant = the same class).
"""

from __future__ import annotations

import numpy as np
import torch

from s2igan.arrays import Ragged
from s2igan.metrics.retrieval import (average_precisions, mean_average_precision, recall_at_k,
                                      relevance)
from s2igan.sen.data import SENSplit, pad_batch
from s2igan.sen.model import ImageEncoder, SpeechEncoder, TeacherImageEncoder


@torch.no_grad()
def embed_speech(encoder: SpeechEncoder, fbank: Ragged, batch_size: int = 128,
                 device: str | torch.device = "cpu", progress=None) -> np.ndarray:
    """Embeddings ``(n_captions, E)`` float32 of every caption, in the Ragged's order.

    Batches group utterances of similar length (less padding); the masked attention makes the
    result independent of the grouping.
    """
    was_training = encoder.training
    encoder.eval()
    order = np.argsort(-fbank.lengths, kind="stable")
    out = None
    starts = range(0, len(order), batch_size)
    for start in (progress(starts) if progress else starts):
        rows = order[start:start + batch_size]
        x, lengths = pad_batch(fbank, rows)
        emb = encoder(x.to(device), lengths.to(device)).float().cpu().numpy()  # (B, E)
        if out is None:
            out = np.zeros((len(order), emb.shape[1]), np.float32)
        out[rows] = emb
    encoder.train(was_training)
    return out if out is not None else np.zeros((0, 0), np.float32)


@torch.no_grad()
def embed_images(encoder: ImageEncoder, features: np.ndarray, batch_size: int = 1024,
                 device: str | torch.device = "cpu") -> np.ndarray:
    """Embeddings ``(n_images, E)`` float32 of cached image features ``(n_images, D)``."""
    was_training = encoder.training
    encoder.eval()
    chunks = [encoder(torch.from_numpy(np.asarray(features[s:s + batch_size], np.float32))
                      .to(device)).float().cpu().numpy()
              for s in range(0, len(features), batch_size)]
    encoder.train(was_training)
    if chunks:
        return np.concatenate(chunks)
    return np.zeros((0, encoder.linear.out_features if hasattr(encoder, "linear")
                     else features.shape[1]), np.float32)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def speech_retrieval_metrics(speech_emb: np.ndarray, split: SENSplit,
                             chunk: int = 1024) -> dict[str, float]:
    """``speech_map``: every caption queries the split's OTHER captions by cosine similarity,
    relevant = the same class (``queries``: captions with another caption of their class)."""
    emb = unit_rows(np.asarray(speech_emb, np.float32))
    classes = split.captions["class_id"].to_numpy()
    aps = []
    for start in range(0, len(emb), chunk):  # (chunk, n) at a time: CUB has 29k test captions
        sim = emb[start:start + chunk] @ emb.T
        rel = relevance(classes[start:start + chunk], classes)
        rows = np.arange(len(sim))
        sim[rows, start + rows] = -np.inf  # a caption does not retrieve itself
        rel[rows, start + rows] = False
        aps.append(average_precisions(sim, rel))
    aps = np.concatenate(aps) if aps else np.zeros(0)
    valid = ~np.isnan(aps)
    return {"speech_map": float(aps[valid].mean()) if valid.any() else float("nan"),
            "queries": int(valid.sum())}


def retrieval_metrics(speech_emb: np.ndarray, image_emb: np.ndarray, split: SENSplit,
                      kind: str) -> dict[str, float]:
    """Unprefixed retrieval scores of one split (see module docstring)."""
    sim = speech_emb @ image_emb.T  # (captions, images) cosine: both L2-normalised
    if kind == "fine_grained":
        rel = relevance(split.captions["class_id"].to_numpy(), split.images["class_id"].to_numpy())
        m = mean_average_precision(sim, rel)
        return {"map": m["map"], "queries": m["n_queries"], "images": len(image_emb)}
    rel = split.caption_image[:, None] == np.arange(len(image_emb))[None, :]  # (captions, images)
    out = {"map": mean_average_precision(sim, rel)["map"]}
    for k, v in recall_at_k(sim, rel, (1, 5, 10)).items():
        out[f"speech2image_r{k}"] = v
    for k, v in recall_at_k(sim.T, rel.T, (1, 5, 10)).items():
        out[f"image2speech_r{k}"] = v
    out.update(queries=len(speech_emb), images=len(image_emb))
    return out


def evaluate_split(speech: SpeechEncoder, image: ImageEncoder | None, split: SENSplit, kind: str,
                   batch_size: int = 128, device: str | torch.device = "cpu",
                   progress=None) -> tuple[dict[str, float], np.ndarray]:
    """Retrieval metrics of a split and its speech embeddings (for the t-SNE plot).
    ``image`` None (``sen.kind: classifier``): :func:`speech_retrieval_metrics`."""
    s_emb = embed_speech(speech, split.fbank, batch_size, device, progress)
    if image is None:
        return speech_retrieval_metrics(s_emb, split), s_emb
    i_emb = embed_images(image, split.features, device=device)
    if isinstance(image, TeacherImageEncoder):  # raw features: cosine = normalised dot product
        return retrieval_metrics(unit_rows(s_emb), unit_rows(i_emb), split, kind), s_emb
    return retrieval_metrics(s_emb, i_emb, split, kind), s_emb
