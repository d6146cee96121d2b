from dataclasses import dataclass, field

import pytest

from s2igan.config import ConfigError, flatten, fraction, from_dict
from s2igan.rdg.config import RDGConfig


@dataclass(frozen=True)
class Inner:
    ngf: int = 32
    sizes: tuple[int, ...] = (64, 128)


@dataclass(frozen=True)
class Outer:
    lr: float = 1e-3
    name: str | None = None
    inner: Inner = field(default_factory=Inner)


def test_from_dict_builds_nested_frozen_config():
    cfg = from_dict(Outer, {"lr": 1, "inner": {"sizes": [32, 64, 128]}})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.inner.sizes == (32, 64, 128)
    assert cfg.inner.ngf == 32
    hash(cfg)  # frozen and hashable


def test_unknown_key_is_refused_with_its_name():
    with pytest.raises(ConfigError, match=r"sen.*\['lrr'\]"):
        from_dict(Outer, {"lrr": 0.1}, "sen")
    with pytest.raises(ConfigError, match="typo"):
        from_dict(Outer, {"inner": {"typo": 1}})


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}


def test_fraction_is_half_open_unless_closed():
    fraction("x", 0.0)
    fraction("x", 1.0, closed=True)
    with pytest.raises(ConfigError, match=r"x must be in \[0, 1\), got 1.0"):
        fraction("x", 1.0)
    with pytest.raises(ConfigError, match=r"x must be in \[0, 1\], got 1.5"):
        fraction("x", 1.5, closed=True)
    with pytest.raises(ConfigError, match=r"\[0, 1\], got -0.1"):
        fraction("x", -0.1, closed=True)
    with pytest.raises(ConfigError, match=r"\[0, 1\), got nan"):
        fraction("x", float("nan"))


def test_lr_decay_from_accepts_one_and_refuses_more():
    assert RDGConfig(lr_decay_from=1.0).lr_decay_from == 1.0
    with pytest.raises(ConfigError, match=r"rdg.lr_decay_from must be in \[0, 1\], got 1.2"):
        RDGConfig(lr_decay_from=1.2)
