"""The 7-class Places subset with spoken captions (Places Audio Captions; Harwath et al.).

S2IGAN (Sec. IV-A) uses the subset of [10]: bedroom, dinette, dining room, home office, hotel
room, kitchenette and living room, 13,803 train / 2,870 test image-caption pairs, one spoken
caption per image. There is no single canonical download of this subset, so we read the layout
of the Places Audio Caption release (``PlacesAudio_400k_distro``) next to the Places205 images:

    root/
      metadata/train.json        split "train"
      metadata/test.json         split "test" (``val.json``, the release's held-out file, is
                                 used when there is no test.json)
      wavs/...                   the release's audio (paths as given in the JSON)
      images/<l>/<category>/<name>.jpg   Places205 images, e.g. images/b/bedroom/gsun_x.jpg

Each JSON file is an object with a ``"data"`` list of records, each with at least
``"wav"`` (path relative to ``root``, e.g. ``"wavs/12/utterance_123.wav"``) and ``"image"``
(path relative to ``root/images``, e.g. ``"b/bedroom/gsun_x.jpg"``); ``"uttid"`` and
``"asr_text"`` are optional (``asr_text`` becomes the manifest's ``text``, for reports only).
Optional top-level keys ``"audio_base_path"`` / ``"image_base_path"`` (absolute, or relative to
``root``) replace ``root`` / ``root/images`` as the bases when they name an existing folder; the
release's own JSON files carry its authors' absolute paths, which are ignored elsewhere. Every
image and recording must end up under ``root`` (a record or base path outside it is refused,
naming the JSON file), and every image is decoded once (a corrupt JPEG is refused, naming it).

The scene class comes from the image path: the folders between the optional one-letter folder
and the file name, e.g. ``b/bedroom`` -> ``bedroom``, ``d/dinette/home`` -> ``dinette/home``.
Records of other categories are skipped, so the full release's JSON works unchanged; the split
is the JSON file's (the release's train/val files give a different test set than the paper's
2,870 pairs: for the paper's split, put the subset's test records in ``test.json``). Class names are the Places205/365 folder names below (a space or ``_``
instead of ``/`` is accepted, and ``dinette`` alone), with ``class_id`` 0..6 in this order.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from s2igan.data import manifest
from s2igan.data.adapters._common import check_exists, check_images, inside, require
from s2igan.io import BadInputError

DATASET = "places"
KIND = "scene"
CLASSES = ("bedroom", "dinette/home", "dining_room", "home_office", "hotel_room",
           "kitchenette", "living_room")
_ALIASES = {c.replace("/", "_"): c for c in CLASSES} | {"dinette": "dinette/home"}


def scene_class(image: str) -> str | None:
    """Canonical class of a Places image path (``b/bedroom/x.jpg`` -> ``bedroom``), or None."""
    folders = Path(image).parts[:-1]
    if folders and len(folders[0]) == 1:  # Places' first-letter folder
        folders = folders[1:]
    key = "_".join(folders).lower().replace(" ", "_")
    return _ALIASES.get(key)


def load(root: Path) -> pd.DataFrame:
    """Read the 7-class Places spoken-caption subset under ``root`` into the manifest."""
    root = Path(root)
    meta = require(root / "metadata", "Places Audio Caption metadata: train.json, test.json")
    test_file = meta / "test.json"
    if not test_file.exists() and (meta / "val.json").exists():
        test_file = meta / "val.json"
    rows: list[dict] = []
    for split, path in (("train", meta / "train.json"), ("test", test_file)):
        rows.extend(_read_split(root, path, split))
    _unique_image_ids(rows)
    splits_of: dict[str, set[str]] = {}
    for row in rows:
        splits_of.setdefault(row["image_id"], set()).add(row["split"])
    leaked = sorted(i for i, s in splits_of.items() if len(s) > 1)
    if leaked:
        raise BadInputError(test_file, f"image {leaked[0]!r} is in both train.json and "
                            f"{test_file.name} ({len(leaked)} such images)")
    check_images((Path(r["image_path"]) for r in rows), "Places image")
    check_exists((Path(r["audio_path"]) for r in rows), "spoken caption")
    return manifest.build(rows, DATASET, KIND)


def _read_split(root: Path, path: Path, split: str) -> list[dict]:
    """Rows of one metadata JSON file, the 7 classes only."""
    require(path, f"Places Audio Caption {split} metadata: {{\"data\": [{{\"wav\", \"image\"}}]}}")
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(path, f"not valid UTF-8 JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise BadInputError(path, "expected a JSON object with a \"data\" list of records")
    audio_base = _base(root, doc.get("audio_base_path"), root)
    image_base = _base(root, doc.get("image_base_path"), root / "images")
    rows = []
    for i, record in enumerate(doc["data"]):
        if not (isinstance(record, dict) and isinstance(record.get("wav"), str)
                and isinstance(record.get("image"), str)):
            raise BadInputError(path, f"data[{i}]: expected an object with string keys "
                                "\"wav\" and \"image\"")
        inside(root, record["image"], path, f"data[{i}].image", base=image_base)
        inside(root, record["wav"], path, f"data[{i}].wav", base=audio_base)
        name = scene_class(record["image"])
        if name is None:
            continue
        text = record.get("asr_text")
        rows.append({"image_id": Path(record["image"]).stem,
                     "image_key": Path(record["image"]).with_suffix("").as_posix(),
                     "image_path": str(image_base / record["image"]),
                     "class_id": CLASSES.index(name), "class_name": name, "split": split,
                     "text": (text.strip() or None) if isinstance(text, str) else None,
                     "audio_path": str(audio_base / record["wav"])})
    if not rows:
        raise BadInputError(path, f"no record of the 7 classes {list(CLASSES)} (class is read "
                            "from the image path, e.g. \"b/bedroom/x.jpg\")")
    return rows


def _base(root: Path, given: object, default: Path) -> Path:
    """A JSON base path if it names an existing folder (relative to root), else ``default``.

    The release's JSON files carry absolute base paths of its authors' machines; those do not
    exist elsewhere and fall back to the documented default.
    """
    if isinstance(given, str) and given and (root / given).is_dir():
        return root / given
    return default


def _unique_image_ids(rows: list[dict]) -> None:
    """Image id = file stem; the whole relative path where stems collide. Numbers captions."""
    keys_of: dict[str, set[str]] = {}
    for row in rows:
        keys_of.setdefault(row["image_id"], set()).add(row["image_key"])
    count: dict[str, int] = {}
    for row in rows:
        key = row.pop("image_key")
        if len(keys_of[row["image_id"]]) > 1:
            row["image_id"] = key.replace("/", "__")
        row["caption_idx"] = count.get(row["image_id"], 0)
        count[row["image_id"]] = row["caption_idx"] + 1
