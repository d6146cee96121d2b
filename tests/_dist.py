"""Two gloo processes on the CPU for the data-parallel tests (tests/sen/test_distributed.py,
tests/rdg/test_rdg_distributed.py): a free port and the process group of one rank."""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager

import torch

from s2igan import distributed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gloo_rank(rank: int, world: int, port: int):
    """Inside an ``mp.spawn`` worker: join the group as ``rank`` of ``world`` (one thread, as
    torchrun's environment would set it), and leave it on the way out."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    distributed.setup(torch.device("cpu"))
    try:
        yield
    finally:
        distributed.cleanup()
