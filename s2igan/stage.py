"""The shared entry point of the stage scripts: ``stages/<name>.py`` ends with ::

    if __name__ == "__main__":
        run_stage(main, __doc__)

:func:`run_stage` gives every stage the same command-line behaviour:

* **Usage.** ``main``'s positional parameters are the stage's paths, in the order of the
  ``dvc.yaml`` ``cmd``; a command line with another number of arguments exits (status 1) with the
  script's docstring, which carries the usage line.
* **SIGTERM.** A cancelled ``dvc repro`` (or a job scheduler) stops a stage with SIGTERM, whose
  default action kills the process at once, skipping every ``finally`` block. The handler
  installed here turns it into ``SystemExit(143)`` (128 + SIGTERM) instead, so the stack unwinds
  normally: :func:`s2igan.io.atomic_path` / :func:`~s2igan.io.atomic_dir` remove their temporary
  outputs and the tracking run is closed. Python runs the handler between bytecodes, so a long
  call in native code finishes first.
* **Bad input.** :class:`s2igan.io.BadInputError` (one clear error naming one file) exits with
  status 1 and the single line ``<stage>: bad input: <file>: <problem>`` instead of a
  traceback; a params.yaml value of the wrong type or out of range
  (:class:`s2igan.config.ConfigError`) exits with ``<stage>: bad params: <key> ...``. Any other
  exception is a bug and keeps its traceback.
* **Stale temporaries.** Before ``main`` runs, the temporary files and folders that an earlier,
  killed run of the stage left beside its outputs (:func:`s2igan.io.remove_stale_temporaries`
  on the parent folders of the path arguments) are removed.
* **Resumable training outside the DVC outs.** ``sen`` and ``rdg`` train in
  :func:`resume_dir` (``models/.resume/<stage>/``, git-ignored, not a DVC out) and
  :func:`publish` copies the finished checkpoints into their out (``models/<stage>/``). DVC
  deletes a stage's outs before it runs the stage again, and the old way around that,
  ``persist: true``, switches DVC's run-cache off for the stage; a checkpoint kept beside the
  outs survives a killed run and leaves the outs plain, so the run-cache works.

The stage name is the script's file name (stage name == script name == ``dvc.yaml`` stage).
"""

from __future__ import annotations

import inspect
import multiprocessing
import multiprocessing.pool
import shutil
import signal
import sys
from pathlib import Path
from typing import Callable, Sequence

from s2igan.config import ConfigError
from s2igan.io import BadInputError, atomic_dir, remove_stale_temporaries

RESUME_FOLDER = ".resume"     # models/.resume/<stage>/: resumable checkpoints, not DVC outs

SIGTERM_STATUS = 128 + signal.SIGTERM  # what a shell reports for a process ended by SIGTERM


def _exit_on_sigterm(signum, frame) -> None:
    sys.exit(SIGTERM_STATUS)


def _worker_init(initializer: Callable[..., object] | None, *initargs: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if initializer is not None:
        initializer(*initargs)


def worker_pool(processes: int, initializer: Callable[..., object] | None = None,
                initargs: tuple = ()) -> multiprocessing.pool.Pool:
    """A fork ``multiprocessing`` pool whose workers die at once on SIGTERM.

    Forked workers inherit :func:`run_stage`'s SIGTERM handler, which turns the signal into a
    Python-level exit; ``Pool.terminate()`` (also run when a ``with`` block of the pool ends)
    signals every worker, and a worker that is waiting on the pool's task-queue lock then tries to
    exit through that lock and never does: the stage hangs after its last result (seen once in the
    tts stage of a fresh-clone ``make repro``). The workers restore the default action first."""
    return multiprocessing.get_context("fork").Pool(processes, _worker_init,
                                                    (initializer, *initargs))


def _arity(main: Callable[..., object]) -> tuple[int, float]:
    """(fewest, most) positional arguments ``main`` accepts."""
    low, high = 0, 0.0
    for p in inspect.signature(main).parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            high = float("inf")
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            high += 1
            low += p.default is p.empty
    return low, high


def run_stage(main: Callable[..., object], doc: str | None,
              argv: Sequence[str] | None = None) -> None:
    """Run ``main(*argv[1:])`` as the stage named after ``main``'s file (see the module doc)."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(inspect.getfile(main))
    low, high = _arity(main)
    if not low <= len(argv) - 1 <= high:
        names = " ".join(p.upper() for p in inspect.signature(main).parameters)
        sys.exit(doc or f"usage: python {script.parent.name}/{script.name} {names}")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    for path in argv[1:]:
        remove_stale_temporaries(path)
    try:
        main(*argv[1:])
    except BadInputError as err:
        sys.exit(f"{script.stem}: bad input: {err}")
    except ConfigError as err:
        sys.exit(f"{script.stem}: bad params: {err}")


def resume_dir(model_dir: str | Path, make: bool = True) -> Path:
    """Where a training stage keeps its resumable checkpoints: ``models/sen`` ->
    ``models/.resume/sen`` (beside the out, never inside it, so DVC neither deletes it before a
    re-run nor caches it). Temporaries a killed run left there are removed; the folder is made
    (``make=False``: only the path, for the torchrun workers other than rank 0)."""
    model_dir = Path(model_dir)
    work = model_dir.parent / RESUME_FOLDER / model_dir.name
    if not make:
        return work
    work.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(work)
    return work


def publish(work_dir: str | Path, model_dir: str | Path, pattern: str = "*.pt",
            folders: tuple[str, ...] = ()) -> list[str]:
    """Copy the files of ``work_dir`` matching ``pattern`` (and the sub-folders ``folders`` that
    exist) into ``model_dir``, all at once (the folder is swapped in complete,
    :func:`s2igan.io.atomic_dir`); returns the names copied."""
    names = sorted(p.name for p in Path(work_dir).glob(pattern) if p.is_file())
    subdirs = [f for f in folders if (Path(work_dir) / f).is_dir()]
    with atomic_dir(model_dir) as tmp:
        for name in names:
            shutil.copy2(Path(work_dir) / name, tmp / name)
        for name in subdirs:
            shutil.copytree(Path(work_dir) / name, tmp / name)
    return names + subdirs
