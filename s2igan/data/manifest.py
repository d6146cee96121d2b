"""The common caption manifest (one Parquet file, one row per caption).

Every dataset (SynthBirds, CUB-200, Oxford-102, Flickr8k, Places) is reduced to this table, so
all later stages are dataset-agnostic.

Columns
-------
caption_id    str   unique id of the caption, ``<image_id>#<caption_idx>``
image_id      str   unique id of the image
image_path    str   path of the image file (relative to the working directory, or absolute)
class_id      int   integer class label (-1 when the dataset has none, e.g. Flickr8k)
class_name    str   class name ("" when none)
split         str   ``train`` / ``val`` / ``test``
caption_idx   int   index of the caption among the image's captions
text          str?  caption text (None for real-speech datasets without transcripts)
audio_path    str?  path of a real-speech recording (None when speech is synthesised)
attributes    str   JSON object of ground-truth attributes (SynthBirds), ``{}`` otherwise
bbox          str   JSON ``[x, y, w, h]`` bounding box (CUB), ``[]`` otherwise

File-level metadata (Parquet schema metadata): ``dataset`` (name) and ``kind``
(``fine_grained`` or ``scene``), which decide the SEN mask and relation supervisor variant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from s2igan.io import BadInputError, atomic_path

Kind = Literal["fine_grained", "scene"]

COLUMNS: dict[str, pa.DataType] = {
    "caption_id": pa.string(),
    "image_id": pa.string(),
    "image_path": pa.string(),
    "class_id": pa.int64(),
    "class_name": pa.string(),
    "split": pa.string(),
    "caption_idx": pa.int64(),
    "text": pa.string(),
    "audio_path": pa.string(),
    "attributes": pa.string(),
    "bbox": pa.string(),
}
SPLITS = ("train", "val", "test")
KINDS = ("fine_grained", "scene")
SCHEMA = pa.schema([pa.field(name, dtype) for name, dtype in COLUMNS.items()])


def build(rows: list[dict], dataset: str, kind: Kind) -> pd.DataFrame:
    """Make a manifest frame from row dicts, filling optional columns and validating it."""
    frame = pd.DataFrame(rows)
    defaults = {"text": None, "audio_path": None, "attributes": "{}", "bbox": "[]",
                "class_name": "", "class_id": -1}
    for column, default in defaults.items():
        if column not in frame:
            frame[column] = default
        elif default is not None:
            frame[column] = frame[column].where(frame[column].notna(), default)
    if "caption_id" not in frame and len(frame):
        frame["caption_id"] = frame["image_id"] + "#" + frame["caption_idx"].astype(str)
    frame = frame.reindex(columns=list(COLUMNS))
    frame.attrs.update(dataset=dataset, kind=kind)
    validate(frame)
    return frame


def validate(frame: pd.DataFrame, where: str = "manifest") -> None:
    """Raise :class:`BadInputError` if the frame breaks the manifest contract."""
    missing = [c for c in COLUMNS if c not in frame]
    if missing:
        raise BadInputError(where, f"missing column(s) {missing}")
    if frame.empty:
        raise BadInputError(where, "no captions (empty manifest)")
    if frame["caption_id"].duplicated().any():
        dup = frame.loc[frame["caption_id"].duplicated(), "caption_id"].iloc[0]
        raise BadInputError(where, f"duplicate caption_id {dup!r}")
    bad_split = sorted(set(frame["split"]) - set(SPLITS))
    if bad_split:
        raise BadInputError(where, f"unknown split(s) {bad_split}; expected {SPLITS}")
    no_speech = frame["text"].isna() & frame["audio_path"].isna()
    if no_speech.any():
        cid = frame.loc[no_speech, "caption_id"].iloc[0]
        raise BadInputError(where, f"caption {cid!r} has neither text nor audio")
    kind = frame.attrs.get("kind")
    if kind is not None and kind not in KINDS:
        raise BadInputError(where, f"unknown dataset kind {kind!r}; expected {KINDS}")


def write(frame: pd.DataFrame, path: str | Path) -> None:
    """Validate and write the manifest atomically, with dataset name and kind as metadata."""
    validate(frame, str(path))
    table = pa.Table.from_pandas(frame.reset_index(drop=True), schema=SCHEMA, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"s2igan.dataset"] = str(frame.attrs.get("dataset", "")).encode()
    meta[b"s2igan.kind"] = str(frame.attrs.get("kind", "fine_grained")).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read(path: str | Path) -> pd.DataFrame:
    """Read a manifest; ``frame.attrs`` carries ``dataset`` and ``kind``."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "manifest not found (run the `prepare` stage first)")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise BadInputError(path, f"not a readable Parquet manifest ({exc})") from None
    meta = table.schema.metadata or {}
    frame = table.to_pandas()
    frame.attrs["dataset"] = meta.get(b"s2igan.dataset", b"").decode()
    frame.attrs["kind"] = meta.get(b"s2igan.kind", b"fine_grained").decode()
    validate(frame, str(path))
    return frame


def attributes(frame: pd.DataFrame) -> pd.DataFrame:
    """Expand the JSON ``attributes`` column into one column per attribute."""
    return pd.DataFrame([json.loads(a) for a in frame["attributes"]], index=frame.index)


def images(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per image (first caption's row), in a stable order: the image table."""
    out = frame.drop_duplicates("image_id").sort_values("image_id").reset_index(drop=True)
    out.attrs.update(frame.attrs)
    return out
