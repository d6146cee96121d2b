"""The model bundle as an MLflow model (``python_function`` flavour), logged and registered by
the ``bundle`` stage.

The model is logged *from code* (MLflow's models-from-code: :data:`MODEL_CODE`, a script that
calls ``mlflow.models.set_model``), not pickled, with the bundle folder as its one artifact and
the ``s2igan`` package copied in (``code_paths``), so it loads with ``mlflow.pyfunc.load_model``
wherever torch and the packages of :func:`requirements` are installed, without this repo and
without network access. Its signature:

* input: a table with a string column ``audio`` (path of a recording: wav, flac, ogg, mp3; any
  rate) and an optional long column ``seed`` (noise seed, default 0); params ``n`` (long,
  default 1: images per recording);
* output: one row per image: ``input`` (row of the input), ``seed`` (its noise seed: ``seed``,
  ..., ``seed + n - 1``) and ``image`` (PNG bytes, the generator's last scale), the same images
  as ``s2igan.load_bundle(...).generate(audio, n=n, seed=seed)``.
"""

from __future__ import annotations

import io
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from s2igan.bundle import Bundle

MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")
REGISTERED_MODEL = "s2igan-bundle"      # the model registry's name
ARTIFACT = "bundle"                     # name of the bundle folder among the model's artifacts
# what the bundle needs at load time (s2igan itself travels in code_paths)
DISTRIBUTIONS = ("mlflow", "torch", "torchaudio", "numpy", "pandas", "pillow", "safetensors",
                 "soundfile", "scipy")


def signature():
    """The model's input, output and params schema (see the module doc)."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", "audio"), ColSpec("long", "seed", required=False)]),
        outputs=Schema([ColSpec("long", "input"), ColSpec("long", "seed"),
                        ColSpec("binary", "image")]),
        params=ParamSchema([ParamSpec("n", "long", 1)]))


def requirements() -> list[str]:
    """Pinned versions of :data:`DISTRIBUTIONS` as installed here (no resolver, no network)."""
    out = []
    for name in DISTRIBUTIONS:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(name)
    return out


def predict_frame(bundle: Bundle, frame: pd.DataFrame, n: int = 1) -> pd.DataFrame:
    """The pyfunc's ``predict``: ``n`` PNG images per row of ``frame`` (see the module doc)."""
    rows = []
    for i, (audio, seed) in enumerate(zip(frame["audio"], _seeds(frame))):
        for k, image in enumerate(bundle.generate(str(audio), n=int(n), seed=seed)):
            buf = io.BytesIO()
            image.save(buf, format="PNG")
            rows.append({"input": i, "seed": seed + k, "image": buf.getvalue()})
    return pd.DataFrame(rows, columns=["input", "seed", "image"])


def _seeds(frame: pd.DataFrame) -> list[int]:
    if "seed" not in frame:
        return [0] * len(frame)
    return [0 if pd.isna(s) else int(s) for s in frame["seed"]]


def log_bundle(run: Any, bundle_dir: str | Path) -> Any:
    """Log ``bundle_dir`` as an MLflow pyfunc model in ``run`` (a :class:`s2igan.tracking.StageRun`)
    and register it as :data:`REGISTERED_MODEL` (a new version per call); returns the
    ``ModelInfo`` (None when MLflow is unavailable: the stage goes on)."""
    return run.log_model(name="bundle", python_model=str(MODEL_CODE),
                         artifacts={ARTIFACT: str(bundle_dir)},
                         code_paths=[str(Path(__file__).parent)],
                         signature=signature(), pip_requirements=requirements(),
                         registered_model_name=REGISTERED_MODEL)
