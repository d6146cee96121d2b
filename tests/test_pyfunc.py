"""The model bundle as an MLflow pyfunc model: logged from code with a signature, registered in
the sqlite store's model registry, loaded back by its registry URI without network access or
pickle, and it generates exactly the images of ``s2igan.load_bundle``."""

import io
import pickle
import socket

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from s2igan import load_bundle, pyfunc
from s2igan.bundle import write_bundle
from s2igan.tracking import StageRun
from test_bundle import BACKBONE, FBANK, TTS, chirp

mlflow = pytest.importorskip("mlflow")


@pytest.fixture()
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(self, address):
        raise AssertionError(f"network access to {address}")
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture()
def logged(tmp_path, monkeypatch, sen_checkpoint, generator_checkpoint, no_network):
    for name in ("DVC_ROOT", "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV", "MLFLOW_TRACKING_URI",
                 "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    bundle_dir = tmp_path / "models" / "bundle"
    write_bundle(bundle_dir, sen_checkpoint, generator_checkpoint, FBANK, TTS, BACKBONE)
    with StageRun("bundle") as run:
        info = pyfunc.log_bundle(run, bundle_dir)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    return info, bundle_dir, uri


def test_logged_with_a_signature_and_registered(logged):
    info, _, uri = logged
    assert info is not None and info.registered_model_version == 1
    sig = info.signature
    assert sig.inputs.input_names() == ["audio", "seed"]
    assert [c.required for c in sig.inputs.inputs] == [True, False]
    assert sig.outputs.input_names() == ["input", "seed", "image"]
    assert sig.outputs.inputs[2].type.name == "binary"
    assert sig.params.params[0].name == "n" and sig.params.params[0].default == 1
    client = mlflow.MlflowClient(tracking_uri=uri)
    [version] = client.search_model_versions(f"name = '{pyfunc.REGISTERED_MODEL}'")
    assert int(version.version) == 1 and version.status == "READY"


def test_registered_model_generates_the_bundles_images(logged, tmp_path, monkeypatch):
    _, bundle_dir, _ = logged
    import soundfile as sf

    wav = tmp_path / "caption.wav"
    sf.write(wav, chirp(), 22050)

    def refuse(*a, **k):
        raise AssertionError("the pyfunc model must load without unpickling")
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    model = mlflow.pyfunc.load_model(f"models:/{pyfunc.REGISTERED_MODEL}/1")
    out = model.predict(pd.DataFrame({"audio": [str(wav), str(wav)], "seed": [3, 7]}),
                        params={"n": 2})
    assert list(out.columns) == ["input", "seed", "image"]
    assert out["input"].tolist() == [0, 0, 1, 1] and out["seed"].tolist() == [3, 4, 7, 8]
    expected = load_bundle(bundle_dir).generate(str(wav), n=2, seed=7)
    for got, want in zip(out["image"][2:], expected):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(got))), np.asarray(want))
    default = model.predict(pd.DataFrame({"audio": [str(wav)]}))     # seed 0, one image
    assert default["seed"].tolist() == [0] and len(default) == 1


def test_each_bundle_run_registers_a_new_version(logged):
    _, bundle_dir, uri = logged
    with StageRun("bundle") as run:
        info = pyfunc.log_bundle(run, bundle_dir)
    assert info.registered_model_version == 2


def test_without_mlflow_the_stage_goes_on(tmp_path):
    run = StageRun("bundle")            # not entered: no MLflow
    assert pyfunc.log_bundle(run, tmp_path) is None
