"""Stage `embed`: SEN speech embeddings of every caption and image embeddings of every image,
per split, with the best SEN checkpoint (inputs of the RDG, Sec. III-C).

usage: python stages/embed.py FBANK_DIR FEATURES_DIR MODEL_DIR OUT_DIR
"""

from pathlib import Path

from s2igan.io import atomic_dir
from s2igan.sen.run import embed_all
from s2igan.stage import run_stage


def main(fbank_dir: str, features_dir: str, model_dir: str, out_dir: str) -> None:
    with atomic_dir(out_dir) as tmp:
        counts = embed_all(fbank_dir, features_dir, Path(model_dir) / "best.pt", tmp)
    print("embed:", ", ".join(f"{k}={v}" for k, v in counts.items()))


if __name__ == "__main__":
    run_stage(main, __doc__)
