"""`s2igan generate`: speech (a wav file, or text spoken by the configured TTS backend) -> images,
with the trained artifacts of the current workspace (SEN speech encoder + RDG EMA generator)."""

from __future__ import annotations

from pathlib import Path

import torch

from s2igan.device import resolve_device
from s2igan.io import BadInputError
from s2igan.rdg.sampling import generate as sample
from s2igan.rdg.sampling import load_generator, save_png
from s2igan.sen.checkpoint import load_sen
from s2igan.speech.audio import probe
from s2igan.speech.frontend import FbankConfig, SpeechFrontend, embed_fbanks
from s2igan.speech.text import clean_text

DEFAULT_SEN = Path("models/sen/best.pt")
DEFAULT_GENERATOR = Path("models/rdg/generator.pt")


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise BadInputError(path, f"{what} not found: run `dvc repro` first (it trains the models)")
    return path


def generate(*, audio: str | Path | None = None, text: str | None = None,
             out: str | Path = "generated.png", n: int = 1, seed: int = 0,
             sen_checkpoint: str | Path = DEFAULT_SEN,
             generator_checkpoint: str | Path = DEFAULT_GENERATOR,
             tts_backend: str = "piper", voice: str | None = None,
             fbank_config: FbankConfig | None = None, device: str = "auto") -> list[Path]:
    """Generate ``n`` images (noise seeds ``seed .. seed + n - 1``) for one spoken description.

    ``out``: a ``.png`` path (one image, or a grid of ``n`` in one row) or a directory (then
    ``image_00.png`` ... are written). ``fbank_config``: the :class:`s2igan.speech.frontend.
    FbankConfig` the SEN was trained with (the CLI builds it from params.yaml; default: the
    stage defaults). Raises :class:`BadInputError` for a missing model or unreadable audio.
    """
    if (audio is None) == (text is None):
        raise BadInputError(None, "give exactly one of --audio FILE.wav or --text \"...\"")
    if n < 1:
        raise BadInputError(None, f"n must be >= 1, got {n}")
    if text is not None:   # cheap input checks before the models load
        clean_text(text, "--text")
    else:
        probe(audio)       # missing, a directory, empty, unreadable header, over MAX_SECONDS
    dev = resolve_device(device)
    speech_encoder, _, _ = load_sen(_require(Path(sen_checkpoint), "SEN checkpoint"), dev,
                                    speech_only=True)
    g = load_generator(_require(Path(generator_checkpoint), "RDG generator"), dev)
    frontend = SpeechFrontend(fbank_config or FbankConfig(), tts_backend, voice)
    fbank = frontend.audio_fbank(audio) if audio is not None else frontend.text_fbank(text)
    emb = embed_fbanks(speech_encoder, [fbank])                                   # (1, E)
    z = torch.stack([torch.randn(g.cfg.z_dim, generator=torch.Generator().manual_seed(seed + i))
                     for i in range(n)])                                          # (n, z_dim)
    images = sample(g, emb.repeat(n, 1), z)                                        # (n, 3, S, S)
    out = Path(out)
    if out.suffix.lower() == ".png":
        save_png(images, out, nrow=n)
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"image_{i:02d}.png" for i in range(n)]
    for img, p in zip(images, paths):
        save_png(img[None], p, padding=0)
    return paths
