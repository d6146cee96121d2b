"""#13's comparison table: every system of the two papers on the embedded default, from the
metrics files of their runs, with the papers' CUB numbers beside ours (labelled as the papers').

Two commands:

* ``collect RUN_DIR --name NAME --command "dvc exp run ..." --machine "..."`` stores one finished
  run (a clone that ran ``dvc exp run -S ...``): its whole ``params.yaml`` and the metrics files of
  its ``sen``, ``embed``, ``asr`` and ``evaluate`` stages, as ``reports/systems/NAME.json``.
* ``table`` reads every ``reports/systems/*.json``, assigns each run to a system by its params
  (:func:`system_of`), keeps the runs of today's profile only (:data:`PROFILE` equal to
  ``params.yaml``'s: older runs stay in the folder as history, out of the table), and prints
  mean ± sample std per system (``--out`` writes the Markdown too; ``--json`` the rows).
  ``--at rdg.epochs=50`` compares against ``params.yaml`` with that override instead: the
  profile the table was measured at when the default has moved on since (each row's command
  then carries the override, so that it reproduces its runs).

usage: python scripts/systems_table.py collect RUN_DIR --name NAME --command CMD --machine TEXT
       python scripts/systems_table.py table [--at KEY=VALUE ...] [--out reports/systems/table.md]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from s2igan.config import ConfigError
from s2igan.overrides import with_overrides

ROOT = Path(__file__).resolve().parents[1]
SYSTEMS_DIR = ROOT / "reports" / "systems"
STAGES = ("sen", "embed", "asr", "evaluate")
# The profile a run must share with params.yaml to enter the table: what the generator and its
# condition are, how long and how fast it trains (the systems' own switches are not here).
PROFILE = ("dg.ngf", "dg.ndf", "dg.image_sizes", "dg.condition_attributes", "dg.condition_vlad",
           "rdg.epochs", "rdg.lr_g", "rdg.lr_d", "rdg.batch_size", "sen.epochs",
           "data.synthbirds.grammar")
# (column header, metric key; the first key found counts). SEN mAP: speech -> image, or speech ->
# speech for the classifier baseline, which has no image side.
COLUMNS = (
    ("FID", ("evaluate/gen/fid",)),
    ("IS", ("evaluate/gen/is",)),
    ("mAP % (generated)", ("evaluate/gen/map",)),
    ("unseen crown", ("evaluate/gen/acc_crown",)),
    ("unseen wing", ("evaluate/gen/acc_wing",)),
    ("unseen belly", ("evaluate/gen/acc_belly",)),
    ("unseen size", ("evaluate/gen/acc_size",)),
    ("seen crown", ("evaluate/seen/acc_crown",)),
    ("seen wing", ("evaluate/seen/acc_wing",)),
    ("seen belly", ("evaluate/seen/acc_belly",)),
    ("SEN test mAP", ("sen/test/map", "sen/test/speech_map")),
)
PERCENT = {"mAP % (generated)"}
# The systems in table order: (key, label, command). A run's key comes from system_of().
SYSTEMS = (
    ("s2igan", "S2IGAN (the default)", "dvc repro"),
    ("wo_rs", "S2IGAN w/o RS", "-S rs.enabled=false"),
    ("wo_dense", "S2IGAN w/o dense", "-S dg.dense=false"),
    ("wo_sen", "S2IGAN w/o SEN", "-S rdg.speech_encoder=joint"),
    ("end_to_end", "S2IGAN end-to-end", "-S rdg.speech_encoder=end_to_end"),
    ("damsm", "DAMSM-based", "-S rs.kind=damsm"),
    ("teacher_student", "Li et al. (teacher-student)",
     "-S sen.kind=teacher_student -S dg.standardize_condition=false"),
    ("classifier", "classifier-based", "-S sen.kind=classifier -S rs.enabled=false -S dg.dense=false"),
    ("two_stage", "two-stage (ASR text)", "-S sen.kind=text -S sen.text.source=asr"),
    ("text", "text, perfect ASR (upper bound)", "-S sen.kind=text -S sen.text.source=truth"),
)
# The papers' CUB-200 numbers: (mAP %, FID, IS). TASLP = Wang et al. 2021 (Tables II and IV),
# Li = Li et al., Direct Speech-to-Image Translation (Table II). Their text upper bound is
# StackGAN-v2 on text (TASLP Table II, the published number; Li's text quotes 15.37).
PAPER = {
    "s2igan": ("9.04", "14.50", "4.29", "TASLP II, IV"),
    "wo_rs": ("8.54", "15.59", "4.14", "TASLP IV"),
    "wo_dense": ("8.66", "17.58", "4.19", "TASLP IV"),
    "wo_sen": ("2.91", "19.56", "3.49", "TASLP IV"),
    "end_to_end": ("7.38", "21.54", "4.29", "TASLP IV"),
    "damsm": ("9.60", "15.06", "4.26", "TASLP IV"),
    "teacher_student": ("—", "18.37", "4.09", "TASLP II, Li II"),
    "classifier": ("—", "43.76", "3.68", "TASLP II, Li II"),
    "two_stage": ("—", "20.85", "4.04", "Li II"),
    "text": ("—", "15.30", "4.04", "TASLP II"),
}


def param(params: dict, dotted: str, default=None):
    value = params
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def system_of(params: dict) -> str | None:
    """The system a run's params describe (a key of :data:`SYSTEMS`), or None for a combination
    no paper row has (e.g. two switches at once)."""
    kind = param(params, "sen.kind", "s2igan")
    rs_on = param(params, "rs.enabled", True)
    dense = param(params, "dg.dense", True)
    encoder = param(params, "rdg.speech_encoder", "frozen")
    damsm = param(params, "rs.kind", "relation") == "damsm"
    if kind == "classifier":
        return "classifier" if not rs_on and not dense and encoder == "frozen" else None
    if kind == "text":
        source = param(params, "sen.text.source", "asr")
        ok = rs_on and dense and encoder == "frozen" and not damsm
        return ("two_stage" if source == "asr" else "text") if ok else None
    if kind == "teacher_student":
        ok = rs_on and dense and encoder == "frozen" and not damsm
        return "teacher_student" if ok else None
    switches = {"wo_rs": not rs_on, "wo_dense": not dense, "wo_sen": encoder == "joint",
                "end_to_end": encoder == "end_to_end", "damsm": rs_on and damsm}
    on = [k for k, v in switches.items() if v]
    return "s2igan" if not on else (on[0] if len(on) == 1 else None)


def trains_encoder(params: dict) -> bool:
    """Whether the rdg stage trained the speech encoder (joint / end_to_end): the `sen` stage's
    test mAP is then that of an encoder the generator does not use, so it is not shown."""
    return param(params, "rdg.speech_encoder", "frozen") != "frozen"


def flat(metrics: dict[str, dict]) -> dict[str, float]:
    """{stage: {key: value}} -> {"stage/key": value}, numbers only."""
    return {f"{stage}/{k}": float(v) for stage, m in metrics.items() for k, v in m.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def load_runs(systems_dir: Path = SYSTEMS_DIR) -> list[dict]:
    """Every stored run as {"name", "params", "metrics" (flat), "source"}. Every row of the
    table comes from such runs, the default's too: the same `dvc exp run` and the same evaluate
    stage for every system, so that every cell of every row is measured the same way."""
    runs = []
    for path in sorted(systems_dir.glob("*.json")):
        d = json.loads(path.read_text())
        if "params" not in d or not isinstance(d.get("metrics"), dict):
            continue
        runs.append({"name": path.stem, "params": d["params"], "metrics": flat(d["metrics"]),
                     "source": str(path.relative_to(systems_dir.parents[1]))
                     if systems_dir.parents[1] in path.parents else str(path)})
    return runs


def at_profile(params: dict, overrides: list[str]) -> dict:
    """``params`` with dotted ``key=value`` overrides (values parsed as YAML, as ``dvc exp run
    -S``); a key params.yaml lacks is an error, not a silently empty table."""
    try:
        return with_overrides(params, overrides)
    except ConfigError as err:
        raise SystemExit(f"--at {err}") from None


def same_profile(params: dict, reference: dict) -> bool:
    return all(param(params, k) == param(reference, k) for k in PROFILE)


def fmt(values: list[float], percent: bool) -> str:
    if not values:
        return "—"
    v = np.asarray(values) * (100.0 if percent else 1.0)
    digits = 0 if abs(v.mean()) >= 50 else (2 if abs(v.mean()) >= 1 else 3)
    if len(v) == 1:
        return f"{v[0]:.{digits}f}"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


def table(runs: list[dict], reference: dict, at: list[str] = ()) -> tuple[str, list[dict]]:
    """The Markdown table (mean ± sample std over runs, n per row) and its rows: the runs of
    ``reference``'s profile, with the ``at`` overrides (``KEY=VALUE``) applied to it and shown
    in every row's command."""
    reference = at_profile(reference, list(at))
    pinned = " ".join(f"-S {item}" for item in at)
    groups: dict[str, list[dict]] = {}
    for run in runs:
        key = system_of(run["params"])
        if key is not None and same_profile(run["params"], reference):
            groups.setdefault(key, []).append(run)
    head = ["system", "command", "runs"] + [c for c, _ in COLUMNS] + \
           ["paper CUB mAP %", "paper CUB FID", "paper CUB IS", "paper"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = []
    for key, label, command in SYSTEMS:
        members = groups.get(key, [])
        cells, row = [], {"system": key, "label": label, "runs": [m["name"] for m in members]}
        for column, keys in COLUMNS:
            values = [next(m["metrics"][k] for k in keys if k in m["metrics"])
                      for m in members if any(k in m["metrics"] for k in keys)
                      and not (keys[0].startswith("sen/") and trains_encoder(m["params"]))]
            row[column] = values
            cells.append(fmt(values, column in PERCENT))
        paper = PAPER[key]
        if pinned:
            label = label.replace(" (the default)", "")
            command = f"dvc exp run {pinned}" if command == "dvc repro" else f"{pinned} {command}"
        lines.append("| " + " | ".join([label, f"`{command}`", str(len(members))] + cells
                                       + list(paper[:3]) + [paper[3]]) + " |")
        rows.append(row)
    return "\n".join(lines), rows


def collect(run_dir: Path, name: str, command: str, machine: str, out_dir: Path = SYSTEMS_DIR
            ) -> Path:
    """Store one finished run of ``run_dir`` as ``out_dir/NAME.json``."""
    params = yaml.safe_load((run_dir / "params.yaml").read_text())
    metrics = {}
    for stage in STAGES:
        path = run_dir / "reports" / stage / "metrics.json"
        if path.is_file():
            metrics[stage] = json.loads(path.read_text())
    if "evaluate" not in metrics:
        raise SystemExit(f"{run_dir}: no reports/evaluate/metrics.json (did the run finish?)")
    # system_run.sh copies BASE's reports/ before the run and ends run.log with wall_seconds
    # only when `dvc exp run` succeeded: without that line the metrics may be BASE's own.
    log = run_dir / "run.log"
    if log.is_file() and "wall_seconds" not in log.read_text():
        raise SystemExit(f"{log}: no wall_seconds line, so the run failed or is still running")
    commit = subprocess.run(["git", "-C", str(run_dir), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{name}.json"
    out.write_text(json.dumps({"system": system_of(params), "command": command,
                               "machine": machine, "base_commit": commit, "params": params,
                               "metrics": metrics}, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("run_dir", type=Path)
    c.add_argument("--name", required=True)
    c.add_argument("--command", required=True)
    c.add_argument("--machine", required=True)
    t = sub.add_parser("table")
    t.add_argument("--at", nargs="+", default=[], metavar="KEY=VALUE",
                   help="the profile the table was measured at: params.yaml with these overrides")
    t.add_argument("--out", type=Path)
    t.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "collect":
        print(collect(args.run_dir, args.name, args.command, args.machine))
        return
    reference = yaml.safe_load((ROOT / "params.yaml").read_text())
    text, rows = table(load_runs(), reference, args.at)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
