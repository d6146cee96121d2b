"""Flickr8k with the Flickr Audio Caption Corpus (real speech; Harwath & Glass 2015).

Expected under ``root`` (``Flickr8k_Dataset.zip``, ``Flickr8k_text.zip`` and
``flickr_audio.tar.gz`` unpacked side by side)::

    Flicker8k_Dataset/<image>.jpg        the original archive's spelling; Flickr8k_Dataset/
                                         is accepted too
    Flickr_8k.trainImages.txt            6,000 image names  (split "train")
    Flickr_8k.devImages.txt              1,000 image names  (split "val")
    Flickr_8k.testImages.txt             1,000 image names  (split "test")
    Flickr8k.token.txt                   "<image>.jpg#<n>\\t<caption>"  (optional: text kept
                                         for reports only; the model hears the speech)
    flickr_audio/wav2capt.txt            "<wav name> <image>.jpg #<n>"
    flickr_audio/wavs/<image stem>_<n>.wav   5 spoken captions per image

The text files may also sit in ``root/Flickr8k_text/`` (the zip's own folder). Only images named
in the three split files are used; every spoken caption of those images listed in
``wav2capt.txt`` becomes one manifest row (``caption_idx`` = ``n``), with ``class_id`` -1 and
``class_name`` "" (Flickr8k has no classes, so the SEN uses no distinctive loss, Eq. (9)).
Image and recording names must stay under ``root`` (no absolute paths, no ``..`` out of it), and
every split image is decoded once (a truncated or corrupt JPEG is refused, naming the file).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from s2igan.data import manifest
from s2igan.data.adapters._common import (
    check_exists, check_images, first_existing, inside, read_lines, read_names, read_records,
    require, split_line)
from s2igan.io import BadInputError

DATASET = "flickr8k"
KIND = "scene"
SPLIT_FILES = {"train": "Flickr_8k.trainImages.txt", "val": "Flickr_8k.devImages.txt",
               "test": "Flickr_8k.testImages.txt"}
TEXT_HINT = "Flickr8k_text.zip"


def load(root: Path) -> pd.DataFrame:
    """Read Flickr8k + Flickr Audio Caption Corpus under ``root`` into the manifest."""
    root = Path(root)
    image_dir = first_existing([root / "Flicker8k_Dataset", root / "Flickr8k_Dataset"],
                               "Flickr8k images <image>.jpg (Flickr8k_Dataset.zip)")
    text_dirs = [root, root / "Flickr8k_text"]
    split_of: dict[str, str] = {}
    for split, name in SPLIT_FILES.items():
        path = first_existing([d / name for d in text_dirs], f"{split} image names ({TEXT_HINT})")
        for image in read_names(path, "one image name <image>.jpg per line"):
            inside(root, image, path, f"image {image!r}", base=image_dir)
            if image in split_of and split_of[image] != split:
                raise BadInputError(path, f"image {image} is also in the {split_of[image]} split")
            split_of[image] = split
    check_images((image_dir / image for image in split_of), "Flickr8k image")

    tokens = [d / "Flickr8k.token.txt" for d in text_dirs if (d / "Flickr8k.token.txt").exists()]
    texts = _read_tokens(tokens[0]) if tokens else {}

    audio_dir = require(root / "flickr_audio", "Flickr Audio Caption Corpus (flickr_audio.tar.gz)")
    wav2capt = audio_dir / "wav2capt.txt"
    expected = "<wav name> <image>.jpg #<n>"
    rows: list[dict] = []
    for lineno, (wav, image, tag) in read_records(wav2capt, 3, expected,
                                                  "spoken caption index of the corpus"):
        if not tag.startswith("#") or not tag[1:].isdigit():
            raise BadInputError(wav2capt, f"line {lineno}: expected '{expected}', got tag {tag!r}")
        if image not in split_of:
            continue
        idx = int(tag[1:])
        inside(root, wav, wav2capt, f"line {lineno}", base=audio_dir / "wavs")
        rows.append({"image_id": Path(image).stem, "image_path": str(image_dir / image),
                     "split": split_of[image], "caption_idx": idx,
                     "text": texts.get((image, idx)),
                     "audio_path": str(audio_dir / "wavs" / wav)})
    if not rows:
        raise BadInputError(wav2capt, "no spoken caption of any image in the split files")
    check_exists((Path(r["audio_path"]) for r in rows), "spoken caption (flickr_audio/wavs/)")
    without = sorted(set(split_of) - {Path(r["image_path"]).name for r in rows})
    if without:
        raise BadInputError(wav2capt, f"no spoken caption for image {without[0]} "
                            f"({len(without)} split images without speech)")
    return manifest.build(rows, DATASET, KIND)


def _read_tokens(path: Path) -> dict[tuple[str, int], str]:
    """``Flickr8k.token.txt`` -> {(image, n): caption}."""
    expected = "<image>.jpg#<n>\\t<caption>"
    texts = {}
    for lineno, line in enumerate(read_lines(path, "Flickr8k text captions"), start=1):
        if not line.strip():
            continue
        key, text = split_line(path, lineno, line, 2, expected, sep="\t")
        image, _, n = key.partition("#")
        if not n.isdigit():
            raise BadInputError(path, f"line {lineno}: expected '{expected}', got {line!r}")
        texts[(image, int(n))] = text
    return texts
