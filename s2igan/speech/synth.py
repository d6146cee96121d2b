"""The ``tts`` stage: spoken captions from text captions (Sec. IV: the paper's datasets were
synthesised by a TTS system; here the backend is a switch, ``tts.backend``).

Steps: (1) captions with a real recording (manifest ``audio_path``) are header-checked and indexed
in place; (2) the others get a voice (seeded, :mod:`s2igan.speech.voices`); (3) each distinct
(text, voice) pair is synthesised once; the sorted pairs are cut into blocks of ``seed_block``,
each block reseeds the backend from (``seed``, block number) and the blocks are spread over
``workers`` processes, so the audio is the same for any worker count (Piper samples VITS noise;
unseeded, two runs gave different speech); (4) audio is resampled to 16 kHz, stored as int16
shards + ``index.parquet`` (:mod:`s2igan.speech.store`); (5) a few example clips go to
``reports/tts/examples``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from s2igan.config import at_least, one_of
from s2igan.io import BadInputError, atomic_dir, write_json
from s2igan.speech.audio import SAMPLE_RATE, probe, to_16k_mono
from s2igan.speech.skips import BadInputPolicy
from s2igan.speech.store import ClipReader, ShardWriter, to_int16, write_index
from s2igan.speech.text import clean_text
from s2igan.speech.tts import BACKENDS, make_backend
from s2igan.speech.voices import assign_voices
from s2igan.stage import worker_pool


@dataclass(frozen=True)
class TTSConfig:
    backend: str = "piper"  # piper | espeak | coqui
    voices: tuple[str, ...] = ()  # () = the backend's default voice set
    multi_speaker: bool = True
    seed: int = 0
    workers: int = 2
    seed_block: int = 100  # syntheses per reseed (Piper reloads its voice, ~2 s, per block)
    voices_per_text: int = 0  # > 0: each distinct text is spoken by this many voices (TTS cost)
    coqui_model_path: str | None = None
    coqui_config_path: str | None = None
    coqui_model_name: str | None = None
    on_bad_input: str = "error"  # error | skip
    examples: int = 4

    def __post_init__(self) -> None:
        one_of("tts.backend", self.backend, BACKENDS)
        one_of("tts.on_bad_input", self.on_bad_input, ("error", "skip"))
        for key in ("workers", "seed_block"):
            at_least(f"tts.{key}", getattr(self, key), 1)
        for key in ("voices_per_text", "examples"):
            at_least(f"tts.{key}", getattr(self, key), 0)


# -- worker side: one backend per process ----------------------------------------------------
_BACKEND = None


def _init_worker(spec: dict) -> None:
    global _BACKEND
    import torch

    torch.set_num_threads(1)
    _BACKEND = make_backend(**spec)


def _synthesize(job: tuple[str, str]) -> tuple[np.ndarray, str]:
    """(text, voice) -> (int16 16 kHz clip, error message or "")."""
    text, voice = job
    try:
        wave = _BACKEND.synthesize(text, voice)
    except Exception as exc:  # a backend failure on one caption is reported, not a crash
        return np.zeros(0, np.int16), f"synthesis failed ({type(exc).__name__}: {exc})"
    wave = to_16k_mono(wave, _BACKEND.sample_rate)
    if len(wave) == 0 or not np.all(np.isfinite(wave)) or not np.any(wave):
        return np.zeros(0, np.int16), "synthesis produced no usable audio"
    return to_int16(wave), ""


def _synthesize_block(block: tuple[int, list[tuple[str, str]]]) -> list[tuple[np.ndarray, str]]:
    seed, jobs = block
    _BACKEND.reseed(seed)
    return [_synthesize(job) for job in jobs]


def _blocks(jobs: list[tuple[str, str]], size: int, seed: int):
    """Consecutive blocks of ``size`` jobs, each with a seed drawn from (``seed``, block number)."""
    for number, start in enumerate(range(0, len(jobs), size)):
        block_seed = int(np.random.SeedSequence([seed, number]).generate_state(1)[0])
        yield block_seed, jobs[start:start + size]


def _run_jobs(jobs: list[tuple[str, str]], spec: dict, workers: int, seed: int, block: int):
    """Yield results in job order; ``workers <= 1`` runs in this process."""
    blocks = list(_blocks(jobs, max(1, block), seed))
    if workers <= 1 or len(blocks) < 2:
        _init_worker(spec)
        for results in map(_synthesize_block, blocks):
            yield from results
        return
    with worker_pool(min(workers, len(blocks)), _init_worker, (spec,)) as pool:
        for results in pool.imap(_synthesize_block, blocks):
            yield from results


# -- the stage -------------------------------------------------------------------------------
def run_tts(frame: pd.DataFrame, out_dir: str | Path, report_dir: str | Path, cfg: TTSConfig,
            tts_home: str | Path | None = None) -> dict[str, float]:
    """Synthesise/index every caption of the manifest ``frame`` into ``out_dir``; return metrics.

    Writes ``out_dir`` and ``report_dir/examples`` atomically and ``report_dir/skipped.json``.
    Raises :class:`BadInputError` on the first bad caption when ``on_bad_input`` is ``error``.
    """
    policy = BadInputPolicy(cfg.on_bad_input)
    report_dir = Path(report_dir)
    spec = dict(name=cfg.backend, threads=1, coqui_model_path=cfg.coqui_model_path,
                coqui_config_path=cfg.coqui_config_path, coqui_model_name=cfg.coqui_model_name,
                tts_home=tts_home)
    real = frame[frame["audio_path"].notna()]
    spoken = frame[frame["audio_path"].isna()]
    rows: list[dict] = []
    for r in real.itertuples():
        try:
            rate, frames = probe(r.audio_path)
        except BadInputError as err:
            policy.handle(r.caption_id, err)
            continue
        rows.append(dict(caption_id=r.caption_id, source="real", shard="", start=0,
                         length=frames, path=str(r.audio_path), voice="",
                         text=r.text if isinstance(r.text, str) else "", sample_rate=rate))

    texts: dict[str, str] = {}
    for r in spoken.itertuples():
        try:
            texts[r.caption_id] = clean_text(r.text, f"manifest caption {r.caption_id!r}")
        except BadInputError as err:
            policy.handle(r.caption_id, err)
    synth_seconds = synth_wall = 0.0
    unique = 0
    with atomic_dir(out_dir) as tmp:
        if texts:
            backend = make_backend(**spec)  # fails fast (e.g. a missing Coqui model)
            voice_set = list(cfg.voices) or backend.voices()
            for voice in voice_set:
                backend.check_voice(voice)
            ids = sorted(texts)
            voices = assign_voices(ids, voice_set, cfg.seed, cfg.multi_speaker,
                                   [texts[c] for c in ids], cfg.voices_per_text)
            jobs = sorted({(texts[c], v) for c, v in zip(ids, voices)})
            unique = len(jobs)
            writer, where = ShardWriter(tmp), {}
            start = time.perf_counter()
            results = _run_jobs(jobs, spec, cfg.workers, cfg.seed, cfg.seed_block)
            for job, (clip, error) in tqdm(zip(jobs, results), total=len(jobs),
                                           desc=f"tts ({cfg.backend})", unit="clip"):
                if error:
                    where[job] = error
                    continue
                where[job] = writer.add(clip)
                synth_seconds += len(clip) / SAMPLE_RATE
            writer.flush()
            synth_wall = time.perf_counter() - start
            for cid, voice in zip(ids, voices):
                loc = where[(texts[cid], voice)]
                if isinstance(loc, str):
                    policy.handle(cid, BadInputError(f"manifest caption {cid!r}",
                                                     f"{loc}; text {texts[cid][:60]!r}"))
                    continue
                shard, offset, length = loc
                rows.append(dict(caption_id=cid, source="tts", shard=shard, start=offset,
                                 length=length, path="", voice=voice, text=texts[cid],
                                 sample_rate=SAMPLE_RATE))
        if not rows:
            raise BadInputError(None, "no usable caption left: every caption was skipped")
        rows.sort(key=lambda row: row["caption_id"])
        index = write_index(tmp, rows)
        examples = _write_examples(tmp, index, report_dir / "examples", cfg.examples)
    policy.write(report_dir / "skipped.json")
    return {
        "tts/captions": len(index),
        "tts/real_clips": int((index["source"] == "real").sum()),
        "tts/unique_syntheses": unique,
        "tts/skipped": len(policy.skipped),
        "tts/audio_seconds": round(synth_seconds, 2),
        "time/synthesis_seconds": round(synth_wall, 2),
        "tts/x_real_time": round(synth_seconds / synth_wall, 2) if synth_wall > 0 else 0.0,
        "tts/examples": examples,
    }


def _write_examples(speech_dir: Path, index: pd.DataFrame, target: Path, count: int) -> int:
    """Evenly spaced example clips as WAV + ``texts.json`` (caption id, voice, text)."""
    picks = index.iloc[np.linspace(0, len(index) - 1, min(count, len(index))).round().astype(int)]
    picks = picks.drop_duplicates("caption_id") if count > 0 else index.iloc[:0]
    reader, texts = ClipReader(speech_dir), []
    with atomic_dir(target) as tmp:
        for row in picks.itertuples():
            try:
                wave = reader(row)
            except BadInputError:  # a bad real recording: the fbank stage reports it
                continue
            name = f"example_{len(texts):02d}.wav"
            sf.write(tmp / name, wave, SAMPLE_RATE, subtype="PCM_16", format="WAV")
            texts.append({"file": name, "caption_id": row.caption_id, "voice": row.voice,
                          "text": row.text, "source": row.source})
        write_json(tmp / "texts.json", texts)
    return len(texts)
