"""`dvc plots show` draws the right curves, offline: the top-level `plots:` of dvc.yaml name
only columns that the training code writes (read from its constants, not copied here), and the
HTML template named in `.dvc/config` inlines vega, vega-lite and vega-embed."""

from __future__ import annotations

import configparser
import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from s2igan.rdg.train import LOSS_KEYS, _write_losses
from s2igan.sen.train import CSV_COLUMNS, write_history

REPO = Path(__file__).resolve().parents[1]
SEN_CSV, RDG_CSV = "reports/sen/loss.csv", "reports/rdg/loss.csv"


def _written_header(tmp_path: Path) -> dict[str, list[str]]:
    """The CSV headers as the training code writes them, with every optional column present."""
    sen, rdg = tmp_path / "sen.csv", tmp_path / "rdg.csv"
    write_history([{c: 1.0 for c in CSV_COLUMNS}], sen)
    _write_losses([{"epoch": 1, **{k: 1.0 for k in LOSS_KEYS}, "seconds": 1.0}], rdg)
    return {path: next(csv.reader(file.open()))
            for path, file in ((SEN_CSV, sen), (RDG_CSV, rdg))}


def _top_level_plots() -> dict[str, dict | None]:
    plots = yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]
    out: dict[str, dict | None] = {}
    for elem in plots:
        if isinstance(elem, str):
            out[elem] = None
        else:
            [(plot_id, props)] = elem.items()
            out[plot_id] = props
    return out


def _template_path() -> Path:
    config = configparser.ConfigParser()
    config.read(REPO / ".dvc/config")
    return REPO / ".dvc" / config["plots"]["html_template"]


def test_every_curve_names_a_column_the_training_code_writes(tmp_path):
    headers = _written_header(tmp_path)
    curves = {pid: props for pid, props in _top_level_plots().items() if props}
    assert curves, "no curve plots in dvc.yaml"
    drawn: dict[str, set[str]] = {SEN_CSV: set(), RDG_CSV: set()}
    for plot_id, props in curves.items():
        assert props["x"] == "epoch", plot_id
        assert isinstance(props["y"], dict), f"{plot_id}: y must map a file to its columns"
        for path, columns in props["y"].items():
            columns = [columns] if isinstance(columns, str) else columns
            assert path in headers, f"{plot_id}: {path} is not a training loss file"
            missing = set(columns) - set(headers[path])
            assert not missing, f"{plot_id}: {path} has no column {sorted(missing)}"
            drawn[path] |= set(columns)
    # every loss curve is drawn (the wall seconds of an epoch need not be)
    assert drawn[SEN_CSV] == set(CSV_COLUMNS) - {"epoch"}
    assert drawn[RDG_CSV] == set(LOSS_KEYS)


def test_relation_supervisor_columns_have_a_plot_of_their_own():
    """rs_loss / g_rs are written only with rs.enabled; a plot mixing them with the other
    columns would fail for `dvc exp run -S rs.enabled=false`."""
    rs_only = {k for k in LOSS_KEYS if "rs" in k}
    assert rs_only == {"rs_loss", "g_rs"}
    for plot_id, props in _top_level_plots().items():
        columns = set((props or {}).get("y", {}).get(RDG_CSV, []))
        assert not columns or columns <= rs_only or not columns & rs_only, plot_id


def test_image_plots_are_outputs_of_the_stages():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    outs = {next(iter(o)) if isinstance(o, dict) else o
            for stage in stages.values() for o in stage.get("outs", [])}
    images = [pid for pid, props in _top_level_plots().items() if props is None]
    assert set(images) == {"reports/sen/tsne.png", "reports/rdg/samples",
                           "reports/evaluate/figures"}
    assert set(images) <= outs


def test_offline_template_inlines_the_scripts():
    from dvc_render.html import HTML
    from dvc_render.vega import VegaRenderer

    page = _template_path().read_text(encoding="utf8")
    assert "{plot_divs}" in page
    assert "{scripts}" not in page          # DVC's CDN <script> tags are never added
    assert "cdn.jsdelivr" not in page and not re.search(r"<script[^>]*\ssrc=", page)
    for package in ("vega", "vega-lite", "vega-embed"):
        version = VegaRenderer.SCRIPTS.split(f"npm/{package}@")[1].split('"')[0]
        assert f'<script data-package="{package}@{version}">' in page   # the versions DVC uses
    assert "globalThis:t||self).vega={}" in page and "vegaEmbed=" in page
    filled = HTML(page).with_scripts(VegaRenderer.SCRIPTS).with_element("<div>x</div>").embed()
    assert "<div>x</div>" in filled and "cdn.jsdelivr" not in filled


