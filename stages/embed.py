"""Stage `embed`: SEN speech embeddings of every caption and image embeddings of every image,
per split, with the best SEN checkpoint (inputs of the RDG, Sec. III-C).

usage: python stages/embed.py PREPARED_DIR FBANK_DIR FEATURES_DIR MODEL_DIR OUT_DIR
"""

import signal
import sys
from pathlib import Path

from s2igan.io import BadInputError, atomic_dir
from s2igan.sen.run import embed_all


def main(prepared_dir: str, fbank_dir: str, features_dir: str, model_dir: str,
         out_dir: str) -> None:
    del prepared_dir  # part of the contract's command line; the embeddings need no manifest
    with atomic_dir(out_dir) as tmp:
        counts = embed_all(fbank_dir, features_dir, Path(model_dir) / "best.pt", tmp)
    print("embed:", ", ".join(f"{k}={v}" for k, v in counts.items()))


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    # SIGTERM (e.g. a cancelled `dvc repro`) unwinds normally, so temp outputs are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main(*sys.argv[1:])
    except BadInputError as err:
        sys.exit(f"embed: bad input: {err}")
