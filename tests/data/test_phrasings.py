"""The held-out phrasing grammar: disjoint from the training grammar, and truthful."""

from __future__ import annotations

import re

import numpy as np
import pytest

from s2igan.data.captions import GRAMMARS, SLOTS, caption
from s2igan.data.phrasings import (HELDOUT_WORDS, NEW_PART_WORDS, heldout_caption,
                                   heldout_pool, names_part_with_new_word)
from s2igan.data.synthbirds import PALETTE, SIZES

COLOURS = list(PALETTE)
_COL = "|".join(COLOURS)
_MARKERS = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in HELDOUT_WORDS) + r")\b")


def _attrs(rng):
    attrs = {s: str(rng.choice(COLOURS)) for s in ("crown", "wing", "belly")}
    attrs["size"] = str(rng.choice(SIZES))
    return attrs


@pytest.mark.parametrize("grammar", sorted(GRAMMARS))
def test_training_grammar_never_uses_a_heldout_word(grammar):
    rng = np.random.default_rng(0)
    for _ in range(3000):
        text, _ = caption(_attrs(rng), rng, omit_prob=0.3, grammar=grammar)
        assert not _MARKERS.search(text), text


def _said(text: str) -> dict[str, set[str]]:
    """Independent reading of a held-out caption: the colour said of each part, and the size."""
    parts = {"crown": [r"({c}) on top of the head", r"its head was ({c})", r"({c}) headed"],
             "wing": [r"({c}) wings", r"({c}) on the wings", r"its wings were ({c})",
                      r"({c}) winged"],
             "belly": [r"({c}) underneath", r"({c}) tummy", r"its tummy was ({c})",
                       r"({c}) bellied"]}
    said = {slot: {m for p in pats for m in re.findall(rf"\b{p.format(c=_COL)}\b", text)}
            for slot, pats in parts.items()}
    said["size"] = ({"small" for w in ("tiny", "little", "wee", "small") if f" {w} " in text}
                    | {"large" for w in ("big", "huge", "large") if f" {w} " in text})
    return said


def test_heldout_captions_say_all_four_true_attributes():
    rng = np.random.default_rng(1)
    frames = set()
    for _ in range(800):
        attrs = _attrs(rng)
        text = heldout_caption(attrs, rng)
        assert re.fullmatch(r"[a-z ,]+", text), text
        assert _MARKERS.search(text), text
        assert _said(text) == {s: {attrs[s]} for s in SLOTS}, (text, attrs)
        assert len(re.findall(rf"\b(?:{_COL})\b", text)) == 3, text
        frames.add(text.split()[0] + ("creature" in text) * " creature")
    assert len(frames) == 4, frames


def test_heldout_pool_is_distinct_and_seeded():
    attrs = {"crown": "red", "wing": "blue", "belly": "yellow", "size": "small"}
    pool = heldout_pool(attrs, 5, np.random.default_rng(2))
    assert len(pool) == len(set(pool)) == 5
    assert pool == heldout_pool(attrs, 5, np.random.default_rng(2))
    assert pool != heldout_pool(attrs, 5, np.random.default_rng(3))


def test_new_part_words_are_held_out_and_split_the_crown_and_wing_forms():
    assert {w for words in NEW_PART_WORDS.values() for w in words} <= set(HELDOUT_WORDS)
    rng = np.random.default_rng(4)
    new = {part: set() for part in NEW_PART_WORDS}
    for _ in range(400):
        text = heldout_caption(_attrs(rng), rng)
        for part in new:
            new[part].add(names_part_with_new_word(text, part))
    assert new == {"crown": {True, False}, "wing": {True, False}, "belly": {True}}
    assert names_part_with_new_word("a huge red headed, blue winged and white bellied bird", "wing")
    assert not names_part_with_new_word("i saw a wee bird, its wings were blue", "wing")
