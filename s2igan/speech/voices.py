"""Seeded voice-per-caption assignment (multi-speaker synthesis).

The voice of a caption depends only on ``(seed, caption_id)`` through a hash, never on the other
captions, so adding or removing captions leaves every other caption's voice (and its cached
audio) unchanged.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Sequence


def pick_voice(caption_id: str, voices: Sequence[str], seed: int) -> str:
    digest = hashlib.sha256(f"{seed}\x00{caption_id}".encode()).digest()
    return voices[int.from_bytes(digest[:8], "little") % len(voices)]


def assign_voices(caption_ids: Iterable[str], voices: Sequence[str], seed: int,
                  multi_speaker: bool = True) -> list[str]:
    """One voice per caption: a stable seeded draw, or the first voice when single-speaker."""
    if not voices:
        raise ValueError("empty voice set")
    if not multi_speaker:
        return [voices[0] for _ in caption_ids]
    return [pick_voice(str(cid), voices, seed) for cid in caption_ids]
