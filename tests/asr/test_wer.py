"""Word error rate: hand-made examples, and the edit distance against the recursive definition."""

import functools
import itertools
import math

import pytest

from s2igan.asr.wer import edit_distance, wer, word_errors, words


def test_words_normalise_case_and_punctuation():
    assert words("This bird's crown is RED, its wings: blue.") == \
        ["this", "bird's", "crown", "is", "red", "its", "wings", "blue"]
    assert words("") == words(None) == []


@pytest.mark.parametrize("ref, hyp, distance", [
    ("a red bird", "a red bird", 0),
    ("a red bird", "a blue bird", 1),             # one substitution
    ("a red bird", "a bird", 1),                  # one deletion
    ("a red bird", "a red red bird", 1),          # one insertion
    ("a red bird", "", 3),                        # everything deleted
    ("", "a bird", 2),                            # everything inserted
    ("the bird has blue wings", "bird has the blue wing", 3),  # del the, ins the, sub wing
    ("kitten", "sitting", 1),                     # one word each: one substitution
])
def test_edit_distance_by_hand(ref, hyp, distance):
    assert edit_distance(words(ref), words(hyp)) == distance


def _recursive(ref, hyp):
    """The textbook recursive definition (exponential without the cache): an independent
    check of the row-by-row dynamic programme."""
    @functools.lru_cache(maxsize=None)
    def d(i, j):
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (ref[i - 1] != hyp[j - 1]))
    return d(len(ref), len(hyp))


def test_edit_distance_against_the_recursive_definition():
    vocab = ["a", "b", "c"]
    for n, m in [(0, 2), (2, 3), (3, 3), (4, 2)]:
        for ref in itertools.product(vocab, repeat=n):
            for hyp in itertools.product(vocab, repeat=m):
                assert edit_distance(ref, hyp) == _recursive(ref, hyp), (ref, hyp)


def test_corpus_wer_pools_errors_over_reference_words():
    refs = ["a red bird", "this bird has blue wings"]      # 3 + 5 reference words
    hyps = ["a bird", "this bird has blue wings and"]      # 1 deletion + 1 insertion
    assert word_errors(refs, hyps) == (2, 8)
    assert wer(refs, hyps) == pytest.approx(2 / 8)         # not the mean of 1/3 and 1/5
    assert wer(["a bird"], ["the the the bird bird"]) == pytest.approx(2.0)  # may exceed 1
    assert math.isnan(wer([""], ["a"]))
    with pytest.raises(ValueError):
        wer(["a"], ["a", "b"])                               # unpaired lists are refused
