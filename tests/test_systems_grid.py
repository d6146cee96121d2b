"""scripts/systems_grid.py: the figure captions are the first caption of each of the first k
classes, in index order, and a run without a trained generator is refused with its path."""

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

spec = importlib.util.spec_from_file_location(
    "systems_grid", Path(__file__).resolve().parents[1] / "scripts" / "systems_grid.py")
systems_grid = importlib.util.module_from_spec(spec)
spec.loader.exec_module(systems_grid)


def test_first_caption_of_each_of_the_first_classes():
    index = pd.DataFrame({"id": ["a0", "a1", "b0", "a2", "c0", "b1", "d0"]})
    classes = np.array([7, 7, 3, 7, 9, 3, 1])
    assert systems_grid.pick_captions(index, classes, 3) == ["a0", "b0", "c0"]
    assert systems_grid.pick_captions(index, classes, 10) == ["a0", "b0", "c0", "d0"]


def test_a_run_is_label_and_a_trained_folder(tmp_path):
    with pytest.raises(argparse.ArgumentTypeError, match="LABEL=DIR"):
        systems_grid.parse_run(str(tmp_path))
    with pytest.raises(argparse.ArgumentTypeError, match="no models/rdg/generator.pt"):
        systems_grid.parse_run(f"S2IGAN={tmp_path}")
    (tmp_path / "models" / "rdg").mkdir(parents=True)
    (tmp_path / "models" / "rdg" / "generator.pt").write_bytes(b"")
    assert systems_grid.parse_run(f"w/o RS={tmp_path}") == ("w/o RS", tmp_path)
