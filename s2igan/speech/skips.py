"""The ``on_bad_input`` policy shared by the speech stages: stop at once, or skip and report."""

from __future__ import annotations

from pathlib import Path

from s2igan.io import BadInputError, write_json

MODES = ("error", "skip")


class BadInputPolicy:
    """``error``: re-raise the first :class:`BadInputError`; ``skip``: record it and go on.

    Skipped items are written to ``reports/<stage>/skipped.json`` with their reasons.
    """

    def __init__(self, mode: str):
        if mode not in MODES:
            raise ValueError(f"on_bad_input must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.skipped: list[dict[str, str]] = []

    def handle(self, item_id: str, err: BadInputError) -> None:
        if self.mode == "error":
            raise err
        self.skipped.append({"id": str(item_id), "path": err.path or "", "problem": err.problem})

    def write(self, path: str | Path) -> None:
        write_json(path, {"count": len(self.skipped), "items": self.skipped})
