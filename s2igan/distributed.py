"""Data-parallel training over several processes (``dist.nproc`` in params.yaml), as
``torchrun`` launches them: NCCL between GPUs, gloo between CPU processes.

* :func:`relaunch` re-executes a stage script under ``python -m torch.distributed.run
  --standalone --nproc_per_node N`` when ``dist.nproc > 1`` and the process is not already a
  torchrun worker (no ``LOCAL_RANK`` in the environment); ``dvc.yaml``'s ``cmd`` lines stay as
  they are. With ``nproc: 1`` nothing here runs and training is the single-process code.
* :func:`setup` (in a worker) reads torchrun's ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK``, opens
  the process group (NCCL for a CUDA device, gloo for the CPU) and selects the GPU of the local
  rank.
* Every rank draws the same global batch (same seeds); :func:`shard` gives each rank a
  contiguous slice of it, :func:`gather_rows` concatenates the ranks' rows again in batch order
  with gradient, and :func:`average_gradients` averages the gradients over the ranks (what
  ``DistributedDataParallel`` does, without its wrapper: the trainers call their modules also
  outside the loss, and the RDG has several optimisers).
* :class:`GlobalBatchNorm1d` / :class:`GlobalBatchNorm2d` compute the batch statistics over all
  ranks (on CPU and GPU alike; torch's ``SyncBatchNorm`` runs on GPUs only), so N processes
  normalise as one process would.

This module (and the stage scripts) read the environment; the trainers only ask
:func:`world_size` / :func:`rank`, which are 1 / 0 without a process group.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.nn.functional import all_reduce as all_reduce_with_grad

from s2igan.config import at_least


@dataclass(frozen=True)
class DistConfig:
    """params.yaml ``dist``: processes per node (1 = the single-process code, unchanged)."""

    nproc: int = 1

    def __post_init__(self) -> None:
        at_least("dist.nproc", self.nproc, 1)


def relaunch(cfg: DistConfig, argv: list[str] | None = None) -> None:
    """Replace this process by ``torchrun --standalone --nproc_per_node cfg.nproc`` running the
    same script and arguments, when ``cfg.nproc > 1`` and this is not a torchrun worker yet
    (returns otherwise). The process keeps its pid, so a SIGTERM reaches torchrun, which stops
    the workers; the exit status is torchrun's."""
    if cfg.nproc <= 1 or "LOCAL_RANK" in os.environ:
        return
    argv = list(sys.argv if argv is None else argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "torch.distributed.run", "--standalone",
                              f"--nproc_per_node={cfg.nproc}", *argv])


