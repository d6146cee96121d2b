"""`s2igan generate`: speech (a recording, a folder or CSV of recordings, or text spoken by the
configured TTS backend) -> images, with the trained artifacts of the current workspace: the model
bundle (``models/bundle``, :mod:`s2igan.bundle`) when there is one, else the SEN speech encoder
and RDG EMA generator checkpoints."""

from __future__ import annotations

import csv
from pathlib import Path

from s2igan.bundle import Bundle, sha256_file
from s2igan.io import BadInputError
from s2igan.rdg.sampling import save_png
from s2igan.rdg.config import SPEECH_ENCODER_FILE
from s2igan.speech.audio import probe
from s2igan.speech.frontend import FbankConfig
from s2igan.speech.synth import TTSConfig
from s2igan.speech.text import clean_text

DEFAULT_SEN = Path("models/sen/best.pt")
DEFAULT_GENERATOR = Path("models/rdg/generator.pt")
DEFAULT_BUNDLE = Path("models/bundle")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")   # what a folder of recordings is read for


def speech_checkpoint(root: str | Path = ".") -> Path:
    """The speech encoder the workspace's generator was trained with: ``models/rdg/
    speech_encoder.pt`` when the `rdg` stage trained it (``rdg.speech_encoder`` joint /
    end_to_end), else the pretrained SEN ``models/sen/best.pt``."""
    own = Path(root) / DEFAULT_GENERATOR.parent / SPEECH_ENCODER_FILE
    return own if own.is_file() else Path(root) / DEFAULT_SEN


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise BadInputError(path, f"{what} not found: run `dvc repro` first (it trains the models)")
    return path


def load_models(sen_checkpoint: str | Path = DEFAULT_SEN,
                generator_checkpoint: str | Path = DEFAULT_GENERATOR,
                fbank_config: FbankConfig | None = None, tts_backend: str = "piper",
                device: str = "auto") -> Bundle:
    """The SEN speech encoder and the EMA generator from the training checkpoints."""
    return Bundle.from_checkpoints(_require(Path(sen_checkpoint), "SEN checkpoint"),
                                   _require(Path(generator_checkpoint), "RDG generator"),
                                   fbank_config or FbankConfig(), TTSConfig(backend=tts_backend),
                                   device)


def stale_bundle(bundle: Bundle, sen_checkpoint: Path, generator_checkpoint: Path) -> str | None:
    """Why ``bundle`` is not the bundle of these checkpoints (None: it is, or they are absent)."""
    source = bundle.meta.get("source", {})
    for path, key in ((sen_checkpoint, "sen_checkpoint_sha256"),
                      (generator_checkpoint, "generator_checkpoint_sha256")):
        if path.is_file() and source.get(key) != sha256_file(path):
            return f"{bundle.path} was built from another {path}"
    return None


def generate(*, audio: str | Path | None = None, text: str | None = None,
             out: str | Path = "generated.png", n: int = 1, seed: int = 0,
             sen_checkpoint: str | Path = DEFAULT_SEN,
             generator_checkpoint: str | Path = DEFAULT_GENERATOR,
             tts_backend: str = "piper", voice: str | None = None,
             fbank_config: FbankConfig | None = None, device: str = "auto",
             model: Bundle | None = None) -> list[Path]:
    """Generate ``n`` images (noise seeds ``seed .. seed + n - 1``) for one spoken description.

    ``out``: a ``.png`` path (one image, or a grid of ``n`` in one row) or a directory (then
    ``image_00.png`` ... are written). ``model``: a loaded :class:`~s2igan.bundle.Bundle`;
    without it the checkpoints are loaded, with ``fbank_config`` (the
    :class:`s2igan.speech.frontend.FbankConfig` the SEN was trained with; default: the stage
    defaults) and ``tts_backend``. Raises :class:`BadInputError` for a missing model or
    unreadable audio.
    """
    if (audio is None) == (text is None):
        raise BadInputError(None, "give exactly one of --audio FILE.wav or --text \"...\"")
    if n < 1:
        raise BadInputError(None, f"n must be >= 1, got {n}")
    if text is not None:   # cheap input checks before the models load
        clean_text(text, "--text")
    else:
        probe(audio)       # missing, a directory, empty, unreadable header, over MAX_SECONDS
    if model is None:
        model = load_models(sen_checkpoint, generator_checkpoint, fbank_config, tts_backend, device)
    if text is not None:
        images = model.images(model.text_wave(text, voice), n, seed, sample_rate=16_000)
    else:
        images = model.images(Path(audio), n, seed)                        # (n, 3, S, S)
    out = Path(out)
    if out.suffix.lower() == ".png":
        save_png(images, out, nrow=n)
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"image_{i:02d}.png" for i in range(n)]
    for img, p in zip(images, paths):
        save_png(img[None], p, padding=0)
    return paths


