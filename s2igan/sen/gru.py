"""A fast CPU bidirectional GRU on variable-length batches, numerically the same as ``nn.GRU``.

The SEN speech encoder's two bidirectional GRU layers (512 units per direction) dominate a SEN
training step: after the two stride-2 convolutions a 1024-frame utterance is still 255 steps.
PyTorch's CPU ``nn.GRU`` backward goes through autograd step by step (many small operations per
time step and per-step weight-gradient products). This implementation keeps the same parameters
(those of an ``nn.GRU`` module, gate order r, z, n) and the same equations

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h

but (1) computes the input projections of all time steps and both directions in one matrix
product, (2) runs both directions in the same ``bmm`` per step, (3) only over the rows still
active at that step (batch sorted by length, like a packed sequence), and (4) has a hand-written
backward pass whose only sequential work is one ``bmm`` per step; the weight gradients are single
large matrix products over all steps. The backward direction runs over each sequence reversed
within its own length, so padding never enters the recurrence.
tests/sen/test_sen.py checks outputs and gradients against ``nn.GRU`` on packed sequences.
"""

from __future__ import annotations

import torch
from torch import nn


class _BiGRUScan(torch.autograd.Function):
    """Recurrence of both directions. gi: (2, T, B, 3H) input projections (incl. b_ih).

    Per time step the forward pass does one ``baddbmm`` and a handful of in-place element-wise
    operations written straight into preallocated buffers; the local derivatives needed by the
    backward pass are then computed for all steps at once, so the backward loop is one
    ``baddbmm`` and five multiplications per step.
    """

    @staticmethod
    def forward(ctx, gi, w_hh, b_hh, batch_sizes):  # noqa: D401 - autograd signature
        D, T, B, G = gi.shape
        H = G // 3
        hs = gi.new_zeros(D, T, B, H)  # outputs, zero at inactive (padded) positions
        rz = gi.new_zeros(D, T, B, 2 * H)  # gates r, z
        cand = gi.new_zeros(D, T, B, H)  # candidate state n
        ghn = gi.new_zeros(D, T, B, H)  # W_hn h + b_hn
        w_t = w_hh.transpose(1, 2)  # (2, H, 3H)
        bias = b_hh.unsqueeze(1)  # (2, 1, 3H)
        h0 = gi.new_zeros(D, B, H)
        for t in range(T):
            n = batch_sizes[t]
            h = h0[:, :n] if t == 0 else hs[:, t - 1, :n]  # (2, n, H)
            gh = torch.baddbmm(bias, h, w_t)  # (2, n, 3H)
            g = gi[:, t, :n]
            rz_t, c, ghn_t = rz[:, t, :n], cand[:, t, :n], ghn[:, t, :n]
            torch.add(g[..., :2 * H], gh[..., :2 * H], out=rz_t).sigmoid_()
            ghn_t.copy_(gh[..., 2 * H:])
            torch.addcmul(g[..., 2 * H:], rz_t[..., :H], ghn_t, out=c).tanh_()
            torch.addcmul(c, rz_t[..., H:], h - c, out=hs[:, t, :n])  # (1-z) n + z h
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            r, z = rz[..., :H], rz[..., H:]
            h_prev = torch.cat([h0.unsqueeze(1), hs[:, :-1]], dim=1)  # (2, T, B, H)
            coef_n = (1 - z) * (1 - cand * cand)  # d h' / d pre_n
            coef_z = (h_prev - cand) * z * (1 - z)  # d h' / d pre_z
            coef_r = ghn * r * (1 - r)  # d pre_n / d pre_r
            ctx.save_for_backward(w_hh, h_prev, r.contiguous(), z.contiguous(), coef_n,
                                  coef_z, coef_r)
        ctx.batch_sizes = batch_sizes
        return hs

    @staticmethod
    def backward(ctx, dhs):
        w_hh, h_prev, r, z, coef_n, coef_z, coef_r = ctx.saved_tensors
        batch_sizes = ctx.batch_sizes
        D, T, B, H = h_prev.shape
        dgh = h_prev.new_zeros(D, T, B, 3 * H)  # d loss / d (W_hh h + b_hh), gates r, z, n
        dgi_n = h_prev.new_zeros(D, T, B, H)  # d loss / d (W_in x + b_in); r, z as in dgh
        dh = h_prev.new_zeros(D, B, H)  # gradient flowing into h_t from later steps
        for t in reversed(range(T)):
            n = batch_sizes[t]
            d = dh[:, :n] + dhs[:, t, :n]  # (2, n, H)
            dgh_t, dn = dgh[:, t, :n], dgi_n[:, t, :n]
            torch.mul(d, coef_n[:, t, :n], out=dn)
            torch.mul(dn, coef_r[:, t, :n], out=dgh_t[..., :H])
            torch.mul(d, coef_z[:, t, :n], out=dgh_t[..., H:2 * H])
            torch.mul(dn, r[:, t, :n], out=dgh_t[..., 2 * H:])
            dh[:, :n] = torch.baddbmm(d * z[:, t, :n], dgh_t, w_hh)  # (2, n, H)
        flat_dgh = dgh.reshape(D, T * B, 3 * H)
        dw_hh = torch.bmm(flat_dgh.transpose(1, 2), h_prev.reshape(D, T * B, H))  # (2, 3H, H)
        db_hh = flat_dgh.sum(dim=1)  # (2, 3H)
        dgi = torch.cat([dgh[..., :2 * H], dgi_n], dim=-1)  # (2, T, B, 3H)
        return dgi, dw_hh, db_hh, None


