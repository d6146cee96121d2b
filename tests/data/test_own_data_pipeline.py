"""End to end on a user's own data: `dvc repro` of the tiny profile with `data.name: manifest`
and `data.root` a folder (outside the repo) of PNGs, WAVs and a manifest.csv of (image, audio)
pairs, in a temporary copy of the repo. Then DVC sees a changed recording under data.root."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml
from _dataset_fixtures import make_own, write_tone
from _workspace import TINY, make_workspace, merge, run

IMAGES, PER_IMAGE = 12, 2


@pytest.fixture(scope="module")
def own_workspace(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.skip("git is needed by DVC")
    user = tmp_path_factory.mktemp("my_pictures")
    rows = make_own(user, images=IMAGES, per_image=PER_IMAGE)
    work = tmp_path_factory.mktemp("pipeline_own")
    # no class column: a scene dataset, so the SEN trains without Eq. (7) (README)
    env = make_workspace(work, merge(TINY, {"data": {"name": "manifest", "root": str(user)},
                                            "sen": {"distinctive": False}}))
    out = run(["dvc", "repro"], work, env)
    return work, env, user, rows, out


@pytest.mark.slow
def test_repro_on_own_image_wav_pairs(own_workspace):
    work, _, user, _, out = own_workspace
    ran = set(re.findall(r"Running stage '([\w-]+)'", out))
    assert ran == set(yaml.safe_load((work / "dvc.yaml").read_text())["stages"]), out[-3000:]
    prepare = json.loads((work / "reports/prepare/metrics.json").read_text())
    prepare.pop("time/stage_seconds")
    assert prepare == {"captions": IMAGES * PER_IMAGE, "images": IMAGES, "classes": 1,
                       "test/images": 3, "train/images": 9}   # 20 % of the images in test
    tts = json.loads((work / "reports/tts/metrics.json").read_text())
    fbank = json.loads((work / "reports/fbank/metrics.json").read_text())
    # every caption is heard from its recording: nothing synthesised, every clip filtered
    assert tts["tts/real_clips"] == tts["tts/captions"] == IMAGES * PER_IMAGE
    assert tts["tts/unique_syntheses"] == 0 and tts["tts/skipped"] == 0
    assert fbank["fbank/train/utterances"] + fbank["fbank/test/utterances"] == IMAGES * PER_IMAGE
    evaluate = json.loads((work / "reports/evaluate/metrics.json").read_text())
    assert "gen/r50" in evaluate, sorted(evaluate)      # scene data: R@50, not class mAP
    lock = yaml.safe_load((work / "dvc.lock").read_text())
    deps = {d["path"]: d for d in lock["stages"]["prepare"]["deps"]}
    assert deps[str(user)]["nfiles"] == IMAGES * (1 + PER_IMAGE) + 1   # images, wavs, csv


@pytest.mark.slow
def test_a_changed_recording_under_data_root_reruns_prepare_and_what_reads_audio(own_workspace):
    work, env, user, rows, _ = own_workspace
    assert "up to date" in run(["dvc", "status"], work, env).lower()
    write_tone(user / rows[5]["audio"], hz=1234)            # re-recorded: same name, same CSV
    status = run(["dvc", "status", "prepare"], work, env)
    assert "prepare" in status and str(user) in status, status
    before = json.loads((work / "data/prepared/sources.json").read_text())
    run(["dvc", "repro", "prepare"], work, env)
    after = json.loads((work / "data/prepared/sources.json").read_text())
    assert {k for k in before if before[k] != after[k]} == {str(user / rows[5]["audio"])}
    # data/prepared changed, so the stages reading the audio are out of date now
    status = run(["dvc", "status"], work, env)
    assert re.search(r"^fbank:", status, re.M) and re.search(r"^tts:", status, re.M), status
