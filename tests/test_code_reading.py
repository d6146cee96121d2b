"""scripts/code_reading.py: the value each attribute's arg-max column names, and the fixed-alpha
refit of the code's ridge classifier (checked against scikit-learn on standardised inputs)."""

import importlib.util
from pathlib import Path

import numpy as np
from sklearn.linear_model import Ridge

spec = importlib.util.spec_from_file_location(
    "code_reading", Path(__file__).resolve().parents[1] / "scripts" / "code_reading.py")
code_reading = importlib.util.module_from_spec(spec)
spec.loader.exec_module(code_reading)


def test_readings_take_the_arg_max_within_each_attribute():
    names = ["crown=blue", "crown=red", "size=large", "size=small", "size=tiny"]
    group = np.array([0, 0, 1, 1, 1])
    scores = np.array([[0.1, 0.9, 5.0, 0.0, 0.0],      # red; large (a high score elsewhere
                       [2.0, 1.0, 0.0, 0.2, 0.3]])     # does not leak across attributes)
    out = code_reading.readings(scores, group, names)
    assert out["crown"].tolist() == ["red", "blue"]
    assert out["size"].tolist() == ["large", "tiny"]


def test_refit_on_some_columns_equals_a_ridge_on_those_standardised_columns():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)) * np.array([1, 2, 3, 4, 5, 6]) + 3
    y = np.eye(3)[rng.integers(3, size=40)]
    mean, weight, bias = code_reading.refit(x, y, 10.0, slice(2, 5))
    assert np.all(weight[:2] == 0) and np.all(weight[5:] == 0)
    z = (x[:, 2:5] - x[:, 2:5].mean(0)) / x[:, 2:5].std(0)
    want = Ridge(alpha=10.0).fit(z, y).predict(z)
    np.testing.assert_allclose(code_reading.scores_of(x, mean, weight, bias), want, atol=1e-10)