def reverse_index(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(B, T) index reversing each row within its length; padded positions map to themselves."""
    t = torch.arange(T, device=lengths.device).unsqueeze(0)  # (1, T)
    L = lengths.unsqueeze(1)  # (B, 1)
    return torch.where(t < L, L - 1 - t, t)


def _gather_time(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def bigru_sorted(x: torch.Tensor, lengths: torch.Tensor, gru: nn.GRU) -> torch.Tensor:
    """Run the bidirectional multi-layer ``gru`` on ``x (B, T, I)`` whose ``lengths`` are sorted
    in non-increasing order; returns ``(B, T, 2H)`` with zeros at padded positions."""
    B, T, _ = x.shape
    H = gru.hidden_size
    batch_sizes = (lengths.unsqueeze(1) > torch.arange(T, device=lengths.device)).sum(0).tolist()
    rev = reverse_index(lengths, T)  # (B, T)
    for layer in range(gru.num_layers):
        sfx = f"_l{layer}"
        w_ih = torch.cat([getattr(gru, f"weight_ih{sfx}"), getattr(gru, f"weight_ih{sfx}_reverse")])
        b_ih = torch.cat([getattr(gru, f"bias_ih{sfx}"), getattr(gru, f"bias_ih{sfx}_reverse")])
        w_hh = torch.stack([getattr(gru, f"weight_hh{sfx}"), getattr(gru, f"weight_hh{sfx}_reverse")])
        b_hh = torch.stack([getattr(gru, f"bias_hh{sfx}"), getattr(gru, f"bias_hh{sfx}_reverse")])
        gi = nn.functional.linear(x, w_ih, b_ih)  # (B, T, 6H), all steps in one product
        gi_f, gi_b = gi[..., :3 * H], _gather_time(gi[..., 3 * H:], rev)
        gi = torch.stack([gi_f, gi_b]).transpose(1, 2).contiguous()  # (2, T, B, 3H)
        with torch.autocast(x.device.type, enabled=False):   # the recurrence in float32
            hs = _BiGRUScan.apply(gi.to(w_hh.dtype), w_hh, b_hh, batch_sizes)  # (2, T, B, H)
        h_f = hs[0].transpose(0, 1)  # (B, T, H)
        h_b = _gather_time(hs[1].transpose(0, 1), rev)  # back to natural time order
        x = torch.cat([h_f, h_b], dim=-1)  # (B, T, 2H)
    return x


def bigru(x: torch.Tensor, lengths: torch.Tensor, gru: nn.GRU) -> torch.Tensor:
    """:func:`bigru_sorted` for any order of ``lengths`` (sorts, runs, restores the order)."""
    if not (gru.bidirectional and gru.batch_first and gru.bias):
        raise ValueError("bigru needs a bidirectional, batch_first nn.GRU with biases")
    order = torch.argsort(lengths, descending=True, stable=True)
    out = bigru_sorted(x[order], lengths[order], gru)
    return out[torch.argsort(order)]
