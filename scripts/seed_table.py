"""Mean ± std over seeds of the evaluate metrics of DVC experiments, as a Markdown table.

Reads `dvc exp show --json` (the HEAD commit and its experiments), groups the runs by the values
of the ``--group`` params (every run of a group differs only in its seeds), and prints one row
per group: mean ± sample std over the runs, and how many runs.

usage: python scripts/seed_table.py [--group rs.enabled] [--commits 1] [--metrics gen/fid ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections import defaultdict

import numpy as np

METRICS = ("gen/fid", "gen/is", "gen/map", "gen/acc_crown", "gen/acc_wing", "gen/acc_belly",
           "gen/acc_size", "seen/acc_crown", "seen/acc_wing", "seen/acc_belly")
METRICS_FILE = "reports/evaluate/metrics.json"


ABSENT = "(absent)"


def _param(params: dict, dotted: str):
    """The value of the dotted key; ``ABSENT`` where the run's params do not have it (a run made
    before the switch existed), so such runs form a group of their own."""
    value = params
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return ABSENT
        value = value[key]
    return value


def _finished(exp: dict) -> bool:
    """A running experiment shows its baseline's metrics until it ends: count finished ones."""
    state = (exp.get("executor") or {}).get("state")
    return state in (None, "success")


def runs(exp_show: list[dict]) -> list[tuple[dict, dict]]:
    """(params, evaluate metrics) of the newest commit and of every experiment on the commits
    shown (experiments queued before a later commit hang from the commit they started from;
    older commits' own rows would repeat the same baseline, so only the newest one counts)."""
    commits = [c for c in exp_show if c["rev"] != "workspace"]
    entries = commits[:1] + [e for c in commits for exp in c.get("experiments") or []
                             if _finished(exp) for e in exp.get("revs", [])]
    out = []
    for entry in entries:
        data = entry.get("data") or {}
        metrics = (data.get("metrics") or {}).get(METRICS_FILE, {}).get("data")
        params = (data.get("params") or {}).get("params.yaml", {}).get("data")
        if metrics and params:
            out.append((params, metrics))
    return out


def table(rows: list[tuple[dict, dict]], group: list[str], metrics: list[str]) -> str:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for params, m in rows:
        groups[tuple(_param(params, g) for g in group)].append(m)
    lines = ["| " + " | ".join(group + metrics + ["runs"]) + " |",
             "|" + "---|" * (len(group) + len(metrics) + 1)]
    for key, ms in sorted(groups.items(), key=lambda kv: str(kv[0])):
        cells = []
        for name in metrics:
            values = np.array([m[name] for m in ms if name in m], float)
            std = values.std(ddof=1) if len(values) > 1 else float("nan")
            cells.append(f"{values.mean():.3g} ± {std:.2g}" if len(values) else "–")
        lines.append("| " + " | ".join([str(k) for k in key] + cells + [str(len(ms))]) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--group", nargs="+", default=["rs.enabled"])
    ap.add_argument("--metrics", nargs="+", default=list(METRICS))
    ap.add_argument("--commits", type=int, default=1, help="also experiments of older commits")
    args = ap.parse_args()
    shown = json.loads(subprocess.run(["dvc", "exp", "show", "--json", "--hide-queued",
                                       "--hide-failed", "-n", str(args.commits)], check=True,
                                      capture_output=True, text=True).stdout)
    print(table(runs(shown), args.group, args.metrics))


if __name__ == "__main__":
    main()
