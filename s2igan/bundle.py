"""The model bundle: one self-contained folder with everything `s2igan generate` needs, and the
Python API that loads it (``s2igan.load_bundle``).

    models/bundle/
      speech_encoder.safetensors   SEN speech encoder weights (Sec. III-B)
      generator.safetensors        RDG EMA generator weights (Sec. III-C)
      bundle.json                  configs (SEN, DG, fbank, TTS), embed dim, image backbone id,
                                   package versions, sha256 of every file and of the source
                                   checkpoints (the SEN one names the SEN the generator used)

Weights are safetensors and the rest JSON, so loading a bundle runs no pickle. The `bundle`
stage (``stages/bundle.py``) writes it from ``models/sen/best.pt`` and
``models/rdg/generator.pt``; :func:`write_bundle` swaps the whole folder in atomically.

    >>> import s2igan
    >>> model = s2igan.load_bundle("models/bundle")          # loads the two networks once
    >>> images = model.generate("caption.wav", n=4)          # list of PIL images
    >>> vector = model.embed(wave, sample_rate=22050)        # (embed_dim,) float32
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from s2igan import __version__
from s2igan.config import ConfigError, from_dict, to_dict
from s2igan.device import resolve_device
from s2igan.io import BadInputError, atomic_dir, atomic_path, read_json, write_json
from s2igan.rdg.config import DGConfig
from s2igan.rdg.generator import Generator
from s2igan.rdg.sampling import generate as sample
from s2igan.rdg.sampling import load_generator
from s2igan.sen.checkpoint import build_encoders, load_state
from s2igan.sen.config import SENConfig
from s2igan.sen.model import SpeechEncoder
from s2igan.sen.text import TextEncoder
from s2igan.speech.audio import check_clip, to_16k_mono
from s2igan.speech.frontend import (FbankConfig, SpeechFrontend, audio_to_wave, compute_fbank,
                                    embed_fbanks)
from s2igan.speech.synth import TTSConfig

FORMAT = "s2igan-bundle"
FORMAT_VERSION = 1
META = "bundle.json"
SPEECH_ENCODER = "speech_encoder.safetensors"
GENERATOR = "generator.safetensors"
BACKBONE_KEYS = ("backbone", "weights", "dim", "input_size")   # of data/features/backbone.json

AudioInput = Union[str, os.PathLike, np.ndarray, torch.Tensor]


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict as safetensors stores it: CPU, contiguous, no shared storage."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def write_bundle(out_dir: str | Path, sen_checkpoint: str | Path,
                 generator_checkpoint: str | Path, fbank: FbankConfig, tts: TTSConfig,
                 backbone: dict[str, Any]) -> dict[str, Any]:
    """Write the bundle of a trained SEN and generator to ``out_dir`` (swapped in whole, via
    :func:`s2igan.io.atomic_dir`) and return the stage's metrics.

    ``fbank`` / ``tts``: the front end the SEN was trained with (params ``fbank``, ``tts``);
    ``backbone``: ``data/features/backbone.json``, the image backbone of the SEN's image side.
    """
    sen_state = load_state(sen_checkpoint)
    sen_cfg = from_dict(SENConfig, sen_state["config"], "SEN checkpoint config")
    dims = {k: int(v) for k, v in sen_state["dims"].items()}
    speech, _ = build_encoders(sen_cfg, dims)
    try:
        speech.load_state_dict(sen_state["speech_encoder"])
    except RuntimeError as exc:
        raise BadInputError(sen_checkpoint,
                            f"speech encoder does not fit its config ({exc})") from None
    g = load_generator(generator_checkpoint)
    if g.embed_dim != speech.output_dim:
        raise BadInputError(generator_checkpoint, f"generator conditions on {g.embed_dim}-d "
                            f"embeddings, the SEN of {sen_checkpoint} gives {speech.output_dim}-d")
    missing = [k for k in BACKBONE_KEYS if k not in backbone]
    if missing:
        raise BadInputError(None, f"backbone info lacks {missing}")
    with atomic_dir(out_dir) as tmp:
        for name, module in ((SPEECH_ENCODER, speech), (GENERATOR, g)):
            with atomic_path(tmp / name) as part:    # the umask's mode (save_file makes 0600)
                save_file(_tensors(module.state_dict()), part, metadata={"format": "pt"})
        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "sen": {"config": to_dict(sen_cfg), "dims": dims},
            "dg": {"config": to_dict(g.cfg)},
            "embed_dim": int(g.embed_dim),
            "image_size": int(g.cfg.image_sizes[-1]),
            "fbank": to_dict(fbank),
            "tts": to_dict(tts),
            "image_backbone": {k: backbone[k] for k in BACKBONE_KEYS},
            "versions": {"s2igan": __version__, "torch": torch.__version__},
            "source": {"sen_checkpoint_sha256": sha256_file(sen_checkpoint),
                       "generator_checkpoint_sha256": sha256_file(generator_checkpoint)},
            "files": {name: {"sha256": sha256_file(tmp / name)}
                      for name in (SPEECH_ENCODER, GENERATOR)},
        }
        write_json(tmp / META, meta)
        size = sum(p.stat().st_size for p in tmp.iterdir())
    return {"bundle/bytes": size, "bundle/embed_dim": meta["embed_dim"],
            "bundle/image_size": meta["image_size"],
            "bundle/speech_encoder_params": sum(p.numel() for p in speech.parameters()),
            "bundle/generator_params": sum(p.numel() for p in g.parameters())}


def _weights(path: Path, meta: dict[str, Any]) -> dict[str, torch.Tensor]:
    """A bundle's safetensors file, checked against the sha256 that bundle.json records."""
    if not path.is_file():
        raise BadInputError(path, "missing from the model bundle")
    expected = meta.get("files", {}).get(path.name, {}).get("sha256")
    if expected is None:
        raise BadInputError(path.parent / META, f"no sha256 recorded for {path.name}")
    if sha256_file(path) != expected:
        raise BadInputError(path, "corrupt or modified: its sha256 differs from bundle.json's")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise BadInputError(path, f"not a readable safetensors file ({exc})") from None


