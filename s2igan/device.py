"""The torch device of a config's ``device`` setting (``auto`` | ``cpu`` | ``cuda`` | ...), and the
mixed precision a device trains in."""

from __future__ import annotations

import contextlib

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` -> the GPU when there is one, else the CPU; any other name as torch spells it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively: a CUDA GPU that supports it, or a CPU whose
    oneDNN has bf16 kernels (AVX512-BF16 or AMX; e.g. AMD Zen 4, Intel Sapphire Rapids). On any
    other CPU bf16 autocast is emulated and slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):   # a build without oneDNN
            return False
    return False


def bf16_autocast(device: torch.device, enabled: bool) -> bool:
    """Whether a step with autocast ``enabled`` runs in bf16 on ``device``: only where the device
    computes bf16 natively (:func:`bf16_native`); elsewhere it runs in float32."""
    return enabled and bf16_native(device)


def mixed_precision(device: torch.device, enabled: bool):
    """bf16 autocast where :func:`bf16_autocast` says so, else a no-op context: float32
    throughout."""
    if bf16_autocast(device, enabled):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
