"""Typed configs: frozen dataclasses built from a params.yaml section, refusing unknown keys."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A params section does not match its config dataclass."""


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "") -> T:
    """Build the frozen dataclass ``cls`` from ``data``.

    Unknown keys are refused (a typo in params.yaml must not be silently ignored); missing keys
    take the dataclass default; nested dataclasses are built recursively; lists become tuples so
    that configs stay hashable.
    """
    data = dict(data or {})
    where = where or cls.__name__
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{where}: {exc}") from None


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_dict(hint, value, where)
    if origin in (tuple, list) and isinstance(value, (list, tuple)):
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        return tuple(_coerce(inner, v, where) for v in value)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is type(None) and value is None:
                return None
        non_none = [a for a in typing.get_args(hint) if a is not type(None)]
        return _coerce(non_none[0], value, where) if len(non_none) == 1 else value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is Path and isinstance(value, str):
        return Path(value)
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-dict view of a config (for checkpoints and MLflow params)."""
    return dataclasses.asdict(cfg)


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Read params.yaml (used by stage scripts only, never by the library)."""
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts to ``a.b.c`` keys (MLflow params, metrics)."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out
