"""scripts/text_rows.py: rows of generated images stacked under their texts, enlarged."""

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

spec = importlib.util.spec_from_file_location(
    "text_rows", Path(__file__).resolve().parents[1] / "scripts" / "text_rows.py")
text_rows = importlib.util.module_from_spec(spec)
spec.loader.exec_module(text_rows)


def test_rows_are_enlarged_in_order_under_their_labels():
    red = Image.new("RGB", (8, 2), (255, 0, 0))
    blue = Image.new("RGB", (6, 2), (0, 0, 255))
    sheet = np.asarray(text_rows.text_rows([("a red one", red), ("a blue one", blue)], scale=3))
    label = text_rows.LABEL
    assert sheet.shape == (2 * label + 12, 24, 3)
    assert (sheet[label:label + 6, :24] == [255, 0, 0]).all()
    assert (sheet[2 * label + 6:, :18] == [0, 0, 255]).all()
    assert (sheet[2 * label + 6:, 18:] == 255).all()                # narrower row: white margin
    assert (sheet[:label] < 128).any() and (sheet[label + 6:2 * label + 6] < 128).any()  # text
