"""scripts/fidelity_minutes.py: steps become minutes at each profile's own step time, and the
first step at which each unseen target is met is found (checked by hand on tiny curves)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("fidelity_minutes",
                                              ROOT / "scripts" / "fidelity_minutes.py")
fm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fm)


def _row(steps, crown, wing, belly, size):
    return {"steps": steps, "train_minutes": 999.0, "unseen/acc_crown": crown,
            "unseen/acc_wing": wing, "unseen/acc_belly": belly, "unseen/acc_size": size}


ROWS = [_row(500, 0.2, 0.3, 0.61, 0.80), _row(1000, 0.5, 0.6, 0.7, 0.89),
        _row(1500, 0.65, 0.55, 0.7, 0.90)]


def test_minutes_come_from_the_given_step_time_not_the_curves_own():
    points = fm.on_minutes(ROWS, 0.3)
    assert [p["minutes"] for p in points] == pytest.approx([2.5, 5.0, 7.5])
    assert points[1]["wing"] == 0.6 and points[2]["size"] == 0.9
    with pytest.raises(ValueError, match="> 0"):
        fm.on_minutes(ROWS, 0.0)


def test_first_met_is_the_first_point_at_or_above_each_target():
    met = fm.first_met(fm.on_minutes(ROWS, 0.3))
    assert met["crown"] == {"steps": 1500, "minutes": 7.5}
    assert met["wing"] == {"steps": 1000, "minutes": 5.0}      # 0.6 counts; 0.55 later does not undo it
    assert met["belly"] == {"steps": 500, "minutes": 2.5}
    assert met["size"] == {"steps": 1500, "minutes": 7.5}      # 0.89 is not 0.9
    assert fm.first_met(fm.on_minutes(ROWS[:1], 0.3))["crown"] is None
    # all four at once: only at 1,500 steps? no: the wing fell to 0.55 there, so never
    assert fm.all_met(fm.on_minutes(ROWS, 0.3)) is None
    assert fm.all_met(fm.on_minutes(ROWS + [_row(2000, 0.6, 0.6, 0.6, 0.9)], 0.3)) == \
        {"steps": 2000, "minutes": 10.0}


def test_the_script_writes_figure_and_json_and_names_a_missing_curve(tmp_path):
    curve = tmp_path / "c.json"
    curve.write_text(json.dumps({"rows": ROWS}))
    out, js = tmp_path / "f.png", tmp_path / "f.json"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "fidelity_minutes.py"),
                          "--curve", f"narrow, lr=0.1={curve}=0.3", "--mark", "default=5",
                          "--out", str(out), "--json", str(js)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert out.stat().st_size > 0 and not list(tmp_path.glob("*.tmp*"))
    summary = json.loads(js.read_text())
    assert summary["narrow, lr=0.1"]["first_met"]["wing"] == {"minutes": 5.0, "steps": 1000}
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "fidelity_minutes.py"),
                          "--curve", f"x={tmp_path / 'nope.json'}=0.3"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode != 0 and "nope.json" in bad.stderr
