"""Stage `sen`: train the Speech Embedding Network (Sec. III-B, Eq. 1-9) on cached image
features, select the best epoch on held-out images of the training classes, and evaluate it
on the test split (Table VII mAP / scene recall@k) with a t-SNE plot (Fig. 9).

usage: python stages/sen.py PREPARED_DIR FBANK_DIR FEATURES_DIR MODEL_DIR REPORT_DIR
params: sen, dist.nproc (> 1: the script re-runs itself under torchrun with that many
processes, s2igan.distributed; rank 0 writes the outputs and logs)
"""

from pathlib import Path

from s2igan.config import from_dict, load_params
from s2igan.data import manifest
from s2igan.device import resolve_device
from s2igan.distributed import DistConfig, barrier, cleanup, is_main, relaunch, setup
from s2igan.sen.config import SENConfig
from s2igan.sen.run import train_and_evaluate
from s2igan.stage import publish, resume_dir, run_stage
from s2igan.tracking import StageRun, stage_params


def main(prepared_dir: str, fbank_dir: str, features_dir: str, model_dir: str,
         report_dir: str) -> None:
    all_params = load_params()
    params = all_params["sen"]
    cfg = from_dict(SENConfig, params, "sen")
    relaunch(from_dict(DistConfig, all_params.get("dist"), "dist"))
    setup(resolve_device(cfg.device))
    reports = Path(report_dir)
    frame = manifest.read(Path(prepared_dir) / "manifest.parquet")
    if not is_main():      # the other torchrun workers train and write nothing
        barrier()          # (rank 0 has made the resume folder)
        train_and_evaluate(frame, fbank_dir, features_dir, resume_dir(model_dir, make=False),
                           reports, cfg)
        cleanup()
        return
    with StageRun("sen", params=stage_params(all_params, "sen", "dist.nproc"),
                  metrics_path=reports / "metrics.json") as run:
        # train in models/.resume/sen (last.pt resumes a killed run), then publish best.pt and
        # last.pt into the DVC out models/sen
        work = resume_dir(model_dir)
        barrier()
        metrics = train_and_evaluate(frame, fbank_dir, features_dir, work, reports, cfg,
                                     log_step=run.log_step)
        publish(work, model_dir)
        run.log_artifact(reports / "tsne.png")
        run.log_artifact(reports / "loss.csv")
        run.log_metrics(metrics)
    cleanup()


if __name__ == "__main__":
    run_stage(main, __doc__)
