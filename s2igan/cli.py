"""The `s2igan` console command.

    s2igan generate --text "this bird has a red crown, blue wings and a white belly" -o out/
    s2igan generate --audio my_caption.wav -o out/
    s2igan generate --audio recordings/ -o out/     # a folder (or a CSV with a `path` column)
    s2igan captions --split test --limit 5      # caption ids (e.g. sb_c003_i002#1), class, text
    s2igan listen 'sb_c003_i002#1' -o caption.wav
    s2igan ui                      # MLflow UI on http://127.0.0.1:5000 (loopback only)
    s2igan --version

The pipeline itself runs through DVC (`dvc repro`); these commands use what it produced in the
current workspace.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from s2igan import __version__
from s2igan.bundle import Bundle, load_bundle
from s2igan.config import ConfigError, from_dict, load_params
from s2igan.data import manifest
from s2igan.generate import (DEFAULT_BUNDLE, DEFAULT_GENERATOR, generate, generate_batch,
                             is_batch, load_models, recordings, speech_checkpoint, stale_bundle)
from s2igan.io import BadInputError
from s2igan.speech.audio import probe
from s2igan.speech.frontend import FbankConfig
from s2igan.speech.store import listen
from s2igan.speech.synth import TTSConfig
from s2igan.speech.text import clean_text
from s2igan.tracking import DEFAULT_URI, unreachable

MANIFEST = Path("data/prepared/manifest.parquet")   # the `prepare` stage's output (dvc.yaml)
SERVABLE = ("", "file", "sqlite", "postgresql", "mysql", "mssql")   # `mlflow server` stores


def _params(root: Path, *sections: str) -> dict[str, Any]:
    """The workspace's params.yaml, with ``sections`` checked to be there (one-line errors)."""
    path = root / "params.yaml"
    if not path.is_file():
        raise BadInputError(path, "not found: run s2igan in the s2igan repo (where params.yaml "
                                  "is) or pass --workspace DIR")
    try:
        params = load_params(path)
    except yaml.YAMLError as exc:
        raise BadInputError(path, "not valid YAML: " + " ".join(str(exc).split())) from None
    if not isinstance(params, dict):
        raise BadInputError(path, f"not a mapping of sections (got {type(params).__name__})")
    for name in sections:
        if not isinstance(params.get(name), dict):
            raise BadInputError(path, f"no {name!r} section")
    return params


def _bundle_dir(args: argparse.Namespace) -> Path | None:
    """``--bundle``, else the workspace's ``models/bundle`` when it exists (None: neither)."""
    if args.bundle:
        return Path(args.bundle)
    path = Path(args.workspace) / DEFAULT_BUNDLE
    return path if path.is_dir() else None


def _model(args: argparse.Namespace, bundle_dir: Path | None) -> Bundle:
    """The bundle of ``bundle_dir``, unless it is the workspace's own and was built from other
    checkpoints than the workspace's; else those checkpoints (with params.yaml's front end)."""
    root = Path(args.workspace)
    sen, gen = speech_checkpoint(root), root / DEFAULT_GENERATOR
    if bundle_dir is not None:
        bundle = load_bundle(bundle_dir, device="auto")
        why = None if args.bundle else stale_bundle(bundle, sen, gen)
        if why is None:
            return bundle
        print(f"s2igan: generate: note: {why}; using the checkpoints (`dvc repro bundle` "
              "rebuilds it)", file=sys.stderr)
    params = _params(root, "tts", "fbank")
    return load_models(sen, gen, from_dict(FbankConfig, params["fbank"], "fbank"),
                       from_dict(TTSConfig, params["tts"], "tts").backend)


def _cmd_generate(args: argparse.Namespace) -> int:
    bundle_dir = _bundle_dir(args)
    if bundle_dir is None:
        _params(Path(args.workspace), "tts", "fbank")   # outside the repo: say so first
    batch = args.audio is not None and is_batch(args.audio)
    n = args.n if args.n is not None else (1 if batch else 4)
    if n < 1:
        raise BadInputError(None, f"-n must be >= 1, got {n}")
    # cheap input checks before any model loads
    if batch:
        items = recordings(args.audio)
        if Path(args.out).suffix.lower() == ".png":
            raise BadInputError(args.out, "a folder or CSV of recordings needs an output "
                                          "folder, not a .png path")
    elif args.text is not None:
        clean_text(args.text, "--text")
    else:
        probe(args.audio)
    model = _model(args, bundle_dir)
    if batch:
        paths = generate_batch(items, Path(args.out), model, n=n, seed=args.seed)
    else:
        paths = generate(audio=args.audio, text=args.text, out=Path(args.out), n=n,
                         seed=args.seed, model=model)
    for path in paths:
        print(path)
    return 0


def _cmd_listen(args: argparse.Namespace) -> int:
    text = listen(Path(args.speech_dir), args.caption_id, Path(args.out))
    print(f"{args.out}: {text}")
    return 0


def _cmd_captions(args: argparse.Namespace) -> int:
    frame = manifest.read(Path(args.workspace) / MANIFEST)
    if args.split:
        frame = frame[frame["split"] == args.split]
    if args.limit is not None:
        if args.limit < 0:
            raise BadInputError(None, f"--limit must be >= 0, got {args.limit}")
        frame = frame.head(args.limit)
    for row in frame.itertuples(index=False):
        text = " ".join(row.text.split()) if isinstance(row.text, str) else ""   # None: no transcript
        print(f"{row.caption_id}\tclass {row.class_id}\t{text}".rstrip())
    return 0


