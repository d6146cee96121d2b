"""Seeded voice-per-caption assignment (multi-speaker synthesis).

The voice of a caption depends only on ``(seed, caption_id)`` through a hash, never on the other
captions, so adding or removing captions leaves every other caption's voice (and its cached
audio) unchanged.

With ``per_text = k > 0`` each distinct text is spoken by only ``k`` voices (a seeded subset of the
voice set drawn from the text), and a caption picks one of its text's ``k`` voices. Every voice
still speaks a share of every class, while the number of distinct (text, voice) syntheses -- the
TTS cost -- is at most ``k`` times the number of texts.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Sequence


def pick_voice(caption_id: str, voices: Sequence[str], seed: int) -> str:
    digest = hashlib.sha256(f"{seed}\x00{caption_id}".encode()).digest()
    return voices[int.from_bytes(digest[:8], "little") % len(voices)]


def text_voices(text: str, voices: Sequence[str], k: int, seed: int) -> list[str]:
    """The ``k`` voices (in set order) that speak ``text``: a seeded draw from the text alone."""
    if k <= 0 or k >= len(voices):
        return list(voices)
    keys = [hashlib.sha256(f"{seed}\x01{text}\x00{v}".encode()).digest() for v in voices]
    chosen = sorted(range(len(voices)), key=keys.__getitem__)[:k]
    return [voices[i] for i in sorted(chosen)]


def assign_voices(caption_ids: Iterable[str], voices: Sequence[str], seed: int,
                  multi_speaker: bool = True, texts: Sequence[str] | None = None,
                  per_text: int = 0) -> list[str]:
    """One voice per caption: a stable seeded draw, or the first voice when single-speaker.

    ``texts`` (aligned with ``caption_ids``) and ``per_text > 0`` restrict each caption's draw
    to its text's ``per_text`` voices (:func:`text_voices`).
    """
    if not voices:
        raise ValueError("empty voice set")
    caption_ids = list(caption_ids)
    if not multi_speaker:
        return [voices[0] for _ in caption_ids]
    if per_text <= 0 or texts is None:
        return [pick_voice(str(cid), voices, seed) for cid in caption_ids]
    if len(texts) != len(caption_ids):
        raise ValueError(f"{len(texts)} texts for {len(caption_ids)} captions")
    return [pick_voice(str(cid), text_voices(t, voices, per_text, seed), seed)
            for cid, t in zip(caption_ids, texts)]
