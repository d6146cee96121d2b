"""Oxford-102 flowers from the original images and Reed et al.'s caption tree.

Expected under ``root`` (the unpacked ``102flowers.tgz``, giving ``jpg/``, with the contents of
Reed et al.'s ``cvpr2016_flowers`` archive beside it)::

    jpg/image_XXXXX.jpg                       8,189 images
    text_c10/class_XXXXX/image_XXXXX.txt      10 captions per image, one per line (fewer is
                                              refused, naming the file; more are kept)
    trainvalclasses.txt                       82 class_XXXXX names (split "train")
    testclasses.txt                           20 class_XXXXX names (split "test")

The class of an image is taken from its caption folder ``class_XXXXX`` (1-based XXXXX, so
``class_id = XXXXX - 1``), not from the original ``imagelabels.mat``: the two agree, and this
way no MATLAB-file reader (scipy.io) is needed. Every image with a caption file becomes part of
the manifest; images under ``jpg/`` without captions are ignored. Split by class, 82/20, as in
StackGAN and S2IGAN (Sec. IV-A). Every image with captions is decoded once, so a truncated or
corrupt JPEG is refused here, naming the file (see ``_common.check_images`` for the cost).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from s2igan.data import manifest
from s2igan.data.adapters._common import check_images, class_split, read_captions, require
from s2igan.io import BadInputError

DATASET = "oxford"
KIND = "fine_grained"
CLASS_DIR = re.compile(r"class_(\d{5})")
CAPTIONS_PER_IMAGE = 10
CAPTIONS_HINT = "Reed et al. captions: unpack cvpr2016_flowers's text_c10/ into the root"


def load(root: Path) -> pd.DataFrame:
    """Read Oxford-102 under ``root`` into the manifest (one row per caption)."""
    root = Path(root)
    require(root / "jpg", "Oxford-102 image folder jpg/image_XXXXX.jpg (102flowers.tgz)")
    text_dir = require(root / "text_c10", f"caption folder text_c10/class_XXXXX/ ({CAPTIONS_HINT})")
    class_dirs = sorted(p.name for p in text_dir.iterdir() if p.is_dir())
    if not class_dirs:
        raise BadInputError(text_dir, f"no class_XXXXX folders ({CAPTIONS_HINT})")
    for name in class_dirs:
        if not CLASS_DIR.fullmatch(name):
            raise BadInputError(text_dir / name, "unexpected folder; expected class_XXXXX "
                                "(five digits, 1-based class number)")
    split_of = class_split(root / "trainvalclasses.txt", root / "testclasses.txt",
                           class_dirs, "Oxford-102 (Reed et al. cvpr2016_flowers)")

    caption_files = [(name, path) for name in class_dirs
                     for path in sorted((text_dir / name).glob("*.txt"))]
    if not caption_files:
        raise BadInputError(text_dir, f"no caption files image_XXXXX.txt ({CAPTIONS_HINT})")
    check_images((root / "jpg" / f"{path.stem}.jpg" for _, path in caption_files),
                 "Oxford-102 image (jpg/, for caption file of the same name)")
    rows: list[dict] = []
    for class_dir, path in tqdm(caption_files, desc="oxford captions", leave=False):
        class_id = int(CLASS_DIR.fullmatch(class_dir).group(1)) - 1
        image_path = str(root / "jpg" / f"{path.stem}.jpg")
        captions = read_captions(path, "one caption per line")
        if len(captions) < CAPTIONS_PER_IMAGE:
            raise BadInputError(path, f"{len(captions)} captions, expected "
                                f"{CAPTIONS_PER_IMAGE} (one per line; {CAPTIONS_HINT})")
        for idx, text in enumerate(captions):
            rows.append({"image_id": path.stem, "image_path": image_path,
                         "class_id": class_id, "class_name": class_dir,
                         "split": split_of[class_dir], "caption_idx": idx, "text": text})
    return manifest.build(rows, DATASET, KIND)
