"""Stage `bundle`: the self-contained model bundle (safetensors weights + JSON, no pickle) of the
trained SEN speech encoder and RDG EMA generator, read by `s2igan.load_bundle` and
`s2igan generate`; also logged to MLflow as a pyfunc model and registered (s2igan/pyfunc.py).

usage: python stages/bundle.py SEN_CHECKPOINT GENERATOR_CHECKPOINT BACKBONE_JSON OUT_DIR REPORT_DIR
params: fbank, tts (the front end the SEN was trained with; the SEN and DG configs come from the
checkpoints themselves). A speech encoder trained by the `rdg` stage (rdg.speech_encoder joint /
end_to_end: speech_encoder.pt beside GENERATOR_CHECKPOINT) replaces SEN_CHECKPOINT.
"""

from pathlib import Path

from s2igan.pyfunc import log_bundle
from s2igan.bundle import write_bundle
from s2igan.config import from_dict, load_params
from s2igan.io import read_json
from s2igan.rdg.config import SPEECH_ENCODER_FILE
from s2igan.speech.frontend import FbankConfig
from s2igan.speech.synth import TTSConfig
from s2igan.stage import run_stage
from s2igan.tracking import StageRun, stage_params


def main(sen_checkpoint: str, generator_checkpoint: str, backbone_json: str, out_dir: str,
         report_dir: str) -> None:
    params = load_params()
    fbank = from_dict(FbankConfig, params.get("fbank"), "fbank")
    tts = from_dict(TTSConfig, params.get("tts"), "tts")
    with StageRun("bundle", params=stage_params(params, "fbank", "tts"),
                  metrics_path=Path(report_dir) / "metrics.json") as run:
        trained = Path(generator_checkpoint).parent / SPEECH_ENCODER_FILE
        if trained.is_file():   # the encoder the generator was trained with
            sen_checkpoint = str(trained)
        metrics = write_bundle(out_dir, sen_checkpoint, generator_checkpoint, fbank, tts,
                               read_json(backbone_json))
        run.log_metrics(metrics)
        # the same folder as an MLflow pyfunc model, registered as `s2igan-bundle`
        log_bundle(run, out_dir)
    print("bundle:", ", ".join(f"{k}={v}" for k, v in metrics.items()))


if __name__ == "__main__":
    run_stage(main, __doc__)
