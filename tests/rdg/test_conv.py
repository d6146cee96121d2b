"""s2igan.rdg.conv: the matmul form of a convolution equals F.conv2d, forward and backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from s2igan.rdg import conv


@pytest.mark.parametrize("shape,kernel,stride,padding,bias", [
    ((2, 512, 8, 8), 4, 2, 1, False),     # a discriminator's last downsampling: matmul form
    ((2, 600, 4, 4), 3, 1, 1, True),      # 3x3, stride 1, with bias: matmul form
    ((2, 1100, 6, 6), 2, 1, 0, False),    # the generator's sub-pixel 2x2 kernels: matmul form
    ((2, 16, 16, 16), 4, 2, 1, False),    # few channels: the direct convolution
])
def test_conv2d_equals_the_direct_convolution(shape, kernel, stride, padding, bias):
    torch.manual_seed(0)
    x = torch.randn(*shape, requires_grad=True)
    w = torch.randn(8, shape[1], kernel, kernel, requires_grad=True)
    b = torch.randn(8, requires_grad=True) if bias else None
    ho = (shape[2] + 2 * padding - kernel) // stride + 1
    gemm = shape[1] * kernel * kernel >= conv.GEMM_MIN_DEPTH and ho * ho <= conv.GEMM_MAX_OUTPUT
    assert gemm == (shape[1] > 16)        # the cases cover both forms
    got = conv.conv2d(x, w, b, stride, padding)
    grads = torch.autograd.grad(got.square().sum(), [x, w] + ([b] if bias else []))
    want = F.conv2d(x, w, b, stride, padding)
    ref = torch.autograd.grad(want.square().sum(), [x, w] + ([b] if bias else []))
    assert got.shape == want.shape
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-3)
    for g, r in zip(grads, ref):
        assert torch.allclose(g, r, rtol=1e-4, atol=1e-4 * r.abs().max().item())


def test_conv2d_module_keeps_nn_conv2d_parameters_and_init():
    torch.manual_seed(0)
    a = torch.nn.Conv2d(512, 4, 4, 2, 1, bias=False)
    torch.manual_seed(0)
    b = conv.Conv2d(512, 4, 4, 2, 1, bias=False)
    assert list(a.state_dict()) == list(b.state_dict())
    assert torch.equal(a.weight, b.weight)
    x = torch.randn(1, 512, 8, 8)
    assert torch.allclose(a(x), b(x), rtol=1e-4, atol=1e-4)
