"""A crafted model file runs no code: every checkpoint load is ``weights_only`` (issue #11.1).

The attack of the issue: a ``generator.pt`` whose pickle calls ``os.system`` when it is loaded.
``s2igan generate`` and every loader must refuse it with one error naming the file, and the
command must not have run (its marker file is absent).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from s2igan.evaluate.judge import Judges
from s2igan.io import BadInputError
from s2igan.rdg.sampling import load_generator
from s2igan.sen.checkpoint import load_sen


class Payload:
    """Unpickling this calls ``os.system('touch <marker>')``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _crafted(path: Path, marker: Path) -> Path:
    torch.save({"generator": Payload(marker), "config": {}, "embed_dim": 4}, path)
    return path


def test_the_payload_would_run_under_a_plain_unpickle(tmp_path):
    # guards the test itself: a full (unsafe) load of the crafted file does run the command
    marker = tmp_path / "ran"
    path = _crafted(tmp_path / "generator.pt", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("loader", [load_generator, Judges.load, load_sen])
def test_loaders_refuse_a_crafted_file_without_running_it(tmp_path, loader):
    marker = tmp_path / "ran"
    path = _crafted(tmp_path / "model.pt", marker)
    with pytest.raises(BadInputError, match="model.pt"):
        loader(path)
    assert not marker.exists()


def test_generate_command_refuses_a_crafted_generator(tmp_path, monkeypatch, capsys):
    from s2igan import cli
    marker = tmp_path / "ran"
    (tmp_path / "models" / "rdg").mkdir(parents=True)
    _crafted(tmp_path / "models" / "rdg" / "generator.pt", marker)
    (tmp_path / "models" / "sen").mkdir(parents=True)
    _crafted(tmp_path / "models" / "sen" / "best.pt", marker)     # whichever loads first
    wav = tmp_path / "a.wav"
    import numpy as np
    import soundfile as sf
    sf.write(wav, (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000)
    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "params.yaml").write_text((repo / "params.yaml").read_text())
    monkeypatch.setattr(sys, "argv", ["s2igan", "generate", "--audio", str(wav), "-o",
                                      str(tmp_path / "out.png"), "--workspace", str(tmp_path)])
    try:
        code = cli.main()
    except SystemExit as exc:
        code = exc.code
    assert code not in (0, None)
    assert not marker.exists() and not (tmp_path / "out.png").exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("best.pt" in err or "generator.pt" in err)   # one line


@pytest.mark.parametrize("loader", [load_generator, Judges.load, load_sen])
def test_loaders_name_the_file_of_a_foreign_checkpoint(tmp_path, loader):
    """A readable weights-only dict that is not this model's checkpoint (e.g. another model's
    file copied to the wrong place): one error naming the file, not a KeyError."""
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(BadInputError, match="other.pt"):
        loader(path)
