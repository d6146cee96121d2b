"""#9's trade-off in one figure: unseen-class attribute accuracy of the generated birds against
training minutes, one line per generator profile, from the curves of `scripts/fidelity_curve.py`.

The curves ran on different machines and beside different jobs, so their own ``train_minutes``
are not comparable (the wide generator's curve ran on a faster machine than the narrow one's).
Minutes here are steps times one step time per profile, measured for all profiles in one run,
alternating, on one idle 2-core machine (the third part of each ``--curve``; the timings of
docs/fidelity.md "A wider 64 px branch"), so that the profiles share one time axis. The JSON
beside the figure lists, per profile, the first scored step at which each unseen target (colour
>= 0.6, size >= 0.9) is met, the first at which all four are met at once, and their minutes.

usage: python scripts/fidelity_minutes.py --curve LABEL=PATH=SECONDS_PER_STEP [...]
           [--out docs/fidelity_minutes.png] [--json reports/curves/fidelity_minutes.json]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)

from s2igan.io import atomic_path, write_json  # noqa: E402

ATTRIBUTES = ("crown", "wing", "belly", "size")
TARGETS = {"crown": 0.6, "wing": 0.6, "belly": 0.6, "size": 0.9}     # #9, unseen classes


def on_minutes(rows: list[dict], seconds_per_step: float) -> list[dict]:
    """Each curve row with ``minutes`` = steps x seconds_per_step / 60 and its unseen scores."""
    if seconds_per_step <= 0:
        raise ValueError(f"seconds per step must be > 0, got {seconds_per_step}")
    return [{"steps": r["steps"], "minutes": r["steps"] * seconds_per_step / 60.0,
             **{a: r[f"unseen/acc_{a}"] for a in ATTRIBUTES}} for r in rows]


def _first(points: list[dict], holds) -> dict | None:
    """(steps, minutes) of the first point for which ``holds(point)``, or None."""
    hit = next((p for p in points if holds(p)), None)
    return None if hit is None else {"steps": hit["steps"], "minutes": round(hit["minutes"], 1)}


def first_met(points: list[dict]) -> dict:
    """Per attribute, the first point (steps, minutes) at or above its target, or None."""
    return {a: _first(points, lambda p, a=a: p[a] >= TARGETS[a]) for a in ATTRIBUTES}


def all_met(points: list[dict]) -> dict | None:
    """The first point (steps, minutes) at which every unseen target holds at once, or None."""
    return _first(points, lambda p: all(p[a] >= TARGETS[a] for a in ATTRIBUTES))


def parse_curve(spec: str) -> tuple[str, Path, float]:
    parts = spec.rsplit("=", 2)
    if len(parts) != 3:
        raise SystemExit(f"--curve {spec!r}: expected LABEL=PATH=SECONDS_PER_STEP")
    label, path, seconds = parts
    if not Path(path).is_file():
        raise SystemExit(f"--curve {spec!r}: no curve file {path}")
    return label, Path(path), float(seconds)


def plot(curves: dict[str, list[dict]], path: Path, marks: dict[str, float]) -> None:
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4), sharey=True)
    for ax, a in zip(axes, ATTRIBUTES):
        for k, (label, points) in enumerate(curves.items()):
            ax.plot([p["minutes"] for p in points], [p[a] for p in points], "-o", ms=3,
                    color=f"C{k}", label=label)
        ax.axhline(TARGETS[a], color="black", lw=0.8, ls=":")
        for name, minutes in marks.items():
            ax.axvline(minutes, color="grey", lw=0.8, ls="--")
            ax.text(minutes, 0.03, f" {name}", rotation=90, fontsize=7, color="grey",
                    va="bottom")
        ax.set(title=f"unseen {a}", xlabel="training minutes", ylim=(0, 1))
    axes[0].set_ylabel("attribute accuracy (judge)")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--curve", action="append", required=True,
                    help="LABEL=PATH=SECONDS_PER_STEP (repeat for each profile)")
    ap.add_argument("--mark", action="append", default=[],
                    help="NAME=MINUTES: a vertical line, e.g. the default's training time")
    ap.add_argument("--out", type=Path, default=Path("docs/fidelity_minutes.png"))
    ap.add_argument("--json", type=Path, default=Path("reports/curves/fidelity_minutes.json"))
    args = ap.parse_args()
    curves, summary = {}, {}
    for spec in args.curve:
        label, path, seconds = parse_curve(spec)
        points = on_minutes(json.loads(path.read_text())["rows"], seconds)
        curves[label] = points
        summary[label] = {"curve": str(path), "seconds_per_step": seconds,
                          "first_met": first_met(points), "all_met": all_met(points),
                          "points": points}
    marks = {}
    for item in args.mark:
        name, _, minutes = item.rpartition("=")
        marks[name] = float(minutes)
    plot(curves, args.out, marks)
    write_json(args.json, summary)
    for label, s in summary.items():
        met = [f"{a} not met" if m is None else f"{a} {m['steps']} steps ({m['minutes']} min)"
               for a, m in s["first_met"].items()]
        both = s["all_met"]
        met.append("all four not met" if both is None else
                   f"all four {both['steps']} steps ({both['minutes']} min)")
        print(f"{label}: " + ", ".join(met))


if __name__ == "__main__":
    main()
