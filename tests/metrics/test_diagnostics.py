"""The fidelity diagnostics on tiny fixed inputs, against independent computations."""

import numpy as np
import pandas as pd
import pytest

from s2igan.metrics.diagnostics import (
    attribute_accuracy,
    attribute_probe,
    colour_anywhere,
    noise_diversity,
    part_entanglement,
)


def _clusters(rng, n_per, centres, noise):
    x = np.concatenate([c + noise * rng.normal(size=(n_per, len(c))) for c in centres])
    return x


def test_probe_reads_an_attribute_that_is_a_direction_and_not_one_that_is_not():
    # colour is encoded along axis 0 (two values), shape is pure noise: the probe must read the
    # first on unseen points and stay near chance (0.5) on the second
    rng = np.random.default_rng(0)
    centres = [np.array([3.0, 0, 0]), np.array([-3.0, 0, 0])]
    train_x, test_x = _clusters(rng, 50, centres, 0.5), _clusters(rng, 40, centres, 0.5)

    def colour(n):
        return ["red"] * n + ["blue"] * n

    train = pd.DataFrame({"colour": colour(50), "shape": rng.choice(["a", "b"], 100)})
    test = pd.DataFrame({"colour": colour(40), "shape": rng.choice(["a", "b"], 80)})
    acc = attribute_probe(train_x, train, test_x, test)
    assert acc["colour"] == 1.0
    assert 0.3 < acc["shape"] < 0.7


def test_probe_skips_an_attribute_with_one_training_value():
    x = np.eye(4)
    same = pd.DataFrame({"size": ["s"] * 4})
    acc = attribute_probe(x, same, x, same)
    assert acc == {}


def test_accuracy_counts_matches_and_refuses_mismatched_shapes():
    assert attribute_accuracy(np.array(["a", "b", "c", "d"]), np.array(["a", "x", "c", "y"])) == 0.5
    with pytest.raises(ValueError):
        attribute_accuracy(np.array(["a"]), np.array(["a", "b"]))


def test_diversity_is_the_mean_absolute_pixel_difference():
    a = np.zeros((2, 3, 4, 4), np.uint8)
    b = a.copy()
    b[0, :, :2] = 255                      # half of one of two images is white: 1/4 of all pixels
    assert noise_diversity(a, b) == pytest.approx(0.25)
    assert noise_diversity(a, a) == 0.0


def test_colour_anywhere_counts_a_colour_on_the_wrong_part_but_not_an_unspoken_one():
    truth = pd.DataFrame({"crown": ["red", "red", "blue"], "wing": ["blue", "blue", "green"],
                          "belly": ["white", "white", "red"]})
    predicted = {"crown": np.array(["red", "blue", "black"]),    # right, on wing's, unspoken
                 "wing": np.array(["white", "pink", "red"]),     # belly's, unspoken, belly's
                 "belly": np.array(["white", "white", "red"])}   # all right
    got = colour_anywhere(predicted, truth, ("crown", "wing", "belly"))
    assert got == {"crown": pytest.approx(2 / 3), "wing": pytest.approx(2 / 3), "belly": 1.0}
    # accuracy of the same predictions is lower wherever a colour sits on another part
    assert attribute_accuracy(predicted["wing"], truth["wing"].to_numpy()) == 0.0
    with pytest.raises(ValueError, match="wing"):
        colour_anywhere({**predicted, "wing": np.array(["red"])}, truth, ("crown", "wing", "belly"))


def test_part_entanglement_recovers_the_cosine_of_designed_additive_terms():
    # every combination of 2 crown x 2 wing colours x 2 sizes, x = sum of one vector per value
    # (exactly additive): the fitted terms are the designed ones, centred per attribute
    crown = {"red": np.array([1.0, 0, 0, 0]), "blue": np.array([0, 1.0, 0, 0])}
    wing = {"red": np.array([1.0, 0, 1, 0]), "blue": np.array([0, 1.0, 0, -1])}
    size = {"small": np.array([0, 0, 0, 2.0]), "large": np.zeros(4)}
    rows = [(c, w, s) for c in crown for w in wing for s in size] * 3
    x = np.array([crown[c] + wing[w] + size[s] for c, w, s in rows])
    attrs = pd.DataFrame(rows, columns=["crown", "wing", "size"])
    out = part_entanglement(x, attrs, ("crown", "wing"))

    def centred(d, k):
        return d[k] - np.mean(list(d.values()), axis=0)

    cos = [centred(crown, k) @ centred(wing, k)
           / np.linalg.norm(centred(crown, k)) / np.linalg.norm(centred(wing, k)) for k in crown]
    assert out["crown_wing"] == pytest.approx(np.mean(cos), abs=1e-9)
    assert 0.3 < out["crown_wing"] < 0.9                  # neither the same term nor orthogonal
    # the same colour words on both parts, the same vector: fully entangled
    same = np.array([crown[c] + crown[w] for c, w, _ in rows])
    assert part_entanglement(same, attrs, ("crown", "wing"))["crown_wing"] == pytest.approx(1.0)
