"""The transcript cache of the `asr` stage (``data/transcripts/transcripts.parquet``: one row
per transcribed caption, columns ``caption_id``, ``split``, ``text``) and its word error rate.
Light on purpose (pandas only): the `embed` stage reads it without the recogniser's imports.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from s2igan.asr.wer import word_errors
from s2igan.io import BadInputError

TRANSCRIPTS = "transcripts.parquet"
COLUMNS = ["caption_id", "split", "text"]


def wer_metrics(transcripts: pd.DataFrame, truth: pd.Series) -> dict[str, float]:
    """``<split>/wer`` (corpus WER of ``transcripts.text`` against ``truth``, row-aligned) and
    ``<split>/wer_words`` (reference words) per split of ``transcripts``."""
    out: dict[str, float] = {}
    for split, rows in transcripts.groupby("split").groups.items():
        errors, total = word_errors(truth.loc[rows].fillna(""), transcripts.loc[rows, "text"])
        out[f"{split}/wer"] = round(errors / total, 4) if total else float("nan")
        out[f"{split}/wer_words"] = int(total)
    return out


def read_transcripts(directory: str | Path) -> pd.DataFrame:
    """The transcript cache (:class:`BadInputError` if the `asr` stage has not written it)."""
    path = Path(directory) / TRANSCRIPTS
    if not path.is_file():
        raise BadInputError(path, "transcript cache not found (run the `asr` stage)")
    return pd.read_parquet(path)
