"""``sen.kind: text``, the two-stage baseline (Li et al. Table II): the text encoder's loss path
on tiny inputs, its vocabulary and <unk>, and a tiny training run through the `sen` and `embed`
stages' library calls with both text sources (truth; asr from a transcript cache)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from s2igan.arrays import load_vectors
from s2igan.asr.transcripts import COLUMNS, TRANSCRIPTS
from s2igan.config import ConfigError, from_dict
from s2igan.io import BadInputError
from s2igan.sen.checkpoint import load_sen
from s2igan.sen.config import SENConfig
from s2igan.sen.model import ImageEncoder
from s2igan.sen.run import embed_all, train_and_evaluate
from s2igan.sen.text import TextEncoder, build_vocab, token_ids, tokens
from s2igan.sen.train import batch_losses

from test_sen import TINY, write_dataset

REPO = Path(__file__).resolve().parents[2]
COLOURS = ["red", "blue", "green"]


def test_vocab_is_ordered_by_count_and_unknown_words_map_to_unk():
    vocab = build_vocab(["a red bird", "Red, red bird!", "a blue bird"])
    assert vocab == ["<pad>", "<unk>", "bird", "red", "a", "blue"]  # 3 bird, 3 red, 2 a, 1 blue
    lookup = {w: i for i, w in enumerate(vocab)}
    np.testing.assert_array_equal(token_ids("a purple bird", lookup)[:, 0], [4, 1, 2])
    np.testing.assert_array_equal(token_ids("", lookup)[:, 0], [1])  # nothing heard: one <unk>
    assert build_vocab(["a red bird", "a bird"], min_count=2) == ["<pad>", "<unk>", "a", "bird"]


def test_text_encoder_loss_path_on_tiny_inputs():
    """Matching + distinctive loss (Eq. 8) through the text encoder: finite, every part of the
    encoder gets a gradient, padding does not change an embedding, and one step lowers it."""
    torch.manual_seed(0)
    cfg = SENConfig(**{**TINY.__dict__, "kind": "text"})
    vocab = build_vocab(["a red bird", "a blue bird", "a green bird"])
    enc = TextEncoder(cfg, len(vocab), vocab)
    image, classifier = ImageEncoder(5, cfg.embed_dim), torch.nn.Linear(cfg.embed_dim, 3)
    batch = tokens(["a red bird", "a blue bird", "green", "a red bird"], pd.DataFrame(
        {"id": list("abcd")}), vocab)
    from s2igan.sen.data import pad_batch
    x, lengths = pad_batch(batch, np.arange(4))                   # (4, 3, 1), lengths 3 3 1 3
    assert x.shape == (4, 3, 1) and lengths.tolist() == [3, 3, 1, 3]
    feats, keys = torch.randn(4, 5), torch.tensor([0, 1, 2, 0])
    params = [*enc.parameters(), *image.parameters(), *classifier.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)
    losses = []
    for _ in range(5):
        y = enc(x, lengths)                                       # (4, embed_dim)
        assert y.shape == (4, cfg.embed_dim)
        torch.testing.assert_close(y.norm(dim=1), torch.ones(4))
        out = batch_losses(cfg, y, feats, keys, keys, image, classifier)
        assert set(out) == {"loss", "match", "distinctive"} and torch.isfinite(out["loss"])
        opt.zero_grad()
        out["loss"].backward()
        assert enc.embed.weight.grad[[2, 3, 4, 5]].abs().sum() > 0 and enc.gru.weight_hh_l0.grad.abs().sum() > 0
        assert enc.embed.weight.grad[0].abs().sum() == 0          # padding row stays still
        opt.step()
        losses.append(out["loss"].item())
    assert losses[-1] < losses[0]
    enc.eval()
    with torch.no_grad():  # "green" alone == "green" padded in a batch of longer captions
        alone = enc(x[2:3, :1], lengths[2:3])
        torch.testing.assert_close(enc(x, lengths)[2:3], alone)


def _dataset(tmp_path):
    """The tiny SEN dataset with compositional text: class c says colour c//3 and size c%3."""
    frame = write_dataset(tmp_path, n_classes=9, per_class=5)
    frame["text"] = [f"a {['small', 'large', 'tiny'][c % 3]} bird with {COLOURS[c // 3]} wings"
                     for c in frame["class_id"]]
    (tmp_path / "prepared").mkdir()
    frame.to_parquet(tmp_path / "prepared" / "manifest.parquet")
    return frame


def _train(tmp_path, source):
    frame = _dataset(tmp_path)
    cfg = from_dict(SENConfig, {**{k: v for k, v in TINY.__dict__.items()
                                   if k not in ("teacher_student", "text")},
                                "epochs": 4, "kind": "text", "text": {"source": source,
                                                                       "word_dim": 8}})
    metrics = train_and_evaluate(frame, tmp_path / "fbank", tmp_path / "features",
                                 tmp_path / "models", tmp_path / "reports", cfg)
    return frame, metrics


def _embed(tmp_path, transcripts=None):
    return embed_all(tmp_path / "fbank", tmp_path / "features", tmp_path / "models" / "best.pt",
                     tmp_path / "emb", prepared_dir=tmp_path / "prepared",
                     transcripts_dir=transcripts)


