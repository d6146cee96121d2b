"""s2igan.sen.vlad: VLAD pooling by hand, padding, the encoder wrapper, and k-means centres."""

import numpy as np
import pandas as pd
import pytest
import torch

from s2igan.arrays import Ragged
from s2igan.sen.config import SENConfig
from s2igan.sen.model import SpeechEncoder
from s2igan.sen.vlad import SpeechWithVLAD, fit_centres, sample_states, vlad_pool


def test_vlad_by_hand_and_padding_changes_nothing():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    # caption 0: two states near centre 0 (residuals (1, 0), (0, 2)), one near centre 1 (0, -3);
    # caption 1: one state near centre 1 and two padded steps far from both (must be ignored)
    h = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [10.0, -3.0]],
                      [[9.0, 0.0], [100.0, 100.0], [-50.0, 7.0]]])
    v = vlad_pool(h, torch.tensor([3, 1]), centres).numpy()
    first = np.array([1.0, 2.0, 0.0, -3.0])
    first /= np.r_[np.linalg.norm([1.0, 2.0]).repeat(2), np.ones(2) * 3.0]   # per-centre norm
    np.testing.assert_allclose(v[0], first / np.linalg.norm(first), atol=1e-6)
    np.testing.assert_allclose(v[1], [0.0, 0.0, -1.0, 0.0], atol=1e-6)    # centre 0 stays 0
    alone = vlad_pool(h[1:, :1], torch.tensor([1]), centres).numpy()
    np.testing.assert_allclose(alone[0], v[1], atol=1e-6)


def _encoder():
    torch.manual_seed(0)
    cfg = SENConfig(conv_channels=(8, 8), gru_hidden=6, att_hidden=5, embed_dim=12)
    return SpeechEncoder(cfg, n_mels=4).eval()


def test_speech_with_vlad_is_the_embedding_then_the_vlad_of_the_states():
    enc = _encoder()
    centres = torch.randn(3, 12)
    model = SpeechWithVLAD(enc, centres)
    x, lengths = torch.randn(2, 40, 4), torch.tensor([40, 25])
    with torch.no_grad():
        out = model(x, lengths)
        h, steps = enc.states(x, lengths)
        assert out.shape == (2, 12 + 3 * 12)
        torch.testing.assert_close(out[:, :12], enc(x, lengths))
        torch.testing.assert_close(out[:, 12:], vlad_pool(h, steps, centres))
        # the shorter caption alone gives its own row: padding of the batch does not leak in
        torch.testing.assert_close(model(x[1:, :25], lengths[1:])[0], out[1], atol=1e-5,
                                   rtol=1e-5)
    assert model.centres.data_ptr() != centres.data_ptr()   # a copy: later edits do not leak


def test_sampled_states_are_real_states_and_centres_find_planted_clusters():
    enc = _encoder()
    rng = np.random.default_rng(0)
    fbank = Ragged.from_list([rng.normal(size=(n, 4)).astype(np.float32) for n in (30, 50, 22)],
                             pd.DataFrame({"id": ["a", "b", "c"]}))
    states = sample_states(enc, fbank, per_caption=4, seed=0)
    assert states.shape == (4 + 4 + 2, 12)   # 22 frames give 2 GRU steps: all of them
    with torch.no_grad():
        x = torch.from_numpy(fbank[1])[None]
        h, _ = enc.states(x, torch.tensor([len(x[0])]))
    # the second caption's 4 states are rows of its own BiGRU output
    dist = np.abs(states[4:8, None, :] - h[0].numpy()[None]).max(-1).min(-1)
    assert (dist < 1e-6).all()
    # at most max_captions captions: 2 of the 3, their states only (4 or 2 each)
    some = sample_states(enc, fbank, per_caption=4, seed=1, max_captions=2)
    assert len(some) in (6, 8)
    with torch.no_grad():
        own = [enc.states(torch.from_numpy(fbank[i])[None], torch.tensor([len(fbank[i])]))[0][0]
               for i in range(3)]
    near = np.array([[np.abs(s[None] - h.numpy()).max(-1).min() < 1e-6 for h in own]
                     for s in some])
    assert near.any(1).all() and near.any(0).sum() == 2
    planted = np.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    pts = planted[rng.integers(3, size=600)] + rng.normal(0, 0.1, (600, 3))
    centres = fit_centres(pts, 3, seed=0)
    assert (np.abs(centres[:, None, :] - planted[None]).sum(-1).min(axis=0) < 0.3).all()
    with pytest.raises(ValueError, match="at least 3 states"):
        fit_centres(pts[:2], 3)
