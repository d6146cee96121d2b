"""Offline speech recognition for the two-stage baseline (Li et al., Table II: speech -> ASR ->
text -> text encoder -> generator): word error rate (:mod:`s2igan.asr.wer`) and the
pocketsphinx recogniser with its transcript cache (:mod:`s2igan.asr.recognize`).

Nothing here imports pocketsphinx at import time: only :func:`s2igan.asr.recognize.decoder`
does, when the `asr` stage actually transcribes (``sen.kind: text``, ``sen.text.source: asr``).
"""