def is_batch(path: str | Path) -> bool:
    """A folder of recordings or a CSV list of them (rather than one recording)."""
    path = Path(path)
    return path.is_dir() or path.suffix.lower() == ".csv"


def recordings(source: str | Path) -> list[tuple[Path, str]]:
    """(recording, output name) of a folder (its audio files, ``AUDIO_SUFFIXES``, sorted, not
    recursive) or a CSV with a ``path`` column (relative paths are relative to the CSV's folder).

    The output name is the recording's stem; recordings that share a stem get
    ``<stem>_<position>`` (1-based, in the listing order) instead. Every recording's header is
    checked here (:func:`s2igan.speech.audio.probe`), before any model loads.
    """
    source = Path(source)
    if source.is_dir():
        paths = sorted(p for p in source.iterdir() if p.is_file()
                       and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith("."))
        if not paths:
            raise BadInputError(source,
                                f"no recordings ({', '.join(AUDIO_SUFFIXES)}) in this folder")
    else:
        paths = _csv_paths(source)
    for p in paths:
        probe(p)
    stems = [p.stem for p in paths]
    return [(p, stem if stems.count(stem) == 1 else f"{stem}_{i + 1}")
            for i, (p, stem) in enumerate(zip(paths, stems))]


def _csv_paths(path: Path) -> list[Path]:
    if not path.is_file():
        raise BadInputError(path, "CSV file not found")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            columns, rows = reader.fieldnames, list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BadInputError(path, f"not a readable CSV file ({exc})") from None
    if not columns or "path" not in columns:
        raise BadInputError(path, f"no 'path' column (columns: {columns or []})")
    if not rows:
        raise BadInputError(path, "lists no recordings")
    out = []
    for line, row in enumerate(rows, start=2):
        value = (row.get("path") or "").strip()
        if not value:
            raise BadInputError(path, f"line {line}: empty path")
        p = Path(value).expanduser()
        out.append(p if p.is_absolute() else path.parent / p)
    return out


def generate_batch(items: list[tuple[Path, str]], out_dir: str | Path, model: Bundle,
                   n: int = 1, seed: int = 0) -> list[Path]:
    """One PNG per recording of ``items`` (from :func:`recordings`): ``out_dir/<name>.png``,
    ``n`` images in a row (noise seeds ``seed .. seed + n - 1``, the same for every recording).

    Every image is generated before the first file is written, so a bad recording leaves
    ``out_dir`` as it was."""
    out_dir = Path(out_dir)
    if out_dir.suffix.lower() == ".png":
        raise BadInputError(out_dir, "a folder or CSV of recordings needs an output folder, "
                                     "not a .png path")
    if n < 1:
        raise BadInputError(None, f"n must be >= 1, got {n}")
    images = [(name, model.images(path, n, seed)) for path, name in items]   # (n, 3, S, S) each
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, imgs in images:
        paths.append(out_dir / f"{name}.png")
        save_png(imgs, paths[-1], nrow=n)
    return paths
