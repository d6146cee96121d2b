"""Speech front-end: spoken captions (``tts`` stage) and log-mel filterbanks (``fbank`` stage).

* :mod:`s2igan.speech.text`    -- caption text checks (empty, unspeakable, non-UTF-8 files)
* :mod:`s2igan.speech.audio`   -- load, validate, downmix and resample any clip to 16 kHz mono
* :mod:`s2igan.speech.tts`     -- TTS backends (Piper, espeak-ng, Coqui) behind one interface
* :mod:`s2igan.speech.voices`  -- seeded, stable voice-per-caption assignment
* :mod:`s2igan.speech.store`   -- audio shards + ``index.parquet``; :func:`listen`
* :mod:`s2igan.speech.synth`   -- the ``tts`` stage: dedup, worker pool, shards, examples
* :mod:`s2igan.speech.frontend` -- text/audio -> wave -> Kaldi fbank (Sec. III-B) -> embedding input
* :mod:`s2igan.speech.fbank`   -- the ``fbank`` stage: the front end's fbank of every clip, Ragged per split
"""

from s2igan.speech.store import listen

__all__ = ["listen"]
