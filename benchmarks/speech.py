"""Speech front-end throughput on this machine -> reports/benchmarks/speech.json.

* TTS: steady-state x real time (audio seconds / wall seconds, model loading excluded, every
  caption distinct so dedup does not help) for Piper and espeak-ng with 1 and 2 workers.
* fbank: x real time of Kaldi filterbanks (+ utterance normalisation) on 2 torch threads.
* listening: colour words of the caption recovered by pocketsphinx, per backend (default voice).

Usage: python benchmarks/speech.py [--quick]
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import sys
import time

import numpy as np
import torch

from s2igan.io import write_json
from s2igan.speech import synth
from s2igan.speech.audio import SAMPLE_RATE, to_16k_mono
from s2igan.speech.frontend import FbankConfig, compute_fbank
from s2igan.speech.store import to_int16

COLOURS = ["red", "blue", "yellow", "black", "white", "green", "brown", "grey", "orange"]
PARTS = ["crown", "wings", "belly", "breast", "tail", "throat"]


def captions(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        c = rng.choice(COLOURS, 3, replace=False)
        p = rng.choice(PARTS, 3, replace=False)
        out.append(f"this bird has a {c[0]} {p[0]}, {c[1]} {p[1]} and a {c[2]} {p[2]}")
    return out


def tts_speed(backend: str, workers: int, n: int) -> dict:
    spec = dict(name=backend, threads=1)
    voice = synth.make_backend(**spec).voices()[0]
    jobs = [(t, voice) for t in captions(n)]
    if workers == 1:
        synth._init_worker(spec)
        synth._synthesize(("warm up", voice))
        start = time.perf_counter()
        clips = [synth._synthesize(j)[0] for j in jobs]
    else:
        with mp.get_context("fork").Pool(workers, synth._init_worker, (spec,)) as pool:
            pool.map(synth._synthesize, [("warm up", voice)] * workers, chunksize=1)
            start = time.perf_counter()
            clips = [c for c, _ in pool.imap(synth._synthesize, jobs, chunksize=2)]
    wall = time.perf_counter() - start
    audio = sum(len(c) for c in clips) / SAMPLE_RATE
    return {"clips": n, "audio_s": round(audio, 1), "wall_s": round(wall, 2),
            "x_real_time": round(audio / wall, 1), "mean_clip_s": round(audio / n, 2)}


def fbank_speed(n: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    waves = [rng.normal(0, 0.1, 3 * SAMPLE_RATE).astype(np.float32) for _ in range(n)]
    cfg = FbankConfig()
    compute_fbank(waves[0], cfg)
    start = time.perf_counter()
    for w in waves:
        compute_fbank(w, cfg)
    wall = time.perf_counter() - start
    return {"clips": n, "audio_s": 3.0 * n, "wall_s": round(wall, 2),
            "x_real_time": round(3.0 * n / wall, 1), "threads": threads}


def listening() -> dict:
    from pocketsphinx import Decoder  # optional (dev extra): only this listening check needs it

    decoder = Decoder(samprate=16000, loglevel="FATAL")
    texts = captions(6, seed=1)
    out = {}
    for name in ("piper", "espeak"):
        backend = synth.make_backend(name)
        found = total = 0
        for text in texts:
            wave = to_16k_mono(backend.synthesize(text, backend.voices()[0]), backend.sample_rate)
            decoder.start_utt()
            decoder.process_raw(to_int16(wave).tobytes(), full_utt=True)
            decoder.end_utt()
            words = set((decoder.hyp().hypstr if decoder.hyp() else "").split())
            colours = {w for w in text.replace(",", "").split() if w in COLOURS}
            found, total = found + len(colours & words), total + len(colours)
        out[name] = {"colour_words_recovered": found, "colour_words": total,
                     "recall": round(found / total, 3)}
    return out


def main(quick: bool = False) -> None:
    k = 1 if quick else 4
    result = {"machine": {"cpus": mp.cpu_count(), "processor": platform.processor() or "unknown"},
              "load_average_at_start": list(os.getloadavg()), "tts": {},
              "fbank/threads=1": fbank_speed(250 * k, 1),
              "fbank/threads=2": fbank_speed(25 * k, 2), "listening": listening()}
    for backend, n in (("piper", 10 * k), ("espeak", 60 * k)):
        for workers in (1, 2):
            result["tts"][f"{backend}/workers={workers}"] = tts_speed(backend, workers, n)
    write_json("reports/benchmarks/speech.json", result)
    print(result)


if __name__ == "__main__":
    main("--quick" in sys.argv)
