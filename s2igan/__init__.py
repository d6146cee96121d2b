"""s2igan: speech-to-image generation (S2IGAN, Wang et al., IEEE/ACM TASLP 2021) as a DVC pipeline.

The library never reads ``params.yaml`` or environment variables itself (except the tracking
facade, which honours ``MLFLOW_TRACKING_URI``); stage scripts in ``stages/`` load their params
section and pass typed configs and paths in.

Python API: ``s2igan.load_bundle(path)`` loads a model bundle (:mod:`s2igan.bundle`), e.g. the
``models/bundle`` folder the pipeline writes, and returns an object with ``.generate(audio)``
and ``.embed(audio)``.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``s2igan.load_bundle``, imported on first use (PEP 562): ``import s2igan.config`` and the
    other foundation modules stay free of torch and of the model code."""
    if name == "load_bundle":
        from s2igan.bundle import load_bundle
        return load_bundle
    raise AttributeError(f"module 's2igan' has no attribute {name!r}")