def _fit(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise BadInputError(path, "weights do not fit the config in bundle.json ("
                            + " ".join(str(exc).split())[:300] + ")") from None


class Bundle:
    """A SEN speech encoder and an RDG generator with the front end they were trained with.

    Audio in (a path, or a 1-D waveform with its ``sample_rate``) goes through the project's
    front end exactly as ``s2igan generate`` sends it: 16 kHz mono (``speech.audio``), checked
    (NaN, silence, shorter than a window), cut to what the filterbank keeps, Kaldi fbank
    (``speech.frontend.compute_fbank``), SEN embedding, then the EMA generator with zero CA
    noise and ``z`` from the seeds ``seed .. seed + n - 1`` (one seed per image).
    """

    def __init__(self, speech_encoder: SpeechEncoder, generator: Generator,
                 fbank: FbankConfig = FbankConfig(), tts: TTSConfig = TTSConfig(),
                 meta: dict[str, Any] | None = None, path: Path | None = None):
        if isinstance(speech_encoder, TextEncoder):
            raise BadInputError(path, "this model is sen.kind: text (the two-stage baseline), "
                                "whose encoder reads words, not filterbanks; generation from "
                                "audio through pocketsphinx is not built into the bundle")
        self.speech_encoder = speech_encoder.eval().requires_grad_(False)
        self.generator = generator.eval().requires_grad_(False)
        self.fbank = fbank
        self.tts = tts
        self.meta = meta or {}
        self.path = path

    @classmethod
    def from_checkpoints(cls, sen_checkpoint: str | Path, generator_checkpoint: str | Path,
                         fbank: FbankConfig = FbankConfig(), tts: TTSConfig = TTSConfig(),
                         device: str | torch.device = "cpu") -> "Bundle":
        """The same object from the training checkpoints (``models/sen/best.pt``,
        ``models/rdg/generator.pt``), for a workspace without a bundle."""
        dev = resolve_device(device) if isinstance(device, str) else device
        state = load_state(sen_checkpoint)
        cfg = from_dict(SENConfig, state["config"], "SEN checkpoint config")
        speech, _ = build_encoders(cfg, state["dims"])
        _fit(speech, state["speech_encoder"], Path(sen_checkpoint))
        return cls(speech.to(dev), load_generator(generator_checkpoint, dev), fbank, tts)

    @property
    def embed_dim(self) -> int:
        return self.generator.embed_dim

    @property
    def image_size(self) -> int:
        return int(self.generator.cfg.image_sizes[-1])

    # -- speech in ------------------------------------------------------------------------
    def wave(self, audio_or_wave: AudioInput, sample_rate: int | None = None) -> np.ndarray:
        """(N,) 16 kHz mono float32, validated and cut to what the filterbank keeps."""
        if isinstance(audio_or_wave, (str, os.PathLike)):
            if sample_rate is not None:
                raise BadInputError(audio_or_wave, "sample_rate is for waveforms; an audio "
                                                   "file carries its own")
            return audio_to_wave(audio_or_wave, self.fbank.max_samples)
        if isinstance(audio_or_wave, torch.Tensor):
            audio_or_wave = audio_or_wave.detach().cpu().numpy()
        if not isinstance(audio_or_wave, np.ndarray):
            raise BadInputError(None, "expected an audio file path or a 1-D waveform, got "
                                      f"{type(audio_or_wave).__name__}")
        data = audio_or_wave
        if data.ndim != 1:
            raise BadInputError("waveform", f"expected 1-D samples (N,), got shape {data.shape}")
        if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool) \
                or sample_rate <= 0:
            raise BadInputError("waveform",
                                f"needs sample_rate, a positive int (got {sample_rate!r})")
        if np.issubdtype(data.dtype, np.integer):      # PCM integers -> [-1, 1]
            data = data / float(np.iinfo(data.dtype).max + 1)
        wave = to_16k_mono(data, int(sample_rate))
        if self.fbank.max_samples is not None:
            wave = wave[: self.fbank.max_samples]
        check_clip(wave, "waveform")
        return wave

    def text_wave(self, text: str, voice: str | None = None) -> np.ndarray:
        """``text`` spoken by the bundle's TTS backend (``tts.backend``; default voice)."""
        return SpeechFrontend(self.fbank, self.tts.backend, voice, self.tts.seed).text_wave(text)

    def filterbank(self, audio_or_wave: AudioInput, sample_rate: int | None = None) -> np.ndarray:
        return compute_fbank(self.wave(audio_or_wave, sample_rate), self.fbank)   # (T, n_mels)

    def embed(self, audio_or_wave: AudioInput, sample_rate: int | None = None) -> np.ndarray:
        """The SEN speech embedding (embed_dim,) float32, L2-normalised."""
        fbank = self.filterbank(audio_or_wave, sample_rate)
        return embed_fbanks(self.speech_encoder, [fbank])[0].numpy()

    # -- images out -----------------------------------------------------------------------
    def noise(self, n: int, seed: int) -> torch.Tensor:
        """(n, z_dim): image i gets the noise of seed ``seed + i`` alone."""
        z_dim = self.generator.cfg.z_dim
        return torch.stack([torch.randn(z_dim, generator=torch.Generator().manual_seed(seed + i))
                            for i in range(n)])

    def images(self, audio_or_wave: AudioInput, n: int = 1, seed: int = 0,
               sample_rate: int | None = None) -> torch.Tensor:
        """uint8 images (n, 3, S, S) of one spoken description."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise BadInputError(None, f"n must be an int >= 1, got {n!r}")
        fbank = self.filterbank(audio_or_wave, sample_rate)
        emb = embed_fbanks(self.generator.speech_input(self.speech_encoder), [fbank])  # (1, E')
        return sample(self.generator, emb.repeat(n, 1), self.noise(n, seed))  # (n, 3, S, S)

    def generate(self, audio_or_wave: AudioInput, n: int = 1, seed: int = 0,
                 sample_rate: int | None = None) -> list[Image.Image]:
        """``n`` RGB images of one spoken description (noise seeds ``seed .. seed + n - 1``)."""
        images = self.images(audio_or_wave, n, seed, sample_rate)
        return [Image.fromarray(x.permute(1, 2, 0).numpy()) for x in images]


def load_bundle(path: str | Path, device: str = "cpu") -> Bundle:
    """Load a model bundle folder (see the module doc) once; :class:`BadInputError` naming the
    file for a missing folder, a missing or malformed ``bundle.json``, or a missing, modified
    or unreadable weights file."""
    path = Path(path)
    if not path.is_dir():
        raise BadInputError(path, "model bundle not found (a folder written by the `bundle` "
                                  "stage: `dvc repro bundle`)")
    meta_path = path / META
    meta = read_json(meta_path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BadInputError(meta_path, f"not an s2igan model bundle (no format {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise BadInputError(meta_path, f"bundle format version {meta.get('format_version')!r}; "
                                       f"this s2igan reads {FORMAT_VERSION}")
    try:
        sen_cfg = from_dict(SENConfig, meta["sen"]["config"], "sen.config")
        dims = meta["sen"]["dims"]
        dg = from_dict(DGConfig, meta["dg"]["config"], "dg.config")
        fbank = from_dict(FbankConfig, meta["fbank"], "fbank")
        tts = from_dict(TTSConfig, meta["tts"], "tts")
        speech, _ = build_encoders(sen_cfg, dims)
        g = Generator(dg, int(meta["embed_dim"]))
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        raise BadInputError(meta_path, f"malformed bundle.json ({exc})") from None
    _fit(speech, _weights(path / SPEECH_ENCODER, meta), path / SPEECH_ENCODER)
    _fit(g, _weights(path / GENERATOR, meta), path / GENERATOR)
    dev = resolve_device(device)
    return Bundle(speech.to(dev), g.to(dev), fbank, tts, meta, path)
