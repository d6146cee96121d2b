"""Convolutions of many input channels on small maps as one matrix product (CPU only).

On the CPU, oneDNN's direct convolution (forward and, more so, backward) runs far below the
machine's matmul rate when the output map is tiny and the channels are many: the last
downsampling layers of the discriminators (e.g. 1024 -> 2048 channels, 8x8 -> 4x4 in the official
configuration) and the generator's first upsampling convolutions. There ``unfold`` + one matmul
computes the same convolution (same parameters, results equal to float rounding). Measured
forward + backward on one thread of the 2-core reference machine (Intel Xeon), `F.conv2d` vs this:
(8, 1024, 8x8) -> 2048, 4x4 stride 2: 0.72 s -> 0.28 s; (8, 512, 16x16) -> 1024: 0.27 -> 0.19 s;
(8, 2048, 4x4) -> 1024, 3x3: 0.28 -> 0.16 s. With fewer input channels or larger outputs the
direct convolution wins (e.g. (24, 32, 32x32) -> 64: 3.5x slower as a matmul), hence the two
thresholds below. On a GPU the plain convolution is always used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GEMM_MIN_DEPTH = 4096      # C_in * kh * kw of the kernel, at least
GEMM_MAX_OUTPUT = 64       # H_out * W_out, at most


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride=1, padding=0) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, padding)`` (zero padding, no dilation or groups),
    computed as ``unfold`` + matmul where that is the faster form (see the module doc)."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    b, _, h, w = x.shape
    cout, cin, kh, kw = weight.shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    if x.device.type != "cpu" or cin * kh * kw < GEMM_MIN_DEPTH or ho * wo > GEMM_MAX_OUTPUT:
        return F.conv2d(x, weight, bias, (sh, sw), (ph, pw))
    cols = F.unfold(x, (kh, kw), padding=(ph, pw), stride=(sh, sw))      # (B, C*kh*kw, L)
    y = weight.reshape(cout, -1) @ cols                                   # (B, O, L)
    if bias is not None:
        y = y + bias[:, None]
    return y.view(b, cout, ho, wo)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, initialisation and state-dict keys) whose forward is
    :func:`conv2d`; dilated, grouped or non-zero-padded layers keep the plain forward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (self.groups != 1 or self.dilation != (1, 1) or self.padding_mode != "zeros"
                or isinstance(self.padding, str)):
            return super().forward(x)
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)
