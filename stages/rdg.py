"""Stage `rdg`: train the relation-supervised densely-stacked generator (Sec. III-C, Eq. 10-17).

usage: python stages/rdg.py PREPARED EMBEDDINGS FEATURES SEN_DIR MODEL_DIR REPORT_DIR
params: dg, rs, rdg, features.backbone, features.weights
"""

from pathlib import Path

from s2igan.config import from_dict, load_params
from s2igan.rdg.config import DGConfig, RDGConfig, RSConfig
from s2igan.rdg.run import train_from_paths
from s2igan.stage import run_stage
from s2igan.tracking import StageRun


def main(prepared: str, embeddings: str, features: str, sen_dir: str, model_dir: str,
         report_dir: str) -> None:
    params = load_params()
    dg = from_dict(DGConfig, params.get("dg"), "dg")
    rs = from_dict(RSConfig, params.get("rs"), "rs")
    rdg = from_dict(RDGConfig, params.get("rdg"), "rdg")
    feats = params.get("features", {})
    tracked = {"dg": params.get("dg"), "rs": params.get("rs"), "rdg": params.get("rdg")}
    with StageRun("rdg", params=tracked) as run:
        train_from_paths(Path(prepared), Path(embeddings), Path(features), Path(sen_dir),
                         Path(model_dir), Path(report_dir), dg, rs, rdg,
                         backbone=feats.get("backbone", "efficientnet_lite0"),
                         weights=feats.get("weights"), log_step=run.log_step)
        for png in sorted((Path(report_dir) / "samples").glob("epoch_*.png"))[-1:]:
            run.log_artifact(png)
        run.log_artifact(Path(report_dir) / "loss.csv")


if __name__ == "__main__":
    run_stage(main, __doc__)
