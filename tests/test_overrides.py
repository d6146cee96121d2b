"""s2igan.overrides: `-S key=value` overrides on a copy of params, values as YAML, unknown keys named."""

import pytest

from s2igan.config import ConfigError
from s2igan.overrides import with_overrides


def test_values_are_yaml_on_a_copy_and_an_unknown_key_is_named():
    base = {"rs": {"enabled": True, "every": 2}, "dg": {"image_sizes": [16, 32]}}
    out = with_overrides(base, ["rs.enabled=false", "dg.image_sizes=[8, 16]", "rs.every=4"])
    assert out == {"rs": {"enabled": False, "every": 4}, "dg": {"image_sizes": [8, 16]}}
    assert base["rs"] == {"enabled": True, "every": 2}              # the original is untouched
    assert with_overrides(base, []) == base
    for bad in ("rs.enable=false", "nope.enabled=1", "rs.enabled.x=1", "rs.enabled"):
        with pytest.raises(ConfigError, match=bad.partition("=")[0].replace(".", r"\.")):
            with_overrides(base, [bad])
