"""Phrasings held out of the SynthBirds caption grammar, for evaluation only.

Users speak in their own words. The `evaluate` stage re-phrases every unseen test class with
this second grammar (``heldout_phrasing/acc_*``): its sentence frames and several of its words
never occur in :mod:`s2igan.data.captions`: "tummy" and "underneath" for the belly, "on top of
the head" and "headed" for the crown, "winged" and "bellied", the past tense ("its head was
red"), "fellow" and "creature" for the bird, "huge" and "wee" for the size, and the frames "look
at ...", "i saw ...". :data:`HELDOUT_WORDS` lists the words and word groups that mark them;
``tests/data/test_phrasings.py`` checks that the training grammar produces none of them.

Every held-out caption mentions all four attributes (so the image's attributes are what it says).
"""

from __future__ import annotations

import re

import numpy as np

from s2igan.data.captions import COLOUR_SLOTS, SLOTS, article, distinct_draws, join_list

HELDOUT_WORDS = ("tummy", "underneath", "on top of the head", "headed", "winged", "bellied",
                 "was", "were", "fellow", "creature", "huge", "wee", "look at", "i saw")

# Per part, the held-out words that name the part itself. The other held-out forms name it with
# a word the training grammar has for it ("head", "wings"), in a new construction ("green on top
# of the head", "its wings were blue"); every held-out belly form uses a new word.
NEW_PART_WORDS = {"crown": ("headed",), "wing": ("winged",),
                  "belly": ("tummy", "underneath", "bellied")}

_SIZE = {"small": ["tiny", "little", "wee", "small"], "large": ["big", "huge", "large"]}
# per frame: the part phrases (one list per part) and the sentence around them
_FRAMES = [
    # "look at this big fellow, green on top of the head, black wings and white underneath"
    ({"crown": ["{c} on top of the head"], "wing": ["{c} wings", "{c} on the wings"],
      "belly": ["{c} underneath", "{a} {c} tummy"]},
     "look at this {sz} fellow, {parts}"),
    # "i saw a tiny bird, its head was red, its wings were blue and its tummy was yellow"
    ({"crown": ["its head was {c}"], "wing": ["its wings were {c}"],
      "belly": ["its tummy was {c}", "it was {c} underneath"]},
     "i saw {a_sz} bird, {parts}"),
    # "a huge red headed, blue winged and white bellied bird"
    ({"crown": ["{c} headed"], "wing": ["{c} winged"], "belly": ["{c} bellied"]},
     "{a_sz} {parts} bird"),
    # "a wee creature with a yellow tummy, green wings and red on top of the head"
    ({"crown": ["{c} on top of the head"], "wing": ["{c} wings"], "belly": ["{a} {c} tummy"]},
     "{a_sz} creature with {parts}"),
]


def heldout_caption(attrs: dict[str, str], rng: np.random.Generator) -> str:
    """One held-out phrasing of a bird with attributes ``attrs`` (all four are said)."""
    missing = [s for s in SLOTS if s not in attrs]
    if missing:
        raise ValueError(f"attributes lack slot(s) {missing}: {attrs}")
    parts_of, frame = _FRAMES[int(rng.integers(len(_FRAMES)))]
    order = [COLOUR_SLOTS[i] for i in rng.permutation(len(COLOUR_SLOTS))]
    phrases = []
    for slot in order:
        options = parts_of[slot]
        colour = attrs[slot]
        phrases.append(options[int(rng.integers(len(options)))].format(a=article(colour),
                                                                       c=colour))
    words = _SIZE[attrs["size"]]
    size = words[int(rng.integers(len(words)))]
    text = frame.format(parts=join_list(phrases), sz=size, a_sz=f"{article(size)} {size}")
    return text


def names_part_with_new_word(text: str, part: str) -> bool:
    """Whether held-out caption ``text`` names ``part`` with one of :data:`NEW_PART_WORDS`."""
    return any(re.search(rf"\b{w}\b", text) for w in NEW_PART_WORDS[part])


def heldout_pool(attrs: dict[str, str], size: int, rng: np.random.Generator) -> list[str]:
    """Up to ``size`` distinct held-out phrasings of one class, in draw order."""
    return distinct_draws(lambda: heldout_caption(attrs, rng), size)
