"""Stage `rdg`: train the relation-supervised densely-stacked generator (Sec. III-C, Eq. 10-17).

usage: python stages/rdg.py PREPARED EMBEDDINGS FBANK FEATURES SEN_DIR MODEL_DIR REPORT_DIR
params: dg, rs, rdg, sen, features.weights (the backbone is the one named in
FEATURES/backbone.json). rdg.speech_encoder: frozen reads EMBEDDINGS; joint (encoder built from
`sen`) and end_to_end (from SEN_DIR/best.pt) read FBANK and FEATURES and also write
MODEL_DIR/speech_encoder.pt and MODEL_DIR/embeddings.
dist.nproc > 1 (rdg.speech_encoder: frozen only): the script re-runs itself under torchrun with
that many processes (s2igan.distributed); rank 0 writes the outputs and logs.
"""

from pathlib import Path

from s2igan.config import ConfigError, from_dict, load_params
from s2igan.device import bf16_autocast, resolve_device
from s2igan.distributed import DistConfig, barrier, cleanup, is_main, relaunch, setup
from s2igan.rdg.config import DGConfig, RDGConfig, RSConfig
from s2igan.rdg.run import (CONDITION_DIR, EMBEDDINGS_DIR, final_metrics, summary_line,
                            train_from_paths)
from s2igan.sen.config import SENConfig
from s2igan.stage import publish, resume_dir, run_stage
from s2igan.tracking import StageRun, stage_params


def main(prepared: str, embeddings: str, fbank: str, features: str, sen_dir: str,
         model_dir: str, report_dir: str) -> None:
    params = load_params()
    dg = from_dict(DGConfig, params.get("dg"), "dg")
    rs = from_dict(RSConfig, params.get("rs"), "rs")
    rdg = from_dict(RDGConfig, params.get("rdg"), "rdg")
    # joint builds its speech encoder from the `sen` section (end_to_end: the checkpoint's)
    sen = (from_dict(SENConfig, params.get("sen"), "sen") if rdg.speech_encoder == "joint"
           else None)
    dist = from_dict(DistConfig, params.get("dist"), "dist")
    if dist.nproc > 1 and rdg.speech_encoder != "frozen":
        raise ConfigError(f"dist.nproc: {dist.nproc} trains the RDG with rdg.speech_encoder: "
                          f"frozen only, not {rdg.speech_encoder}")
    relaunch(dist)
    setup(resolve_device(rdg.device))
    reports = Path(report_dir)
    if not is_main():      # the other torchrun workers train and write nothing
        barrier()          # (rank 0 has made the resume folder)
        train_from_paths(Path(prepared), Path(embeddings), Path(features), Path(sen_dir),
                         resume_dir(model_dir, make=False), reports, dg, rs, rdg,
                         weights=params["features"]["weights"], fbank=Path(fbank), sen=sen)
        cleanup()
        return
    tracked = stage_params(params, "dg", "rs", "rdg", "sen", "features.weights", "dist.nproc")
    with StageRun("rdg", params=tracked, metrics_path=reports / "metrics.json") as run:
        # train in models/.resume/rdg (last.pt resumes a killed run), then publish last.pt and
        # generator.pt (and a trained speech encoder with its embeddings) into models/rdg
        work = resume_dir(model_dir)
        barrier()
        train_from_paths(Path(prepared), Path(embeddings), Path(features), Path(sen_dir),
                         work, reports, dg, rs, rdg,
                         weights=params["features"]["weights"], log_step=run.log_step,
                         fbank=Path(fbank), sen=sen)
        publish(work, model_dir, folders=(EMBEDDINGS_DIR, CONDITION_DIR))
        for png in sorted((reports / "samples").glob("epoch_*.png")):   # epoch_NNN.png
            run.log_image(png, key="samples", step=int(png.stem.split("_")[1]))
        run.log_artifact(reports / "loss.csv")
        final = final_metrics(reports / "loss.csv")
        final["bf16_autocast"] = int(bf16_autocast(resolve_device(rdg.device), rdg.amp))
        run.log_metrics(final)
    print(summary_line(final, reports))
    cleanup()


if __name__ == "__main__":
    run_stage(main, __doc__)
