"""`s2igan generate --text` on several descriptions, one enlarged row per description, each under
its text: the README's pictures of phrasings the caption grammar never produces.

Runs `s2igan generate --text TEXT -n N --seed SEED` in the workspace for every ``--text`` (the
configured TTS voice, the workspace's bundle or checkpoints, as a user would) and stacks the
rows it writes into ``--out``.

usage: python scripts/text_rows.py --text "..." --text "..." [-n 4] [--seed 0]
       [--workspace .] [--scale 3] --out docs/generate_text.png
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from s2igan.cli import main as cli
from s2igan.io import atomic_path

LABEL = 28    # pixels of the text line above each row


def text_rows(rows: list[tuple[str, Image.Image]], scale: int) -> Image.Image:
    """Stack ``(text, image row)`` pairs, each row enlarged ``scale`` times (nearest)."""
    big = [(t, im.convert("RGB").resize((im.width * scale, im.height * scale),
                                        Image.Resampling.NEAREST)) for t, im in rows]
    width = max(im.width for _, im in big)
    sheet = Image.new("RGB", (width, sum(LABEL + im.height for _, im in big)), "white")
    draw = ImageDraw.Draw(sheet)
    y = 0
    for text, im in big:
        draw.text((4, y + 8), f'"{text}"', fill="black")
        sheet.paste(im, (0, y + LABEL))
        y += LABEL + im.height
    return sheet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", action="append", required=True)
    ap.add_argument("-n", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workspace", default=".")
    ap.add_argument("--scale", type=int, default=3)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, text in enumerate(args.text):
            png = Path(tmp) / f"row{k}.png"
            code = cli(["generate", "--text", text, "-n", str(args.n), "--seed", str(args.seed),
                        "--workspace", args.workspace, "-o", str(png)])
            if code:
                raise SystemExit(code)
            with Image.open(png) as im:
                rows.append((text, im.copy()))
    with atomic_path(args.out) as tmp_out:
        text_rows(rows, args.scale).save(tmp_out, format="PNG")
    print(args.out)


if __name__ == "__main__":
    main()
