"""Write the offline HTML template of `dvc plots show` (`.dvc/plots/offline.html`).

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so it is blank on a
machine without internet. This template inlines the three scripts instead, at the versions
DVC's renderer (dvc-render 1.0) asks for; `.dvc/config` names it (`plots.html_template`).

    python scripts/plots_template.py                 # `npm pack`s the three packages
    python scripts/plots_template.py --from DIR      # DIR holds the three npm .tgz files

The template has no `{scripts}` placeholder, so DVC adds no CDN <script> tags to the page.
All three packages are BSD-3-Clause (University of Washington Interactive Data Lab).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# package -> (version, file inside the npm tarball); the versions of dvc_render.vega.SCRIPTS
PACKAGES = {
    "vega": ("5.20.2", "package/build/vega.min.js"),
    "vega-lite": ("5.2.0", "package/build/vega-lite.min.js"),
    "vega-embed": ("6.18.2", "package/build/vega-embed.min.js"),
}
# what dvc_render.html.HTML.embed replaces; none may occur inside the inlined code
PLACEHOLDERS = ("{scripts}", "{plot_divs}", "{refresh_tag}")
OUT = Path(__file__).resolve().parents[1] / ".dvc/plots/offline.html"

PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <!-- written by scripts/plots_template.py: vega, vega-lite and vega-embed inlined, no CDN -->
{inlined}
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def script_tag(name: str, version: str, code: str) -> str:
    if "</script" in code.lower():
        raise ValueError(f"{name}: the code holds '</script', it cannot be inlined")
    for placeholder in PLACEHOLDERS:
        if placeholder in code:
            raise ValueError(f"{name}: the code holds DVC's placeholder {placeholder}")
    return f'    <script data-package="{name}@{version}">\n{code}\n    </script>'


def read_tarball(tgz: Path, member: str) -> str:
    with tarfile.open(tgz) as tar:
        fh = tar.extractfile(member)
        if fh is None:
            raise FileNotFoundError(f"{tgz}: no {member}")
        return fh.read().decode("utf8")


def build(source: Path) -> str:
    tags = []
    for name, (version, member) in PACKAGES.items():
        tgz = source / f"{name}-{version}.tgz"
        if not tgz.is_file():
            raise FileNotFoundError(f"{tgz}: missing (run `npm pack {name}@{version}` there)")
        tags.append(script_tag(name, version, read_tarball(tgz, member)))
    # {refresh_tag} and {plot_divs} stay literal for DVC to fill in
    return PAGE.replace("{inlined}", "\n".join(tags))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="source", type=Path,
                        help="folder with the npm tarballs (default: `npm pack` into a temporary one)")
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        source = args.source
        if source is None:
            source = Path(tmp)
            specs = [f"{name}@{version}" for name, (version, _) in PACKAGES.items()]
            subprocess.run(["npm", "pack", "--silent", *specs], cwd=source, check=True,
                           stdout=subprocess.DEVNULL)
        html = build(source)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(html, encoding="utf8")
    print(f"{args.out}: {len(html):,} characters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
