"""Dotted ``key=value`` overrides of a params dict, as ``dvc exp run -S`` gives them, for the
scripts that retrain or select runs of a changed params.yaml (``scripts/rdg_seeds.py --change``,
``scripts/systems_table.py table --at``). No pipeline stage imports this module."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import yaml

from s2igan.config import ConfigError


def with_overrides(params: dict[str, Any], items: Iterable[str]) -> dict[str, Any]:
    """A copy of ``params`` with each ``key=value`` applied, the value parsed as YAML. A key
    params.yaml lacks is a :class:`ConfigError` naming it, never a silent new key."""
    out = copy.deepcopy(params)
    for item in items:
        key, sep, value = item.partition("=")
        *parents, leaf = key.split(".")
        node: Any = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not sep or not isinstance(node, dict) or leaf not in node:
            raise ConfigError(f"{item!r}: expected KEY=VALUE with a key of params.yaml, "
                              f"and params.yaml has no {key!r}")
        node[leaf] = yaml.safe_load(value)
    return out
