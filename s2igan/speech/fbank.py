"""The ``fbank`` stage: 40 log-mel filterbank energies, 25 ms Hamming window, 10 ms shift
(Sec. III-B, the speech encoder's input), Kaldi-compatible via ``torchaudio.compliance.kaldi``.

Each caption's clip (synthesised shard segment or real recording, 16 kHz mono) becomes a
``(T, num_mel_bins)`` float32 matrix. With ``normalize: utterance`` every mel channel is
standardised over the utterance's frames (mean 0, std 1 over time), as the official S2IGAN code
does. ``max_frames`` keeps only the first ``max_frames`` frames of longer clips (normalisation
uses the kept frames); truncated clips are counted. Output: one
:class:`~s2igan.arrays.Ragged` per split in ``data/fbank`` with index columns ``id``
(= caption_id), ``image_id``, ``class_id``, ``n_frames``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torchaudio.compliance import kaldi
from tqdm import tqdm

from s2igan.arrays import Ragged
from s2igan.data.manifest import SPLITS
from s2igan.io import BadInputError, atomic_dir
from s2igan.speech.audio import SAMPLE_RATE
from s2igan.speech.skips import BadInputPolicy
from s2igan.speech.store import ClipReader, read_index

NORMALIZE = ("utterance", "none")


@dataclass(frozen=True)
class FbankConfig:
    num_mel_bins: int = 40
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    normalize: str = "utterance"  # utterance | none
    max_frames: int | None = 1024  # None = keep every frame
    on_bad_input: str = "error"  # error | skip
    threads: int = 1  # torch threads; clips are small, so more threads only add sync cost

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZE:
            raise ValueError(f"fbank.normalize must be one of {NORMALIZE}, got {self.normalize!r}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError("fbank.max_frames must be >= 1 or null")


def compute_fbank(wave: np.ndarray, cfg: FbankConfig) -> np.ndarray:
    """(N,) 16 kHz float32 in [-1, 1] -> (T, num_mel_bins) float32 log-mel energies.

    Kaldi conventions: samples scaled to the int16 range, no dither (deterministic), no energy
    term, power spectrum, Hamming window, DC offset removal and pre-emphasis 0.97 (defaults).
    """
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None] * 32768.0  # (1, N)
    feats = kaldi.fbank(x, num_mel_bins=cfg.num_mel_bins, frame_length=cfg.frame_length_ms,
                        frame_shift=cfg.frame_shift_ms, window_type="hamming", dither=0.0,
                        sample_frequency=SAMPLE_RATE, use_energy=False)  # (T, C)
    if cfg.max_frames is not None:
        feats = feats[: cfg.max_frames]
    if cfg.normalize == "utterance":
        mean = feats.mean(dim=0, keepdim=True)  # (1, C)
        std = feats.std(dim=0, unbiased=False, keepdim=True)  # (1, C)
        feats = (feats - mean) / (std + 1e-5)
    return feats.numpy().astype(np.float32, copy=False)


def run_fbank(frame: pd.DataFrame, speech_dir: str | Path, out_dir: str | Path, cfg: FbankConfig,
              policy: BadInputPolicy | None = None) -> dict[str, float]:
    """Filterbanks of every spoken caption of the manifest ``frame``, one Ragged per split."""
    torch.set_num_threads(cfg.threads)
    policy = policy or BadInputPolicy(cfg.on_bad_input)
    index = read_index(speech_dir)
    table = frame[["caption_id", "image_id", "class_id", "split"]].merge(
        index, on="caption_id", how="inner", validate="one_to_one")
    reader = ClipReader(speech_dir)
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
