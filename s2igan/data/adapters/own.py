"""Your own data in one file (``data.name: manifest``): one CSV or JSONL row per caption.

Expected under ``root`` (``data.root``)::

    manifest.csv  or  manifest.jsonl      exactly one of the two
    <any folders of images and recordings the rows name>

Columns (CSV header / JSONL keys), paths relative to the manifest file (i.e. to ``root``)::

    image     required  the image file (anything PIL decodes: PNG, JPEG, ...)
    audio     optional  a spoken caption (WAV/FLAC/OGG, any rate): goes straight to ``fbank``
    caption   optional  the caption's text: spoken by the ``tts`` stage when a row has no audio
                        (kept as the transcript when it has)
    class     optional  class label; present -> kind ``fine_grained`` (Eq. 7 distinctive loss,
                        class-based retrieval), absent -> kind ``scene`` (R@50, class_id -1)
    split     optional  train / val / test; absent -> a seeded split, see :func:`seeded_split`
    id        optional  the caption id (unique); absent -> ``<image_id>#<n>``

Every row needs ``image`` and an ``audio`` or a non-empty ``caption``. ``image_id`` is the image
file's stem (its path under ``root`` with ``/`` -> ``__`` where two stems collide); the rows of one
image are its captions, in file order.

Refused, one :class:`~s2igan.io.BadInputError` naming the manifest file and line: no manifest or
both, an unknown column, a row without image or without audio and caption, a path that is absolute
or climbs out of ``root``, a missing file, an image or recording that does not decode (every one is
decoded once), an empty ``class`` / ``split`` / ``id`` cell where the column exists, an unknown
split, a repeated ``id``, a recording named twice, the same caption twice for one image, one image
with two classes or in two splits, and a split without training or test images.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import soundfile as sf

from s2igan.data import manifest
from s2igan.data.adapters._common import decode_problem, inside
from s2igan.io import BadInputError

DATASET = "manifest"
FILES = ("manifest.csv", "manifest.jsonl")
COLUMNS = ("image", "audio", "caption", "class", "split", "id")
SPLITS = ("train", "val", "test")
TEST_FRACTION = 0.2   # of the classes (class column) or of the images (none) in a seeded split


@dataclass(frozen=True)
class Row:
    """One manifest row, checked for its own content; ``line`` is its line in the file."""

    line: int
    image: str
    audio: str | None
    caption: str | None
    label: str | None
    split: str | None
    id: str | None


def find_manifest(root: Path) -> Path:
    """``root/manifest.csv`` or ``root/manifest.jsonl`` (exactly one)."""
    found = [root / name for name in FILES if (root / name).is_file()]
    if not found:
        raise BadInputError(root / FILES[0], f"missing manifest: put one manifest.csv or "
                            f"manifest.jsonl in {root} (columns {', '.join(COLUMNS)})")
    if len(found) > 1:
        raise BadInputError(found[1], f"both manifest.csv and manifest.jsonl in {root}: "
                            "keep one")
    return found[0]


def load(root: Path, seed: int = 0) -> pd.DataFrame:
    """Read the manifest under ``root`` into the common caption manifest."""
    root = Path(root)
    path = find_manifest(root)
    records = _read_csv(path) if path.suffix == ".csv" else _read_jsonl(path)
    if not records:
        raise BadInputError(path, "no rows (expected one row per caption)")
    rows = [_row(path, line, record) for line, record in records]
    _check_columns_agree(path, rows)
    _check_duplicates(path, rows)
    for row in rows:
        _check_files(root, path, row)
    split_of = _split_of(path, rows, seed)
    return _frame(root, rows, split_of)


# ----------------------------------------------------------------------------- reading

def _read_csv(path: Path) -> list[tuple[int, dict]]:
    """``(line, {column: text})`` of every non-blank CSV record (header on line 1)."""
    text = _text(path)
    reader = csv.DictReader(text.splitlines(keepends=True))
    _known_columns(path, reader.fieldnames or [], "line 1 (header)")
    out = []
    try:
        for record in reader:
            if None in record:
                raise BadInputError(path, f"line {reader.line_num}: more fields than the "
                                    f"header's {len(reader.fieldnames)}")
            if any((v or "").strip() for v in record.values()):
                out.append((reader.line_num, record))
    except csv.Error as exc:
        raise BadInputError(path, f"line {reader.line_num}: not valid CSV ({exc})") from None
    return out


def _read_jsonl(path: Path) -> list[tuple[int, dict]]:
    """``(line, {key: value})`` of every non-blank JSONL line."""
    out = []
    for line, text in enumerate(_text(path).splitlines(), start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInputError(path, f"line {line}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise BadInputError(path, f"line {line}: expected a JSON object per line")
        _known_columns(path, list(record), f"line {line}")
        for key, value in record.items():
            if value is not None and not isinstance(value, (str, int)) or isinstance(value, bool):
                raise BadInputError(path, f"line {line}: {key!r} must be a string, got "
                                    f"{json.dumps(value)}")
        out.append((line, {k: None if v is None else str(v) for k, v in record.items()}))
    return out


def _text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(path, f"not UTF-8 text (byte {exc.start})") from None


def _known_columns(path: Path, columns: list[str], where: str) -> None:
    for column in columns:
        if column not in COLUMNS:
            raise BadInputError(path, f"{where}: unknown column {column!r}; known: "
                                f"{', '.join(COLUMNS)}")
    if where.endswith("(header)"):
        if "image" not in columns:
            raise BadInputError(path, f"{where}: no 'image' column")
        if "audio" not in columns and "caption" not in columns:
            raise BadInputError(path, f"{where}: needs an 'audio' or a 'caption' column")


def _row(path: Path, line: int, record: dict) -> Row:
    """One record as a :class:`Row`; empty cells of optional columns are refused."""
    def cell(key: str) -> str | None:
        value = record.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    where = f"line {line}"
    if cell("image") is None:
        raise BadInputError(path, f"{where}: no image")
    if cell("audio") is None and cell("caption") is None:
        raise BadInputError(path, f"{where}: empty caption and no audio (a row needs one)")
    for key in ("class", "split", "id"):
        if key in record and cell(key) is None:
            raise BadInputError(path, f"{where}: empty {key!r} (the column is there, so every "
                                "row needs one)")
    split = cell("split")
    if split is not None and split not in SPLITS:
        raise BadInputError(path, f"{where}: unknown split {split!r}; expected one of {SPLITS}")
    return Row(line, cell("image"), cell("audio"), cell("caption"), cell("class"), split,
               cell("id"))


# ----------------------------------------------------------------------------- checks

def _check_columns_agree(path: Path, rows: list[Row]) -> None:
    """JSONL rows may omit keys; ``class``/``split``/``id`` are all-or-none, like a CSV column."""
    for key in ("label", "split", "id"):
        given = [r for r in rows if getattr(r, key) is not None]
        if given and len(given) < len(rows):
            lacking = next(r for r in rows if getattr(r, key) is None)
            name = "class" if key == "label" else key
            raise BadInputError(path, f"line {lacking.line}: no {name!r} (line {given[0].line} "
                                "has one: every row needs one, or none)")


def _check_duplicates(path: Path, rows: list[Row]) -> None:
    """Unique ids and recordings, no caption twice per image, one class and split per image."""
    first: dict[tuple, int] = {}
    for row in rows:
        keys = [("id", row.id), ("recording", row.audio)]
        if row.audio is None:
            keys.append(("caption", (row.image, row.caption)))
        for what, key in keys:
            if key is None:
                continue
            if (what, key) in first:
                shown = key[1] if what == "caption" else key
                raise BadInputError(path, f"line {row.line}: {what} {shown!r} repeats line "
                                    f"{first[what, key]}")
            first[what, key] = row.line
    for attr, name in (("label", "class"), ("split", "split")):
        seen: dict[str, Row] = {}
        for row in rows:
            prev = seen.setdefault(row.image, row)
            if getattr(row, attr) != getattr(prev, attr):
                raise BadInputError(path, f"line {row.line}: image {row.image!r} has {name} "
                                    f"{getattr(row, attr)!r}, but {getattr(prev, attr)!r} on "
                                    f"line {prev.line}")


def _check_files(root: Path, path: Path, row: Row) -> None:
    """The row's image decodes and its recording holds samples (each read once, in full)."""
    where = f"line {row.line}"
    image = inside(root, row.image, path, where)
    if not image.is_file():
        raise BadInputError(path, f"{where}: image {row.image!r} does not exist")
    problem = decode_problem(image)
    if problem:
        raise BadInputError(path, f"{where}: image {row.image!r} does not decode: {problem}")
    if row.audio is None:
        return
    audio = inside(root, row.audio, path, where)
    if not audio.is_file():
        raise BadInputError(path, f"{where}: audio {row.audio!r} does not exist")
    try:
        wave, _ = sf.read(str(audio), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises LibsndfileError / RuntimeError / TypeError
        raise BadInputError(path, f"{where}: audio {row.audio!r} does not decode: "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                            ) from None
    if wave.shape[0] == 0:
        raise BadInputError(path, f"{where}: audio {row.audio!r} holds no samples")


# ----------------------------------------------------------------------------- split and frame

def seeded_split(keys: list[str], seed: int) -> dict[str, str]:
    """``train``/``test`` for each key: the ``ceil(TEST_FRACTION * n)`` keys (at least one, and
    one left for training) of smallest ``sha256(f"{seed}:{key}")`` go to test.

    Keys are class labels (a class column: the split is class-disjoint, as CUB's) or images
    (none: image-disjoint, as Flickr8k's). Hash order, not a shuffle, so adding a row for a new
    image or class moves no existing key to the other split.
    """
    keys = sorted(set(keys))
    n_test = max(1, math.ceil(TEST_FRACTION * len(keys)))
    order = sorted(keys, key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())
    test = set(order[:n_test])
    return {k: "test" if k in test else "train" for k in keys}


def _split_of(path: Path, rows: list[Row], seed: int) -> dict[str, str]:
    """image -> split: the split column, else :func:`seeded_split` by class or by image."""
    if rows[0].split is not None:
        split_of = {r.image: r.split for r in rows}
    else:
        by_class = rows[0].label is not None
        keys = [r.label if by_class else r.image for r in rows]
        if len(set(keys)) < 2:
            what = "classes" if by_class else "images"
            raise BadInputError(path, f"a split needs at least 2 {what}, the manifest has "
                                f"{len(set(keys))} (add rows, or a 'split' column)")
        split = seeded_split(keys, seed)
        split_of = {r.image: split[r.label if by_class else r.image] for r in rows}
    for needed in ("train", "test"):
        if needed not in split_of.values():
            raise BadInputError(path, f"no {needed} images (split column: "
                                f"{sorted(set(split_of.values()))})")
    return split_of


def _frame(root: Path, rows: list[Row], split_of: dict[str, str]) -> pd.DataFrame:
    stems: dict[str, set[str]] = {}
    for row in rows:
        stems.setdefault(Path(row.image).stem, set()).add(row.image)
    classes = {name: i for i, name in enumerate(sorted({r.label for r in rows if r.label}))}
    count: dict[str, int] = {}
    out = []
    for row in rows:
        stem = Path(row.image).stem
        image_id = (stem if len(stems[stem]) == 1
                    else Path(row.image).with_suffix("").as_posix().replace("/", "__"))
        idx = count.get(image_id, 0)
        count[image_id] = idx + 1
        record = {"image_id": image_id, "image_path": str(root / row.image),
                  "split": split_of[row.image], "caption_idx": idx, "text": row.caption,
                  "audio_path": None if row.audio is None else str(root / row.audio)}
        if row.id is not None:
            record["caption_id"] = row.id
        if row.label is not None:
            record.update(class_id=classes[row.label], class_name=row.label)
        out.append(record)
    return manifest.build(out, DATASET, "fine_grained" if classes else "scene")