def _dvc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture()
def plots_workspace(tmp_path) -> Path:
    """A bare DVC repo with this dvc.yaml's top-level plots, this .dvc/config and fake data."""
    ws = tmp_path / "ws"
    ws.mkdir()
    assert _dvc("init", "--no-scm", "-q", cwd=ws).returncode == 0
    shutil.copy(REPO / ".dvc/config", ws / ".dvc/config")
    shutil.copytree(_template_path().parent, ws / ".dvc" / _template_path().parent.name)
    spec = {"plots": yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]}
    (ws / "dvc.yaml").write_text(yaml.safe_dump(spec))
    (ws / "reports/sen").mkdir(parents=True)
    (ws / "reports/rdg/samples").mkdir(parents=True)
    (ws / "reports/evaluate/figures").mkdir(parents=True)
    write_history([{"epoch": e, **{c: e / 10 + i for i, c in enumerate(CSV_COLUMNS[1:])}}
                   for e in (1, 2, 3)], ws / SEN_CSV)
    _write_losses([{"epoch": e, **{k: e + i for i, k in enumerate(LOSS_KEYS)}, "seconds": 9.0}
                   for e in (1, 2)], ws / RDG_CSV)
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")
    for name in ("reports/sen/tsne.png", "reports/rdg/samples/epoch_001.png",
                 "reports/evaluate/figures/test_captions.png"):
        (ws / name).write_bytes(png)
    return ws


def _shown(ws: Path) -> dict:
    shown = _dvc("plots", "show", "--json", cwd=ws)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def _drawn_columns(content: dict) -> set[str]:
    """The CSV columns a rendered vega-lite line plot draws on its y axis."""
    values = content["data"]["values"]
    y = content["layer"][0]["encoding"]["y"]["field"]
    if y != "dvc_inferred_y_value":                       # one column: drawn directly
        return {y}
    for v in values:
        assert v["dvc_inferred_y_value"] == v[v["field"]]
    return {v["field"] for v in values}


def test_dvc_plots_show_draws_the_columns_offline(plots_workspace):
    ws = plots_workspace
    result = _shown(ws)
    assert not result.get("errors"), result.get("errors")
    data = result["data"]
    for plot_id, props in _top_level_plots().items():
        if props is None:
            continue
        [rendered] = data[plot_id]
        content = rendered["content"]
        [(path, columns)] = props["y"].items()
        assert _drawn_columns(content) == set(columns), plot_id     # one line per column
        assert content["title"]["text"] == props["title"]
        assert content["encoding"]["x"]["field"] == "epoch"
    images = {k for k, v in data.items() if v and v[0]["type"] == "image"}
    assert images == {"reports/sen/tsne.png", "reports/rdg/samples/epoch_001.png",
                      "reports/evaluate/figures/test_captions.png"}

    html = _dvc("plots", "show", "-o", "page", cwd=ws)
    assert html.returncode == 0, html.stderr
    page = (ws / "page/index.html").read_text(encoding="utf8")
    assert "cdn.jsdelivr" not in page and "vegaEmbed=" in page
    assert "RDG: relation supervisor losses" in page


def test_without_the_relation_supervisor_the_other_curves_still_draw(plots_workspace):
    ws = plots_workspace
    keys = [k for k in LOSS_KEYS if k not in ("rs_loss", "g_rs")]      # rs.enabled: false
    _write_losses([{"epoch": e, **{k: e for k in keys}, "seconds": 9.0} for e in (1, 2)],
                  ws / RDG_CSV)
    data = _shown(ws)["data"]
    for plot_id in ("rdg_losses", "rdg_kl"):
        [rendered] = data[plot_id]
        assert rendered["content"]["data"]["values"], plot_id


def _git(ws: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=ws,
                   check=True, capture_output=True)


def test_dvc_plots_diff_shows_both_experiments(plots_workspace):
    """`dvc plots diff` between a committed experiment and the workspace: every curve is drawn
    for both revisions, each with its own numbers."""
    if shutil.which("git") is None:
        pytest.skip("git is needed for revisions")
    ws = plots_workspace
    _git(ws, "init", "-q")
    _git(ws, "add", "-A")
    _git(ws, "commit", "-q", "-m", "experiment A")
    _write_losses([{"epoch": e, **{k: 100 + e for k in LOSS_KEYS}, "seconds": 9.0}
                   for e in (1, 2)], ws / RDG_CSV)                       # experiment B
    shown = _dvc("plots", "diff", "HEAD", "--json", cwd=ws)
    assert shown.returncode == 0, shown.stderr
    [rendered] = json.loads(shown.stdout)["data"]["rdg_losses"]
    values = rendered["content"]["data"]["values"]
    by_rev: dict[str, list[float]] = {}
    for v in values:
        by_rev.setdefault(v["rev"], []).append(float(v["d_loss"]))
    assert set(by_rev) == {"HEAD", "workspace"}, set(by_rev)
    assert min(by_rev["workspace"]) > 100 > max(by_rev["HEAD"])


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium (make installs it)")
def test_offline_plots_page_draws_in_headless_chromium(plots_workspace, tmp_path):
    """`dvc plots show` → index.html, opened in headless Chromium with no network: the curves are
    drawn (DVC's colour of the first revision, (148, 93, 214), covers part of the screenshot; a
    page whose scripts failed is white and black)."""
    ws = plots_workspace
    assert _dvc("plots", "show", "-o", "page", cwd=ws).returncode == 0
    shot = ws / "page" / "screenshot.png"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400",
                    "--virtual-time-budget=10000", f"--screenshot={shot}",
                    (ws / "page" / "index.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    line = (np.abs(pixels - (148, 93, 214)).sum(1) < 40).mean()
    assert line > 1e-3, f"no plotted line in {shot}"