def test_text_system_trains_on_truth_and_embeds_for_the_generator(tmp_path):
    frame, metrics = _train(tmp_path, "truth")
    history = pd.read_csv(tmp_path / "reports" / "loss.csv")
    assert list(history.columns) == ["epoch", "train/loss", "train/match", "train/distinctive",
                                     "val/map"]
    assert history["train/loss"].iloc[-1] < history["train/loss"].iloc[0]
    # pad + unk + the training captions' words (classes 0-6 use every colour and size word)
    assert metrics["sen/vocab_size"] == 2 + len({"a", "bird", "with", "wings", "small", "large",
                                                 "tiny", "red", "blue", "green"})
    assert metrics["test/map"] > 0.5                   # text names the class: easy retrieval
    counts = _embed(tmp_path)
    assert counts["embed/text_source"] == "truth" and "test/asr_wer" not in counts
    index, speech = load_vectors(tmp_path / "emb", "test_speech")
    _, image = load_vectors(tmp_path / "emb", "test_image")
    assert speech.shape[1] == image.shape[1] == counts["embed_dim"] == 32
    np.testing.assert_allclose(np.linalg.norm(speech, axis=1), 1, rtol=1e-5)
    # captions with the same text have the same embedding; different text, different one
    text = frame.set_index("caption_id").loc[index["id"], "text"].to_numpy()
    same = np.flatnonzero(text == text[0])
    other = np.flatnonzero(text != text[0])
    assert len(same) > 1 and len(other) > 0
    np.testing.assert_allclose(speech[same], speech[same[:1]].repeat(len(same), 0), atol=1e-6)
    assert not np.allclose(speech[other[0]], speech[0])
    # the RDG's relation supervisor gets the text system's image encoder
    text_enc, image_enc, cfg = load_sen(tmp_path / "models" / "best.pt")
    assert isinstance(text_enc, TextEncoder) and isinstance(image_enc, ImageEncoder)
    assert text_enc.vocab[:2] == ["<pad>", "<unk>"] and cfg.kind == "text"


def test_text_system_embeds_asr_transcripts_and_reports_their_wer(tmp_path):
    frame, _ = _train(tmp_path, "asr")
    test = frame[frame["split"] == "test"].sort_values("caption_id")
    # a transcript cache as the `asr` stage writes it: caption 0 heard perfectly, caption 1
    # with one substitution and an out-of-vocabulary word, the rest heard as nothing
    heard = test["text"].tolist()
    heard[1] = heard[1].replace("bird", "bert")
    heard[2:] = [""] * (len(heard) - 2)
    cache = tmp_path / "transcripts"
    cache.mkdir()
    pd.DataFrame({"caption_id": test["caption_id"], "split": "test", "text": heard}
                 )[COLUMNS].to_parquet(cache / TRANSCRIPTS)
    with pytest.raises(BadInputError, match="transcript cache not found"):
        _embed(tmp_path, tmp_path / "nowhere")
    counts = _embed(tmp_path, cache)
    n_words = sum(len(t.split()) for t in test["text"])
    assert counts["test/asr_wer"] == pytest.approx(round((1 + n_words - sum(
        len(t.split()) for t in test["text"].iloc[:2])) / n_words, 4))
    assert counts["test/asr_wer_words"] == n_words and counts["embed/asr_captions"] == len(test)
    index, speech = load_vectors(tmp_path / "emb", "test_speech")
    row = {c: i for i, c in enumerate(index["id"])}
    ids = test["caption_id"].tolist()
    enc, _, _ = load_sen(tmp_path / "models" / "best.pt")
    from s2igan.speech.frontend import embed_fbanks
    expected = embed_fbanks(enc, enc.token_arrays([heard[0], heard[1], ""])).numpy()
    np.testing.assert_allclose(speech[[row[ids[0]], row[ids[1]], row[ids[2]]]], expected,
                               atol=1e-5)
    # every caption heard as nothing gets the same (<unk>) embedding; training captions keep
    # their true text (only asr.splits are transcribed)
    np.testing.assert_allclose(speech[row[ids[3]]], speech[row[ids[2]]], atol=1e-6)


def test_text_config_refuses_a_bad_source():
    with pytest.raises(ConfigError, match="sen.text.source"):
        from_dict(SENConfig, {"kind": "text", "text": {"source": "whisper"}}, "sen")


def test_default_system_never_imports_pocketsphinx(tmp_path):
    """sen.kind: s2igan through the sen and embed library calls and the `asr` stage's no-op."""
    code = f"""
import sys
sys.path.insert(0, {str(REPO / 'tests' / 'sen')!r})
from pathlib import Path
from test_sen import TINY, write_dataset
from s2igan.sen.run import embed_all, train_and_evaluate
from s2igan.asr.recognize import ASRConfig, run_asr
root = Path({str(tmp_path)!r})
frame = write_dataset(root)
train_and_evaluate(frame, root / "fbank", root / "features", root / "models", root / "rep", TINY)
embed_all(root / "fbank", root / "features", root / "models" / "best.pt", root / "emb")
run_asr(frame, root / "speech", root / "transcripts", ASRConfig(), active=False)
assert "pocketsphinx" not in sys.modules, "pocketsphinx was imported"
print("clean")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
                                        "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and "clean" in out.stdout, out.stderr[-2000:]
