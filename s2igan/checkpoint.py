"""Checkpoints of every trained model (SEN, RDG, judges): plain dicts saved atomically with
``torch.save`` and loaded with ``weights_only=True`` (nanoGPT style).

What may go in a checkpoint: tensors and state dicts, numbers, strings, ``None`` and lists,
tuples and dicts of these; configs as :func:`s2igan.config.to_dict` gives them. Random-number
states go through :func:`rng_state` / :func:`set_rng_state`: torch's CPU and CUDA states are
byte tensors, numpy's ``bit_generator.state`` a dict of strings and integers.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2igan.io import BadInputError, atomic_path


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (never a half-written checkpoint)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    what: str = "checkpoint", missing: str = "",
                    keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """The dict saved by :func:`save_checkpoint`, weights only; :class:`BadInputError` naming
    ``what`` when the file is missing (``missing``: the hint to add), not a checkpoint, or a
    checkpoint without the entries ``keys`` (another model's file)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, f"{what} not found" + (f" ({missing})" if missing else ""))
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for a broken/foreign file
        raise BadInputError(path, f"not a readable {what} ({exc})") from None
    absent = [k for k in keys if not isinstance(state, dict) or k not in state]
    if absent:
        raise BadInputError(path, f"not a {what}: no {', '.join(absent)} in it")
    return state


def code_fingerprint(*packages: str) -> str:
    """SHA-1 of the Python sources of the named ``s2igan`` subpackages (e.g. ``"rdg"``).

    A resumable checkpoint records it, so that a run is only continued by the code that started
    it: after an edit of the training code, DVC re-runs the stage and training starts afresh
    instead of continuing the old weights with new code."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha1()
    for name in packages:
        for src in sorted((root / name).rglob("*.py")):
            h.update(src.relative_to(root).as_posix().encode())
            h.update(src.read_bytes())
    return h.hexdigest()


def rng_state(rng: np.random.Generator | None = None) -> dict[str, Any]:
    """torch's CPU (and CUDA) random states, and ``rng``'s when given, for a checkpoint."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    if rng is not None:
        state["numpy"] = rng.bit_generator.state
    return state


def set_rng_state(state: dict[str, Any], rng: np.random.Generator | None = None) -> None:
    """Restore what :func:`rng_state` saved (CUDA only when saved and available)."""
    torch.set_rng_state(state["torch"].cpu())
    if torch.cuda.is_available() and state.get("cuda") is not None:
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    if rng is not None:
        rng.bit_generator.state = state["numpy"]
