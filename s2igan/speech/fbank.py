"""The ``fbank`` stage: the filterbank of :mod:`s2igan.speech.frontend` (40 log-mel energies,
25 ms Hamming window, 10 ms shift; Sec. III-B) of every spoken caption.

Each caption's clip (synthesised shard segment or real recording, 16 kHz mono) becomes a
``(T, num_mel_bins)`` float32 matrix (:func:`~s2igan.speech.frontend.compute_fbank`, the same
function that serves generation and evaluation); truncated clips are counted. A real recording is
read only as far as ``max_frames`` needs (``FbankConfig.max_samples``), so ``fbank/audio_seconds``
counts the audio read. Output: one
:class:`~s2igan.arrays.Ragged` per split in ``data/fbank`` with index columns ``id``
(= caption_id), ``image_id``, ``class_id``, ``n_frames``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from s2igan.arrays import Ragged
from s2igan.data.manifest import SPLITS
from s2igan.io import BadInputError, atomic_dir
from s2igan.speech.audio import SAMPLE_RATE
from s2igan.speech.frontend import FbankConfig, compute_fbank
from s2igan.speech.skips import BadInputPolicy
from s2igan.speech.store import ClipReader, read_index

def run_fbank(frame: pd.DataFrame, speech_dir: str | Path, out_dir: str | Path, cfg: FbankConfig,
              policy: BadInputPolicy | None = None) -> dict[str, float]:
    """Filterbanks of every spoken caption of the manifest ``frame``, one Ragged per split."""
    torch.set_num_threads(cfg.threads)
    policy = policy or BadInputPolicy(cfg.on_bad_input)
    index = read_index(speech_dir)
    table = frame[["caption_id", "image_id", "class_id", "split"]].merge(
        index, on="caption_id", how="inner", validate="one_to_one")
    reader = ClipReader(speech_dir, cfg.max_samples)   # clips are read only as far as max_frames
    window = int(SAMPLE_RATE * cfg.frame_length_ms / 1000)
    metrics: dict[str, float] = {"fbank/captions_without_speech": len(frame) - len(table)}
    audio_seconds = truncated = 0.0
    start = time.perf_counter()
    with atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            part = table[table["split"] == split].sort_values("caption_id")
            if part.empty:
                continue
            feats, keep = [], []
            for row in tqdm(part.itertuples(), total=len(part), desc=f"fbank {split}", unit="utt"):
                try:
                    wave = reader(row)
                    if len(wave) < window:
                        raise BadInputError(row.path or row.shard, "clip shorter than one window")
                except BadInputError as err:
                    policy.handle(row.caption_id, err)
                    continue
                full_frames = 1 + (len(wave) - window) // int(SAMPLE_RATE * cfg.frame_shift_ms / 1000)
                truncated += cfg.max_frames is not None and full_frames > cfg.max_frames
                audio_seconds += len(wave) / SAMPLE_RATE
                feats.append(compute_fbank(wave, cfg))
                keep.append(row)
            metrics[f"fbank/{split}/utterances"] = len(feats)
            if not feats:  # every clip of the split was skipped: the split is left out
                continue
            ids = pd.DataFrame({"id": [r.caption_id for r in keep],
                                "image_id": [r.image_id for r in keep],
                                "class_id": np.array([r.class_id for r in keep], dtype=np.int64),
                                "n_frames": np.array([len(f) for f in feats], dtype=np.int64)})
            ragged = Ragged.from_list(feats, ids)
            ragged.save(tmp, split)
            metrics[f"fbank/{split}/mean_frames"] = round(float(ragged.lengths.mean()), 2)
        if not any(tmp.glob("*.npy")):
            raise BadInputError(speech_dir, "no usable utterance left (all skipped)")
    wall = time.perf_counter() - start
    metrics.update({"fbank/truncated": int(truncated), "fbank/skipped": len(policy.skipped),
                    "fbank/audio_seconds": round(audio_seconds, 2),
                    "time/fbank_seconds": round(wall, 2),
                    "fbank/x_real_time": round(audio_seconds / wall, 1) if wall > 0 else 0.0})
    return metrics
