"""Stage `embed`: SEN speech embeddings of every caption and image embeddings of every image,
per split, with the best SEN checkpoint (inputs of the RDG, Sec. III-C).

usage: python stages/embed.py PREPARED_DIR TRANSCRIPTS_DIR FBANK_DIR FEATURES_DIR MODEL_DIR OUT_DIR
       REPORT_DIR
params: none (the SEN checkpoint alone decides the embeddings; with sen.kind: text it embeds the
captions' text, ground truth or the `asr` stage's transcripts, and reports the ASR WER)
"""

from pathlib import Path

from s2igan.io import atomic_dir
from s2igan.sen.run import embed_all
from s2igan.stage import run_stage
from s2igan.tracking import StageRun


def main(prepared_dir: str, transcripts_dir: str, fbank_dir: str, features_dir: str,
         model_dir: str, out_dir: str, report_dir: str) -> None:
    with StageRun("embed", metrics_path=Path(report_dir) / "metrics.json") as run:
        with atomic_dir(out_dir) as tmp:
            metrics = embed_all(fbank_dir, features_dir, Path(model_dir) / "best.pt", tmp,
                                prepared_dir=prepared_dir, transcripts_dir=transcripts_dir)
        run.log_metrics(metrics)
    print("embed:", ", ".join(f"{k}={v}" for k, v in metrics.items()))


if __name__ == "__main__":
    run_stage(main, __doc__)
