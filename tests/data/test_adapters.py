"""Dataset adapters on tiny copies of CUB-200, Oxford-102, Flickr8k, Places (original layouts)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _dataset_fixtures import (
    CUB_CLASSES, OXFORD_CLASSES, make_cub, make_flickr8k, make_oxford, make_places, write_lines)

from s2igan.data import manifest
from s2igan.data.adapters import ADAPTERS, load_dataset, places
from s2igan.io import BadInputError


def _raises(name: str, root: Path, *needles: str) -> BadInputError:
    with pytest.raises(BadInputError) as info:
        load_dataset(name, root)
    for needle in needles:
        assert needle in str(info.value), f"{needle!r} not in {info.value}"
    return info.value


def _class_disjoint(frame) -> None:
    train = set(frame.loc[frame.split == "train", "class_id"])
    test = set(frame.loc[frame.split == "test", "class_id"])
    assert train and test and not train & test


# ----------------------------------------------------------------------------- registry

def test_registry_names_the_four_datasets_and_the_manifest():
    assert sorted(ADAPTERS) == ["cub", "flickr8k", "manifest", "oxford", "places"]


def test_unknown_name_and_missing_root(tmp_path):
    with pytest.raises(BadInputError, match="unknown dataset 'coco'.*cub"):
        load_dataset("coco", tmp_path)
    with pytest.raises(BadInputError, match="does not exist") as info:
        load_dataset("cub", tmp_path / "nowhere")
    assert info.value.path == str(tmp_path / "nowhere")


# ----------------------------------------------------------------------------- CUB-200

def test_cub_manifest(tmp_path):
    info = make_cub(tmp_path)
    frame = load_dataset("cub", tmp_path)
    assert len(frame) == info["n_images"] * info["captions"] == 60
    assert frame.attrs == {"dataset": "cub", "kind": "fine_grained"}
    _class_disjoint(frame)
    assert set(frame.loc[frame.split == "test", "class_name"]) == {CUB_CLASSES[2]}
    assert set(frame.split) == {"train", "test"}
    first = frame.iloc[0]
    assert first.image_id == "Black_footed_Albatross_0000_1"
    assert first.class_id == 0 and first.class_name == CUB_CLASSES[0]
    assert json.loads(first.bbox) == [11.0, 20.5, 31.0, 40.0]
    assert first.text == "caption 0 of bird Black_footed_Albatross_0000_1"
    assert first.audio_path is None
    assert Path(first.image_path) == tmp_path / "images" / CUB_CLASSES[0] / f"{first.image_id}.jpg"
    assert all(Path(p).is_file() for p in frame.image_path)
    assert frame.groupby("image_id").caption_idx.apply(list).map(list(range(10)).__eq__).all()
    assert sorted(frame.class_id.unique()) == [0, 1, 2]
    manifest.write(frame, tmp_path / "m.parquet")  # a valid manifest round-trips
    assert manifest.read(tmp_path / "m.parquet").attrs["kind"] == "fine_grained"


def _cub_caption(root: Path) -> Path:
    return root / "text_c10" / CUB_CLASSES[1] / "Laysan_Albatross_0001_4.txt"


BROKEN_CUB = [
    (lambda r: (r / "testclasses.txt").unlink(), ["testclasses.txt", "missing"]),
    (lambda r: _cub_caption(r).unlink(), ["Laysan_Albatross_0001_4.txt", "Reed et al."]),
    (lambda r: write_lines(r / "images.txt", ["1 001.Black_footed_Albatross/x.jpg", "2", "3 y"]),
     ["images.txt", "line 2", "<image_id> <class_dir>/<name>.jpg"]),
    (lambda r: write_lines(r / "bounding_boxes.txt", ["1 1 2 3 4", "2 1 two 3 4"]),
     ["bounding_boxes.txt", "line 2"]),
    (lambda r: next((r / "images" / CUB_CLASSES[2]).glob("*.jpg")).unlink(),
     ["Sooty_Albatross_0000_5.jpg", "missing CUB image"]),
    (lambda r: _cub_caption(r).write_bytes(b"a caption\nbad \xff\xfe bytes\n"),
     ["Laysan_Albatross_0001_4.txt", "not UTF-8"]),
    (lambda r: _cub_caption(r).write_text("one\n\nthree\n", encoding="utf-8"),
     ["Laysan_Albatross_0001_4.txt", "line 2: empty caption"]),
    (lambda r: write_lines(r / "testclasses.txt", []),
     ["testclasses.txt", "empty file"]),
    (lambda r: write_lines(r / "trainvalclasses.txt", [CUB_CLASSES[0]]),
     [CUB_CLASSES[1], "neither trainvalclasses.txt nor testclasses.txt"]),
]


# ----------------------------------------------------------------------------- Oxford-102

def test_oxford_manifest(tmp_path):
    info = make_oxford(tmp_path)
    frame = load_dataset("oxford", tmp_path)
    assert len(frame) == info["n_images"] * info["captions"] == 60
    assert frame.attrs["kind"] == "fine_grained"
    _class_disjoint(frame)
    by_name = frame.drop_duplicates("class_name").set_index("class_name").class_id.to_dict()
    assert by_name == {"class_00001": 0, "class_00002": 1, "class_00077": 76}
    assert set(frame.loc[frame.split == "test", "class_name"]) == {OXFORD_CLASSES[2]}
    assert "image_09999" not in set(frame.image_id)  # no captions -> not in the manifest
    row = frame[(frame.image_id == "image_00003") & (frame.caption_idx == 4)].iloc[0]
    assert row.text == "flower image_00003 caption 4" and row.class_name == "class_00002"
    assert Path(row.image_path) == tmp_path / "jpg" / "image_00003.jpg"
    assert (frame.bbox == "[]").all() and frame.audio_path.isna().all()


BROKEN_OXFORD = [
    (lambda r: (r / "jpg" / "image_00002.jpg").unlink(), ["image_00002.jpg", "missing"]),
    (lambda r: shutil.rmtree(r / "text_c10"), ["text_c10", "Reed et al."]),
    (lambda r: (r / "trainvalclasses.txt").unlink(), ["trainvalclasses.txt"]),
    (lambda r: (r / "text_c10" / "class_00002" / "image_00004.txt").write_bytes(b"\xe9t\xe9\n"),
     ["image_00004.txt", "not UTF-8"]),
    (lambda r: (r / "text_c10" / "flowers").mkdir(), ["flowers", "class_XXXXX"]),
    (lambda r: write_lines(r / "testclasses.txt", ["class_00077", "class_00103"]),
     ["testclasses.txt", "class_00103"]),
]


# ----------------------------------------------------------------------------- Flickr8k

def test_flickr8k_manifest(tmp_path):
    info = make_flickr8k(tmp_path)
    frame = load_dataset("flickr8k", tmp_path)
    n_images = sum(len(v) for v in info["splits"].values())
    assert len(frame) == 5 * n_images == 30
    assert frame.attrs == {"dataset": "flickr8k", "kind": "scene"}
    assert (frame.class_id == -1).all() and (frame.class_name == "").all()
    per_split = frame.drop_duplicates("image_id").split.value_counts().to_dict()
    assert per_split == {"train": 3, "val": 1, "test": 2}
    assert "9999_zz" not in set(frame.image_id)
    row = frame[(frame.image_id == "2000_dd") & (frame.caption_idx == 3)].iloc[0]
    assert row.split == "val" and row.text == "A dog number 3 runs in 2000_dd.jpg ."
    assert Path(row.audio_path) == tmp_path / "flickr_audio" / "wavs" / "2000_dd_3.wav"
    assert Path(row.image_path) == tmp_path / "Flicker8k_Dataset" / "2000_dd.jpg"
    assert all(Path(p).is_file() for p in frame.audio_path)


def test_flickr8k_without_text_and_text_in_subfolder(tmp_path):
    make_flickr8k(tmp_path, with_text=False)
    sub = tmp_path / "Flickr8k_text"
    sub.mkdir()
    for name in ("Flickr_8k.trainImages.txt", "Flickr_8k.devImages.txt",
                 "Flickr_8k.testImages.txt"):
        (tmp_path / name).rename(sub / name)
    frame = load_dataset("flickr8k", tmp_path)
    assert len(frame) == 30 and frame.text.isna().all() and frame.audio_path.notna().all()


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


BROKEN_FLICKR8K = [
    (lambda r: (r / "flickr_audio" / "wavs" / "3001_ff_2.wav").unlink(),
     ["3001_ff_2.wav", "missing spoken caption"]),
    (lambda r: _append(r / "flickr_audio" / "wav2capt.txt", "1000_aa_9.wav 1000_aa.jpg"),
     ["wav2capt.txt", "line 36", "<wav name> <image>.jpg #<n>"]),
    (lambda r: (r / "Flickr_8k.devImages.txt").unlink(), ["Flickr_8k.devImages.txt"]),
    (lambda r: (r / "Flicker8k_Dataset" / "1001_bb.jpg").unlink(), ["1001_bb.jpg", "missing"]),
    (lambda r: shutil.rmtree(r / "flickr_audio"), ["flickr_audio", "Audio Caption Corpus"]),
    (lambda r: _append(r / "Flickr8k.token.txt", "1000_aa.jpg#x\tno number"),
     ["Flickr8k.token.txt", "line 36"]),
]


# ----------------------------------------------------------------------------- Places subset

def test_places_manifest(tmp_path):
    info = make_places(tmp_path)
    frame = load_dataset("places", tmp_path)
    assert len(frame) == 5  # the kitchen record is not one of the 7 classes
    assert frame.attrs == {"dataset": "places", "kind": "scene"}
    assert frame.split.value_counts().to_dict() == {"train": 4, "test": 1}
    by_image = frame.set_index("image_id")
    assert by_image.loc["gsun_aa02", "class_id"] == 0
    assert by_image.loc["gsun_bb01", "class_name"] == "dinette/home"
    assert by_image.loc["gsun_bb01", "class_id"] == 1
    assert by_image.loc["gsun_cc01", "class_id"] == 6
    assert by_image.loc["gsun_dd01", "split"] == "test"
    assert by_image.loc["gsun_dd01", "class_id"] == 5
    assert (frame.caption_idx == 0).all()
    record = info["train"][1]
    assert by_image.loc["gsun_aa02", "audio_path"] == str(tmp_path / record["wav"])
    assert by_image.loc["gsun_aa02", "image_path"] == str(tmp_path / "images" / record["image"])
    assert by_image.loc["gsun_aa02", "text"] == record["asr_text"]


def test_places_val_json_and_class_name_forms(tmp_path):
    make_places(tmp_path, test_name="val.json")
    frame = load_dataset("places", tmp_path)
    assert frame.split.value_counts().to_dict() == {"train": 4, "test": 1}
    assert places.scene_class("d/dinette/home/x.jpg") == "dinette/home"
    assert places.scene_class("dinette_home/x.jpg") == "dinette/home"
    assert places.scene_class("dining room/x.jpg") == "dining_room"
    assert places.scene_class("h/hotel_room/x.jpg") == "hotel_room"
    assert places.scene_class("h/home_office/x.jpg") == "home_office"
    assert places.scene_class("k/kitchen/x.jpg") is None


def test_places_json_base_paths(tmp_path):
    make_places(tmp_path)
    (tmp_path / "images").rename(tmp_path / "PlacesImages")
    for name in ("train.json", "test.json"):
        path = tmp_path / "metadata" / name
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc.update(image_base_path="PlacesImages", audio_base_path="/data/sls/authors/only")
        path.write_text(json.dumps(doc), encoding="utf-8")
    frame = load_dataset("places", tmp_path)
    assert len(frame) == 5
    assert all(p.startswith(str(tmp_path / "PlacesImages")) for p in frame.image_path)
    assert all(p.startswith(str(tmp_path / "wavs")) for p in frame.audio_path)


def _edit_train(root: Path, edit) -> None:
    path = root / "metadata" / "train.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


BROKEN_PLACES = [
    (lambda r: (r / "wavs" / "1" / "utterance_1.wav").unlink(),
     ["utterance_1.wav", "missing spoken caption"]),
    (lambda r: (r / "metadata" / "train.json").unlink(), ["train.json", "missing"]),
    (lambda r: (r / "metadata" / "test.json").write_text("{\"data\": [", encoding="utf-8"),
     ["test.json", "not valid UTF-8 JSON"]),
    (lambda r: _edit_train(r, lambda d: d["data"][0].pop("wav")),
     ["train.json", "data[0]", "\"wav\""]),
    (lambda r: (r / "images" / "d" / "dinette" / "home" / "gsun_bb01.jpg").unlink(),
     ["gsun_bb01.jpg", "missing Places image"]),
    (lambda r: _edit_train(r, lambda d: d["data"].append(
        json.loads((r / "metadata" / "test.json").read_text())["data"][0])),
     ["test.json", "gsun_dd01", "both"]),
]


# ----------------------------------------------------------------------------- broken layouts

MAKERS = {"cub": make_cub, "oxford": make_oxford, "flickr8k": make_flickr8k, "places": make_places}
BROKEN = {"cub": BROKEN_CUB, "oxford": BROKEN_OXFORD, "flickr8k": BROKEN_FLICKR8K,
          "places": BROKEN_PLACES}


@pytest.mark.parametrize("name, breaker, needles", [
    pytest.param(name, breaker, needles, id=f"{name}-{k}")
    for name, cases in BROKEN.items() for k, (breaker, needles) in enumerate(cases)])
def test_broken_layouts_name_the_file_and_the_problem(tmp_path, name, breaker, needles):
    """Each dataset's layout broken one way at a time: one BadInputError naming the file."""
    MAKERS[name](tmp_path)
    breaker(tmp_path)
    _raises(name, tmp_path, *needles)
