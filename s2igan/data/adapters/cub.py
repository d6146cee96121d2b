"""CUB-200-2011 (fine-grained birds) from its original layout, with Reed et al.'s captions.

Expected under ``root`` (the unpacked ``CUB_200_2011`` folder, with the ``text_c10`` folder and
the class split files of Reed et al.'s ``cvpr2016_cub`` archive copied beside it)::

    images/<class_dir>/<name>.jpg
    images.txt               "<image_id> <class_dir>/<name>.jpg"
    classes.txt              "<class_id> <class_dir>"            (1-based ids)
    image_class_labels.txt   "<image_id> <class_id>"
    bounding_boxes.txt       "<image_id> <x> <y> <width> <height>"   (pixels, floats)
    text_c10/<class_dir>/<name>.txt   10 captions, one per line (fewer is refused)
    trainvalclasses.txt      150 class dirs (split "train")
    testclasses.txt          50 class dirs  (split "test")

The standard set has 11,788 images of 200 classes, split 150/50 by class (Sec. IV-A of the
S2IGAN paper, following StackGAN). One manifest row per caption; ``class_id`` is 0-based in
``classes.txt`` order; ``bbox`` keeps the box so the image stage can crop a square of side
0.75 * max(w, h) around its centre, as the official code does.

Refused, naming the file (and line): an image id or path listed twice in ``images.txt``, an
image path outside ``root`` (absolute, or climbing out with ``..``), an image that does not
decode (truncated or corrupt; every image is decoded once, see ``check_images``), a box that
is not four finite numbers with width and height > 0, and a caption file with fewer than
``CAPTIONS_PER_IMAGE`` captions (Reed et al.'s files all have 10; more are kept).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from s2igan.data import manifest
from s2igan.data.adapters._common import (
    check_images, class_split, inside, read_captions, read_records, read_table, require)
from s2igan.io import BadInputError

DATASET = "cub"
KIND = "fine_grained"
CAPTIONS_PER_IMAGE = 10
CAPTIONS_HINT = ("Reed et al. captions: unpack cvpr2016_cub's text_c10/ into the CUB_200_2011 "
                 "folder")


def load(root: Path) -> pd.DataFrame:
    """Read CUB-200-2011 under ``root`` into the manifest (one row per caption)."""
    root = Path(root)
    require(root / "images", "CUB-200-2011 image folder images/<class_dir>/<name>.jpg")
    images = _read_images(root)
    classes = read_table(root / "classes.txt", 2, "<class_id> <class_dir>",
                         "CUB-200-2011 class list")
    labels = dict(read_table(root / "image_class_labels.txt", 2, "<image_id> <class_id>",
                             "CUB-200-2011 image labels"))
    boxes = _read_boxes(root / "bounding_boxes.txt")

    class_dirs = {cid: name for cid, name in classes}
    class_index = {name: i for i, (_, name) in enumerate(classes)}
    split_of = class_split(root / "trainvalclasses.txt", root / "testclasses.txt",
                           class_index, "CUB-200 (Reed et al. cvpr2016_cub)")

    check_images((root / "images" / rel for _, rel in images), "CUB image")
    rows: list[dict] = []
    for num, rel in tqdm(images, desc="cub captions", leave=False):
        label = labels.get(num)
        if label is None or label not in class_dirs:
            raise BadInputError(root / "image_class_labels.txt",
                                f"no valid class for image {num} ({rel})")
        class_dir = class_dirs[label]
        if Path(rel).parent.as_posix() != class_dir:
            raise BadInputError(root / "images.txt", f"image {num} ({rel}) is not in its "
                                f"class folder {class_dir!r} (image_class_labels.txt)")
        if num not in boxes:
            raise BadInputError(root / "bounding_boxes.txt", f"no box for image {num} ({rel})")
        stem = Path(rel).stem
        caption_file = root / "text_c10" / class_dir / f"{stem}.txt"
        if not caption_file.is_file():
            raise BadInputError(caption_file, f"missing caption file ({CAPTIONS_HINT})")
        captions = read_captions(caption_file, "one caption per line")
        if len(captions) < CAPTIONS_PER_IMAGE:
            raise BadInputError(caption_file, f"{len(captions)} captions, expected "
                                f"{CAPTIONS_PER_IMAGE} (one per line; {CAPTIONS_HINT})")
        for idx, text in enumerate(captions):
            rows.append({"image_id": stem, "image_path": str(root / "images" / rel),
                         "class_id": class_index[class_dir], "class_name": class_dir,
                         "split": split_of[class_dir], "caption_idx": idx, "text": text,
                         "bbox": boxes[num]})
    return manifest.build(rows, DATASET, KIND)


def _read_images(root: Path) -> list[list[str]]:
    """``images.txt`` -> [[image_id, class_dir/name.jpg]]; ids and paths unique, under root."""
    path = root / "images.txt"
    first: dict[tuple[str, str], int] = {}
    rows = []
    for lineno, (num, rel) in read_records(path, 2, "<image_id> <class_dir>/<name>.jpg",
                                           "CUB-200-2011 image list"):
        inside(root, rel, path, f"line {lineno}", base=root / "images")
        for key, label in ((num, "image id"), (rel, "image")):
            if (label, key) in first:
                raise BadInputError(path, f"line {lineno}: {label} {key!r} is listed again "
                                    f"(first at line {first[label, key]})")
            first[label, key] = lineno
        rows.append([num, rel])
    return rows


def _read_boxes(path: Path) -> dict[str, str]:
    """``bounding_boxes.txt`` -> {image_id: JSON "[x, y, w, h]"}."""
    expected = "<image_id> <x> <y> <width> <height>"
    out = {}
    for lineno, fields in read_records(path, 5, expected, "CUB-200-2011 bounding boxes"):
        try:
            x, y, w, h = (float(v) for v in fields[1:])
        except ValueError:
            raise BadInputError(path, f"line {lineno}: expected '{expected}' (numbers), "
                                f"got {' '.join(fields)!r}") from None
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            raise BadInputError(path, f"line {lineno}: box values must be finite numbers, "
                                f"got {' '.join(fields[1:])!r}")
        if w <= 0 or h <= 0:
            raise BadInputError(path, f"line {lineno}: box width and height must be > 0")
        out[fields[0]] = json.dumps([x, y, w, h])
    return out
