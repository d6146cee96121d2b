"""scripts/judge_spread.py: its judge list is read as SEED:WIDTH pairs and a malformed one is
refused by name."""

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location(
    "judge_spread", Path(__file__).resolve().parents[1] / "scripts" / "judge_spread.py")
judge_spread = importlib.util.module_from_spec(spec)
spec.loader.exec_module(judge_spread)


def test_judge_variants_are_seed_width_pairs():
    assert judge_spread.judge_variants(["1:16", "2:32"]) == [(1, 16), (2, 32)]


@pytest.mark.parametrize("spec", ["1", "1:", ":16", "a:16", "1:0", "1:-4"])
def test_a_malformed_judge_is_refused_by_name(spec):
    with pytest.raises(SystemExit, match=f"--judges '{spec}'"):
        judge_spread.judge_variants([spec])
