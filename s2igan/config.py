"""Typed configs: frozen dataclasses built from a params.yaml section, refusing unknown keys and
values of the wrong type; each dataclass checks its ranges in ``__post_init__`` with the helpers
below (:func:`at_least`, :func:`positive`, :func:`fraction`, :func:`one_of`), so a bad value
fails in one line naming its key (``sen.batch_size must be >= 1, got -8``) before any work."""

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
    that configs stay hashable. Values must match the type hints: a bool is ``true``/``false``
    (not the string ``"false"``), an int is a whole number (not a bool, not ``"ten"``, not 2.5;
    ``8.0`` becomes 8), a float is a number (ints become floats), ``None`` only where the hint
    is Optional. A range check of ``__post_init__`` that fails becomes a :class:`ConfigError`.
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
    except ConfigError:
        raise
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{where}: {exc}") from None
    except ValueError as exc:  # a range check of __post_init__
        raise ConfigError(str(exc)) from None


def _wrong(where: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{where}: got {value!r} ({type(value).__name__}), expected {expected}")


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """``value`` as the type ``hint`` (see :func:`from_dict`); ConfigError if it is not one."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise _wrong(where, value, f"a mapping of {hint.__name__} keys")
        return from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None:
            if type(None) in args:
                return None
            raise _wrong(where, value, _name(hint))
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _coerce(non_none[0], value, where)
        for arg in non_none:
            try:
                return _coerce(arg, value, where)
            except ConfigError:
                continue
        raise _wrong(where, value, _name(hint))
    if value is None:
        raise _wrong(where, value, f"{_name(hint)} (null is allowed only for Optional keys)")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _wrong(where, value, f"a list ({_name(hint)})")
        args = typing.get_args(hint)
        if args and (len(args) == 1 or args[-1] is Ellipsis):
            return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if args:
            if len(value) != len(args):
                raise _wrong(where, value, f"a list of {len(args)} items ({_name(hint)})")
            return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        return tuple(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise _wrong(where, value, "a bool (true or false, unquoted)")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _wrong(where, value, "an int")
        if isinstance(value, float):
            if not value.is_integer():
                raise _wrong(where, value, "an int (a whole number)")
            return int(value)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _wrong(where, value, "a float")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _wrong(where, value, "a string")
        return value
    if hint is Path:
        if not isinstance(value, (str, Path)):
            raise _wrong(where, value, "a path (string)")
        return Path(value)
    return value


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


# -- range checks for __post_init__ (each raises ConfigError naming the key) -------------------
def at_least(where: str, value: Any, low: float) -> None:
    """``where`` (e.g. ``sen.batch_size``) must be >= ``low``."""
    if not value >= low:
        raise ConfigError(f"{where} must be >= {low}, got {value!r}")


def positive(where: str, value: Any) -> None:
    if not value > 0:
        raise ConfigError(f"{where} must be > 0, got {value!r}")


def fraction(where: str, value: Any, *, closed: bool = False) -> None:
    """A fraction or probability in [0, 1), or in [0, 1] with ``closed``."""
    below_top, bracket = (value <= 1.0, "]") if closed else (value < 1.0, ")")
    if not (0.0 <= value and below_top):
        raise ConfigError(f"{where} must be in [0, 1{bracket}, got {value!r}")


def one_of(where: str, value: Any, options: typing.Iterable[Any]) -> None:
    options = tuple(options)
    if value not in options:
        raise ConfigError(f"{where} must be one of {list(options)}, got {value!r}")


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
