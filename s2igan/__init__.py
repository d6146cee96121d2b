"""s2igan: speech-to-image generation (S2IGAN, Wang et al., IEEE/ACM TASLP 2021) as a DVC pipeline.

The library never reads ``params.yaml`` or environment variables itself (except the tracking
facade, which honours ``MLFLOW_TRACKING_URI``); stage scripts in ``stages/`` load their params
section and pass typed configs and paths in.
"""

__version__ = "0.1.0"
