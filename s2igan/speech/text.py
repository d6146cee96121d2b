"""Caption text checks: what the TTS stage refuses to speak."""

from __future__ import annotations

import re
from pathlib import Path

from s2igan.io import BadInputError

_SPACES = re.compile(r"\s+")


MAX_TEXT_CHARS = 1000   # longest caption sent to a TTS backend (CUB captions: under 300)


def clean_text(text: str | None, where: str) -> str:
    """Collapse whitespace; refuse empty text, text without a single letter or digit, and text
    longer than :data:`MAX_TEXT_CHARS` (after collapsing whitespace).

    A caption of only punctuation or symbols gives Piper/espeak nothing to say (Piper returns no
    audio at all), so it is bad input rather than a silent clip.
    """
    if text is None or not text.strip():
        raise BadInputError(where, "empty caption text")
    text = _SPACES.sub(" ", text).strip()
    if not any(ch.isalnum() for ch in text):
        raise BadInputError(where, f"caption has no speakable characters: {text[:40]!r}")
    if len(text) > MAX_TEXT_CHARS:
        raise BadInputError(where, f"caption too long: {len(text):,} characters, more than "
                                   f"{MAX_TEXT_CHARS:,} (MAX_TEXT_CHARS): {text[:40]!r}...")
    return text


def read_caption_file(path: str | Path) -> list[str]:
    """Read a caption file (one caption per line, CUB/Oxford ``text_c10`` layout) as strict UTF-8.

    Blank lines are dropped; a file that is missing, not UTF-8 or has no caption is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "caption file not found")
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(path, f"caption file is not UTF-8 (byte {exc.start}: "
                                  f"{raw[exc.start:exc.start + 1]!r})") from None
    lines = [line.strip() for line in content.splitlines() if line.strip()]
    if not lines:
        raise BadInputError(path, "caption file has no captions")
    return lines
