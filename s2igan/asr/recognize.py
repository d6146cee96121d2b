"""The `asr` stage's work: transcribe spoken captions with pocketsphinx (offline, the US-English
acoustic model, dictionary and language model bundled in the PyPI package) into a transcript
cache, ``data/transcripts/transcripts.parquet`` (columns ``caption_id``, ``split``, ``text``).

Only the splits of ``asr.splits`` are transcribed (default: ``test``): the two-stage baseline's
text-to-image side is trained on ground-truth text, as Li et al.'s cascade, and ASR text replaces
the text of the evaluation captions only. Identical clips (the TTS stage stores each distinct
(text, voice) once) are decoded once. ``asr.workers`` processes decode in parallel, each with its
own decoder. Unless ``sen.kind: text`` with ``sen.text.source: asr`` the stage writes an empty
cache and never imports pocketsphinx.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from s2igan.asr.transcripts import COLUMNS, TRANSCRIPTS, wer_metrics
from s2igan.config import at_least, one_of
from s2igan.io import BadInputError, atomic_dir
from s2igan.speech.audio import SAMPLE_RATE
from s2igan.speech.skips import BadInputPolicy
from s2igan.speech.store import ClipReader, read_index, to_int16
from s2igan.stage import worker_pool

@dataclass(frozen=True)
class ASRConfig:
    """params.yaml section ``asr`` (used when ``sen.kind: text`` and ``sen.text.source: asr``)."""

    splits: tuple[str, ...] = ("test",)  # splits whose captions are transcribed
    workers: int = 2                     # decoding processes (1: in this process)
    on_bad_input: str = "error"          # error | skip (skipped clips get an empty transcript)

    def __post_init__(self) -> None:
        at_least("asr.workers", self.workers, 1)
        one_of("asr.on_bad_input", self.on_bad_input, ("error", "skip"))
        for split in self.splits:
            one_of("asr.splits[]", split, ("train", "val", "test"))


def decoder():
    """A pocketsphinx decoder with the package's bundled English models, 16 kHz input."""
    from pocketsphinx import Decoder  # optional extra `asr`: only this system needs it
    return Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")


def transcribe(dec, wave: np.ndarray) -> str:
    """Best hypothesis (lower-case words, "" when nothing is recognised) of a 16 kHz float wave."""
    dec.start_utt()
    dec.process_raw(to_int16(wave).tobytes(), full_utt=True)
    dec.end_utt()
    hyp = dec.hyp()
    return hyp.hypstr.strip() if hyp is not None else ""


_WORKER: dict = {}


def _init_worker(speech_dir: str) -> None:
    _WORKER["reader"] = ClipReader(speech_dir)
    _WORKER["decoder"] = decoder()


def _decode_row(row: dict) -> tuple[int, str, float, tuple[str, str] | None]:
    """(row number, transcript, seconds of audio, (path, problem) of a bad clip or None);
    errors travel as strings (a BadInputError does not survive pickling)."""
    try:
        wave = _WORKER["reader"](pd.Series(row))
    except BadInputError as err:
        return row["row"], "", 0.0, (err.path or "", err.problem)
    return row["row"], transcribe(_WORKER["decoder"], wave), len(wave) / SAMPLE_RATE, None


def run_asr(frame: pd.DataFrame, speech_dir: str | Path, out_dir: str | Path, cfg: ASRConfig,
            active: bool, policy: BadInputPolicy | None = None) -> dict[str, float]:
    """Write the transcript cache of the manifest ``frame``'s captions in ``cfg.splits`` to
    ``out_dir`` and return the stage's metrics (``<split>/wer`` against the manifest text).
    ``active`` False: an empty cache, ``asr/active`` 0."""
    policy = policy or BadInputPolicy(cfg.on_bad_input)
    if not active:
        with atomic_dir(out_dir) as tmp:
            pd.DataFrame(columns=COLUMNS, dtype=str).to_parquet(tmp / TRANSCRIPTS, index=False)
        return {"asr/active": 0, "asr/captions": 0}
    index = read_index(speech_dir)
    table = (frame.loc[frame["split"].isin(cfg.splits), ["caption_id", "split", "text"]]
             .rename(columns={"text": "truth"})
             .merge(index.drop(columns=["text"]), on="caption_id", how="inner",
                    validate="one_to_one").sort_values("caption_id").reset_index(drop=True))
    # one decode per distinct clip: TTS clips by shard segment, real recordings by path
    key = table["shard"].astype(str) + ":" + table["start"].astype(str) + ":" + \
        table["length"].astype(str) + ":" + table["path"].astype(str)
    first = ~key.duplicated()
    jobs = [dict(r, row=i) for i, r in zip(np.flatnonzero(first),
                                           table.loc[first].to_dict("records"))]
    hyps: dict[int, str] = {}
    seconds = 0.0
    start = time.perf_counter()
    bar = tqdm(total=len(jobs), desc="asr", unit="clip")
    if cfg.workers == 1 or len(jobs) < 2:
        _init_worker(str(speech_dir))
        results = map(_decode_row, jobs)
        pool = None
    else:
        pool = worker_pool(cfg.workers, _init_worker, (str(speech_dir),))
        results = pool.imap_unordered(_decode_row, jobs, chunksize=4)
    try:
        for row, text, secs, bad in results:
            bar.update()
            if bad is not None:
                policy.handle(table.at[row, "caption_id"], BadInputError(*bad))
            hyps[row] = text
            seconds += secs
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
    wall = time.perf_counter() - start
    table["text"] = key.map({key[r]: t for r, t in hyps.items()}).fillna("")
    with atomic_dir(out_dir) as tmp:
        table[COLUMNS].to_parquet(tmp / TRANSCRIPTS, index=False)
    metrics: dict[str, float] = {
        "asr/active": 1, "asr/captions": len(table), "asr/clips": len(jobs),
        "asr/skipped": len(policy.skipped), "asr/workers": cfg.workers,
        "asr/audio_seconds": round(seconds, 2), "time/asr_seconds": round(wall, 2),
        "asr/x_real_time": round(seconds / wall, 2) if wall > 0 else 0.0}
    metrics.update(wer_metrics(table, table["truth"]))
    return metrics
