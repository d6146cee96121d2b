"""The `asr` stage's work on real speech: Piper-synthesised captions (no recorded speech ships
offline) transcribed by pocketsphinx through the transcript cache, with worker processes; a
silent clip stops it with one BadInputError naming the file."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s2igan.asr.recognize import ASRConfig, run_asr
from s2igan.asr.transcripts import read_transcripts
from s2igan.asr.wer import wer
from s2igan.io import BadInputError
from s2igan.speech.audio import to_16k_mono
from s2igan.speech.store import ShardWriter, to_int16, write_index

pytest.importorskip("pocketsphinx")

REPO = Path(__file__).resolve().parents[2]
TEXTS = ["this bird has a red crown, blue wings and a yellow belly",
         "a small bird with a black crown and white wings"]


def _store(root: Path, waves: list[np.ndarray], texts: list[str], split: str = "test"):
    """A `tts`-style speech store and manifest rows for the clips ``waves``."""
    speech = root / "speech"
    speech.mkdir(parents=True)
    writer, rows = ShardWriter(speech), []
    for k, (wave, text) in enumerate(zip(waves, texts)):
        shard, start, length = writer.add(to_int16(wave))
        rows.append(dict(caption_id=f"img{k}#0", source="tts", shard=shard, start=start,
                         length=length, path="", voice="v", text=text, sample_rate=16000))
    writer.flush()
    write_index(speech, rows)
    frame = pd.DataFrame({"caption_id": [r["caption_id"] for r in rows], "split": split,
                          "text": texts})
    return frame, speech


@pytest.fixture(scope="module")
def piper_waves():
    from s2igan.speech.tts import make_backend
    backend = make_backend("piper")
    backend.reseed(0)
    voice = backend.voices()[0]
    return [to_16k_mono(backend.synthesize(t, voice), backend.sample_rate) for t in TEXTS]


@pytest.mark.slow
def test_piper_speech_is_transcribed_close_to_its_text(tmp_path, piper_waves):
    # the second clip twice (a shared TTS segment is decoded once) and a training caption that
    # asr.splits leaves out
    frame, speech = _store(tmp_path, [*piper_waves, piper_waves[1]], [*TEXTS, TEXTS[1]])
    frame.loc[2, "split"] = "train"
    metrics = run_asr(frame, speech, tmp_path / "transcripts", ASRConfig(workers=2), active=True)
    heard = read_transcripts(tmp_path / "transcripts")
    assert heard["caption_id"].tolist() == ["img0#0", "img1#0"]    # test split only
    assert metrics["asr/clips"] == 2 and metrics["asr/captions"] == 2
    score = wer(TEXTS, heard["text"])
    print("transcripts:", heard["text"].tolist(), "WER", score)
    assert score < 0.5, heard["text"].tolist()                     # close to the text ...
    assert metrics["test/wer"] == pytest.approx(score, abs=1e-4)   # ... and reported as such
    assert metrics["test/wer_words"] == sum(len(t.replace(",", "").split()) for t in TEXTS)
    assert metrics["asr/audio_seconds"] > 3 and metrics["time/asr_seconds"] > 0


def test_inactive_stage_writes_an_empty_cache(tmp_path):
    metrics = run_asr(pd.DataFrame({"caption_id": ["x"], "split": ["test"], "text": ["a"]}),
                      tmp_path / "no_speech", tmp_path / "transcripts", ASRConfig(), active=False)
    assert metrics == {"asr/active": 0, "asr/captions": 0}
    assert read_transcripts(tmp_path / "transcripts").empty


@pytest.mark.parametrize("workers", [1, 2])
def test_silent_clip_is_one_bad_input_error_naming_the_file(tmp_path, workers):
    waves = [np.zeros(16000, np.float32), 0.1 * np.sin(np.arange(16000) / 5).astype(np.float32)]
    frame, speech = _store(tmp_path, waves, ["silence", "a tone"])
    with pytest.raises(BadInputError, match=r"shard-000\.npy \[img0#0\]: silent clip"):
        run_asr(frame, speech, tmp_path / "transcripts", ASRConfig(workers=workers), active=True)
    assert not (tmp_path / "transcripts").exists()                 # nothing half-written
    # skip: recorded, an empty transcript, the other clip still transcribed
    metrics = run_asr(frame, speech, tmp_path / "transcripts",
                      ASRConfig(workers=workers, on_bad_input="skip"), active=True)
    assert metrics["asr/skipped"] == 1
    assert read_transcripts(tmp_path / "transcripts")["text"].iloc[0] == ""


def test_stage_prints_one_line_for_a_silent_clip(tmp_path):
    """The `asr` stage's command line: status 1, one line naming the clip, no traceback."""
    frame, speech = _store(tmp_path, [np.zeros(8000, np.float32)], ["silence"])
    (tmp_path / "prepared").mkdir()
    manifest = frame.assign(image_id="img0", class_id=0, image_path="x.png", class_name="c",
                            caption_idx=0)
    from s2igan.data import manifest as mf
    built = mf.build(manifest.drop(columns=["caption_id"]).to_dict("records"), "toy",
                     "fine_grained")
    built["caption_id"] = frame["caption_id"].to_numpy()
    built.to_parquet(tmp_path / "prepared" / "manifest.parquet")
    (tmp_path / "params.yaml").write_text(
        "sen: {kind: text, text: {source: asr}}\nasr: {workers: 1}\n")
    out = subprocess.run([sys.executable, str(REPO / "stages" / "asr.py"), "prepared", "speech",
                          "transcripts", "reports"], cwd=tmp_path, capture_output=True,
                         text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                         "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db",
                                         "MLFLOW_DISABLE_TELEMETRY": "true"})
    assert out.returncode == 1, out.stderr[-2000:]
    assert out.stderr.strip().splitlines()[-1] == (
        "asr: bad input: speech/shard-000.npy [img0#0]: silent clip (all samples are "
        "zero)"), out.stderr
    assert "Traceback" not in out.stderr
