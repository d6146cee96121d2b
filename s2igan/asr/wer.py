"""Word error rate (WER): the word-level Levenshtein distance between a reference and a
hypothesis, divided by the number of reference words.

Both sides are normalised by :func:`words` first (lower case, letters / digits / apostrophes
only), so punctuation and case never count as errors. The corpus WER is the sum of the edit
distances over the sum of the reference lengths (the usual definition; not the mean of the
per-utterance rates), and can exceed 1 when the hypotheses insert many words.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

_WORD = re.compile(r"[a-z0-9']+")


def words(text: str | None) -> list[str]:
    """``"This bird's crown, RED."`` -> ``["this", "bird's", "crown", "red"]``."""
    return _WORD.findall((text or "").lower())


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Fewest substitutions + deletions + insertions turning ``ref`` into ``hyp``."""
    prev = list(range(len(hyp) + 1))  # distance of ref[:0] to hyp[:j]
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1,             # delete r
                         cur[j - 1] + 1,          # insert h
                         prev[j - 1] + (r != h))  # substitute (or match)
        prev = cur
    return prev[-1]


def word_errors(refs: Iterable[str], hyps: Iterable[str]) -> tuple[int, int]:
    """(total word edit distance, total reference words) over paired texts."""
    errors = total = 0
    for ref, hyp in zip(refs, hyps, strict=True):
        r = words(ref)
        errors += edit_distance(r, words(hyp))
        total += len(r)
    return errors, total


def wer(refs: Iterable[str], hyps: Iterable[str]) -> float:
    """Corpus WER of paired reference and hypothesis texts (nan without reference words)."""
    errors, total = word_errors(refs, hyps)
    return errors / total if total else float("nan")