def run_process_group(cmd: list[str], env: dict[str, str] | None = None,
                      grace: float = 10.0) -> int:
    """Run ``cmd`` in a process group of its own and return its exit status; SIGTERM, SIGINT
    or SIGHUP sent to this process stop the whole group, and whatever of the group is still
    running when ``cmd`` ends is stopped too (SIGTERM, then SIGKILL after ``grace`` seconds).

    ``mlflow server`` starts the web server (uvicorn) as a child process and does not stop it
    when it is terminated itself, so neither waiting on it nor exec'ing it would do."""
    stopping = []

    def stop(signum, frame) -> None:
        stopping.append(signum)
        if proc is not None:
            _signal_group(proc.pid, signal.SIGTERM)

    proc = None
    handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {sig: signal.signal(sig, stop) for sig in handled}
    try:
        proc = subprocess.Popen(cmd, env=env, start_new_session=True)   # pgid == proc.pid
        if stopping:  # a signal came before the group existed
            _signal_group(proc.pid, signal.SIGTERM)
        status = proc.wait()
    finally:
        if proc is not None:
            _signal_group(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while _signal_group(proc.pid, 0) and time.monotonic() < deadline:
                time.sleep(0.1)
            _signal_group(proc.pid, signal.SIGKILL)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - status if status < 0 else status   # killed by signal N: 128 + N, as a shell


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the process group; False when the group has no process left."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


def _cmd_ui(args: argparse.Namespace) -> int:
    """Serve the tracking store on loopback; when ``MLFLOW_TRACKING_URI`` names an http(s)
    server, that server already is the UI: say where it is and start nothing."""
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    uri = env.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    scheme = urllib.parse.urlsplit(uri).scheme
    if scheme in ("http", "https"):
        why = unreachable(uri)
        if why:
            raise BadInputError(None, f"MLFLOW_TRACKING_URI={uri} does not answer ({why})")
        print(f"MLflow UI: {uri} (the tracking server of MLFLOW_TRACKING_URI; nothing started)")
        return 0
    if not env.get("MLFLOW_TRACKING_URI") and not Path("params.yaml").is_file():
        raise BadInputError(None, "no params.yaml here: run s2igan ui in the s2igan repo (its "
                                  "store is mlflow.db there) or set MLFLOW_TRACKING_URI")
    if scheme == "sqlite":
        db = Path(uri.removeprefix("sqlite:///"))
        if not db.parent.is_dir():
            raise BadInputError(db.parent, f"no such folder for the store of {uri}")
    elif uri.startswith("databricks") or scheme.split("+")[0] not in SERVABLE:
        raise BadInputError(None, f"MLFLOW_TRACKING_URI={uri}: s2igan ui serves sqlite, file and "
                                  "database stores and points at http(s) servers; open this "
                                  "one with its own UI")
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", args.host, "--port", str(args.port),
           "--workers", "1", "--backend-store-uri", uri]
    print(f"MLflow UI on http://{args.host}:{args.port} (store {uri}); Ctrl-C to stop", flush=True)
    return run_process_group(cmd, env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s2igan", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="spoken description -> image(s), with this workspace's models")
    src = gen.add_mutually_exclusive_group(required=True)
    src.add_argument("--audio", help="a speech recording (wav/flac, any rate, mono or stereo), "
                                     "a folder of them, or a CSV with a `path` column (then "
                                     "one OUT/<recording name>.png each)")
    src.add_argument("--text", help="a caption spoken by the configured TTS voice")
    gen.add_argument("-o", "--out", default="generated", help="a .png path (one image or a row of n) or a directory")
    gen.add_argument("-n", type=int, default=None,
                     help="images per description (different noise; default 4, or 1 for a "
                          "folder or CSV)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--workspace", default=".", help="repo root holding models/ and params.yaml")
    gen.add_argument("--bundle", help="a model bundle folder (default: WORKSPACE/models/bundle "
                                      "when it exists, else the checkpoints of models/)")
    gen.set_defaults(func=_cmd_generate)

    cap = sub.add_parser("captions", help="list caption ids (with class and text) of the manifest")
    cap.add_argument("--split", choices=manifest.SPLITS, help="only this split")
    cap.add_argument("--limit", type=int, help="at most this many captions")
    cap.add_argument("--workspace", default=".", help="repo root holding data/prepared")
    cap.set_defaults(func=_cmd_captions)

    lis = sub.add_parser("listen", help="write one synthesised caption as a wav file")
    lis.add_argument("caption_id", help="caption id from the manifest (`s2igan captions`), "
                                        "e.g. 'sb_c003_i002#1'")
    lis.add_argument("-o", "--out", default="caption.wav")
    lis.add_argument("--speech-dir", default="data/speech")
    lis.set_defaults(func=_cmd_listen)

    ui = sub.add_parser("ui", help="start the MLflow UI on loopback")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(func=_cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (BadInputError, ConfigError, OSError) as exc:   # one line, no traceback
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"s2igan: {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