def setup(device: torch.device) -> None:
    """Open the process group of a torchrun worker (nothing without ``WORLD_SIZE`` > 1) for the
    training ``device``: NCCL on CUDA (the GPU ``LOCAL_RANK`` selected, so ``cuda`` means it),
    gloo otherwise."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")


def cleanup() -> None:
    """Close the process group (after a last barrier, so no rank leaves while another writes)."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """Rank 0 (or the single process): the one that writes outputs, logs and prints."""
    return rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def broadcast(obj):
    """Rank 0's ``obj`` on every rank (``obj`` itself in a single process)."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard_bounds(n: int, world: int) -> np.ndarray:
    """(world + 1,) start offsets of the ranks' contiguous slices of ``n`` rows (sizes differ by
    at most one, the first ranks take the extra rows)."""
    sizes = np.full(world, n // world)
    sizes[: n % world] += 1
    return np.concatenate([[0], np.cumsum(sizes)])


def shard(n: int) -> slice:
    """This rank's contiguous slice of a global batch of ``n`` rows; the ranks' slices in rank
    order are the batch (the whole batch in a single process)."""
    bounds = shard_bounds(n, world_size())
    r = rank()
    return slice(int(bounds[r]), int(bounds[r + 1]))


class _GatherRows(torch.autograd.Function):
    """All ranks' rows ``(n_r, ...)`` concatenated in rank order; backward: the sum over ranks of
    the gradient of the whole (as torch's ``all_gather`` autograd), this rank's rows of it."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, n: int) -> torch.Tensor:
        world, r = dist.get_world_size(), dist.get_rank()
        bounds = shard_bounds(n, world)
        sizes = np.diff(bounds)
        ctx.rows = (int(bounds[r]), int(bounds[r + 1]))
        padded = F.pad(x, (0, 0) * (x.dim() - 1) + (0, int(sizes.max()) - len(x)))
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded.contiguous())
        return torch.cat([p[:s] for p, s in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rows[0]:ctx.rows[1]], None


def gather_rows(x: torch.Tensor, n: int) -> torch.Tensor:
    """The global batch ``(n, ...)`` from every rank's :func:`shard` of it, with gradient
    (``x`` itself in a single process). Each rank then computes the loss of the whole batch;
    with :func:`average_gradients` the parameters get the gradient of that loss exactly: the
    backward sums the N ranks' identical gradients of the whole, the average divides by N."""
    if not dist.is_initialized():
        return x
    return _GatherRows.apply(x, n)


def average_gradients(params) -> None:
    """Average the ``.grad`` of ``params`` over the ranks (one flat all-reduce; no-op in a
    single process). Every rank must hold the same parameters with a gradient."""
    if not dist.is_initialized():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


class _GlobalStatistics:
    """The training forward of :class:`GlobalBatchNorm1d` / :class:`GlobalBatchNorm2d`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))                   # all but the channel dim
        shape = [1, -1] + [1] * (x.dim() - 2)
        xf = x.float()
        count = torch.tensor([float(x.numel() // x.shape[1])], device=x.device)
        stats = all_reduce_with_grad(torch.cat([xf.sum(dims), (xf * xf).sum(dims), count]))
        c = self.num_features
        n = stats[-1]
        mean, sq = stats[:c] / n, stats[c:2 * c] / n
        var = sq - mean * mean                                     # biased, for normalising
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else (
                    1.0 / float(self.num_batches_tracked))
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1))
        out = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(x.dtype)


class GlobalBatchNorm1d(_GlobalStatistics, nn.BatchNorm1d):
    """``BatchNorm1d`` whose training statistics are those of the global batch: the per-channel
    sums and sums of squares are all-reduced (with gradient) over the ranks. The state dict is
    that of ``BatchNorm1d``. Variance as E[x^2] - E[x]^2 (torch's own BN uses another summation
    order: the two agree to float32 rounding)."""


class GlobalBatchNorm2d(_GlobalStatistics, nn.BatchNorm2d):
    """:class:`GlobalBatchNorm1d` for ``BatchNorm2d``."""


def global_batch_norm(module: nn.Module) -> nn.Module:
    """Turn every ``BatchNorm1d`` / ``BatchNorm2d`` of ``module`` into its global-statistics
    class in place (same parameters and buffers); a no-op in a single process. Only for modules
    that each rank runs on its own rows (a module every rank runs on the whole batch keeps the
    plain BatchNorm: its statistics are the global ones already)."""
    if not dist.is_initialized():
        return module
    for m in module.modules():
        if type(m) is nn.BatchNorm1d:
            m.__class__ = GlobalBatchNorm1d
        elif type(m) is nn.BatchNorm2d:
            m.__class__ = GlobalBatchNorm2d
    return module


class ShardedRows:
    """``module`` run on this rank's :func:`shard` of a global batch, its output gathered back
    (:func:`gather_rows`): called with the ``(n, ...)`` batch it returns the ``(n, ...)`` output,
    as the module would; its other attributes are the module's."""

    def __init__(self, module: nn.Module):
        self.module = module

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = len(x)
        return gather_rows(self.module(x[shard(n)]), n)

    def __getattr__(self, name: str):
        return getattr(self.module, name)
