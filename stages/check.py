"""Stage `check`: build every params.yaml section into its typed config before any work, so a
value of the wrong type or out of range fails in seconds, one line per problem naming its key
(``sen.batch_size must be >= 1, got -8``), instead of hours later in the stage that reads it.
``prepare`` depends on ``ok.json``, so DVC runs this first.

usage: python stages/check.py REPORT_DIR
params: data, tts, fbank, features, sen, asr, dg, rs, rdg, judge, evaluate
"""

from pathlib import Path
from typing import Any

from s2igan.asr.recognize import ASRConfig
from s2igan.config import ConfigError, from_dict, load_params
from s2igan.data.prepare import DataConfig
from s2igan.distributed import DistConfig
from s2igan.evaluate.judge import JudgeConfig
from s2igan.evaluate.run import EvalConfig
from s2igan.features.extract import FeaturesConfig
from s2igan.io import write_json
from s2igan.rdg.config import DGConfig, RDGConfig, RSConfig
from s2igan.sen.config import SENConfig
from s2igan.speech.frontend import FbankConfig
from s2igan.speech.synth import TTSConfig
from s2igan.stage import run_stage
from s2igan.tracking import StageRun, stage_params

SECTIONS = {"data": DataConfig, "tts": TTSConfig, "fbank": FbankConfig,
            "features": FeaturesConfig, "sen": SENConfig, "asr": ASRConfig, "dg": DGConfig,
            "rs": RSConfig, "rdg": RDGConfig, "judge": JudgeConfig, "evaluate": EvalConfig,
            "dist": DistConfig}


def problems(params: dict[str, Any]) -> list[str]:
    """One line per bad section of ``params`` (empty: every section builds)."""
    found = []
    for name, cls in SECTIONS.items():
        if not isinstance(params.get(name), dict):
            found.append(f"{name}: section missing from params.yaml (or not a mapping)")
            continue
        try:
            from_dict(cls, params[name], name)
        except ConfigError as err:
            found.append(str(err))
    sen, rs = params.get("sen"), params.get("rs")
    if (isinstance(sen, dict) and isinstance(rs, dict) and sen.get("kind") == "classifier"
            and rs.get("enabled", True)):
        found.append("sen.kind: classifier learns no image embedding, which the relation "
                     "supervisor needs: set rs.enabled: false with it")
    rdg = params.get("rdg")
    if (isinstance(sen, dict) and isinstance(rdg, dict)
            and rdg.get("speech_encoder", "frozen") != "frozen"
            and sen.get("kind", "s2igan") != "s2igan"):
        found.append(f"rdg.speech_encoder: {rdg['speech_encoder']} trains the S2IGAN speech "
                     f"encoder on filterbanks: it needs sen.kind: s2igan, not {sen['kind']}")
    return found


def main(report_dir: str) -> None:
    params = load_params()
    bad = problems(params)
    if bad:
        raise ConfigError("\n".join(bad))
    with StageRun("check", params=stage_params(params, "data", "tts", "fbank", "features", "sen",
                                               "asr", "dg", "rs", "rdg", "judge", "evaluate",
                                               "dist"),
                  metrics_path=Path(report_dir) / "metrics.json",
                  opens_pipeline=True) as run:   # DVC runs check first: a new pipeline run
        write_json(Path(report_dir) / "ok.json", {"sections": sorted(SECTIONS)})
        run.log_metrics({"check/sections": len(SECTIONS)})


if __name__ == "__main__":
    run_stage(main, __doc__)
