"""The speech front end: the same filterbank for a file as the fbank stage computes, padding,
and embeddings of a batch of filterbanks."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from s2igan.io import BadInputError
from s2igan.speech.audio import load_audio
from s2igan.speech.frontend import (FbankConfig, SpeechFrontend, compute_fbank, embed_fbanks,
                                    pad_fbanks)


def test_audio_fbank_is_the_stage_filterbank(tmp_path):
    t = np.arange(8000) / 16000
    sf.write(tmp_path / "a.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    cfg = FbankConfig(max_frames=30)
    got = SpeechFrontend(fbank=cfg).audio_fbank(tmp_path / "a.wav")
    np.testing.assert_array_equal(got, compute_fbank(load_audio(tmp_path / "a.wav"), cfg))
    assert got.shape == (30, 40)


def test_pad_fbanks_and_embed():
    fbanks = [np.ones((5, 3), np.float32), 2 * np.ones((2, 3), np.float32)]
    x, lengths = pad_fbanks(fbanks)
    assert x.shape == (2, 5, 3) and lengths.tolist() == [5, 2]
    assert x[1, 2:].abs().sum() == 0 and x[1, :2].eq(2).all()

    class MeanEncoder(torch.nn.Module):     # (B, T, C), lengths -> (B, C)
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward(self, x, lengths):
            return self.scale * x.sum(1) / lengths[:, None]

    emb = embed_fbanks(MeanEncoder(), fbanks)
    assert torch.allclose(emb, torch.tensor([[1.0] * 3, [2.0] * 3]))
    with pytest.raises(BadInputError, match="no speech"):
        embed_fbanks(MeanEncoder(), [])


def test_text_fbanks_are_the_same_for_any_number_of_workers():
    """Each sentence is reseeded on its own, so two synthesis processes give the speech of one
    (Piper samples noise: a shared stream would make the result depend on the split)."""
    texts = ["a small bird with a red head", "a bird with blue wings", "a tiny yellow bird"]
    one = SpeechFrontend(tts_backend="mixed", workers=1)
    two = SpeechFrontend(tts_backend="mixed", workers=2)
    serial, parallel = one.text_fbanks(texts), two.text_fbanks(texts)
    assert len(parallel) == 3
    for a, b, text in zip(serial, parallel, texts):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, one.text_fbank(text))
    assert serial[0].shape != serial[1].shape     # in order, not merely equal as a set
