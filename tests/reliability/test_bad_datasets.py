"""Bad files in a real dataset's tree are refused when the dataset is read (the `prepare` stage),
each with one BadInputError naming the file (and line): a truncated or corrupt image, a bounding
box that is not four finite numbers, a short caption file, a duplicated images.txt line, and an
image or recording path outside data.root."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from s2igan.data.adapters import load_dataset
from s2igan.io import BadInputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from _dataset_fixtures import (  # noqa: E402  (the adapter tests' tiny dataset trees)
    make_cub, make_flickr8k, make_oxford, make_places, write_lines)

MAKERS = {"cub": make_cub, "oxford": make_oxford, "flickr8k": make_flickr8k,
          "places": make_places}
FIRST_IMAGE = {"cub": "images/001.Black_footed_Albatross/Black_footed_Albatross_0000_1.jpg",
               "oxford": "jpg/image_00001.jpg", "flickr8k": "Flicker8k_Dataset/1000_aa.jpg",
               "places": "images/b/bedroom/gsun_aa01.jpg"}


def _refused(root: Path, name: str, path: Path, *needles: str) -> BadInputError:
    with pytest.raises(BadInputError) as err:
        load_dataset(name, root)
    assert err.value.path == str(path)
    for needle in needles:
        assert needle in str(err.value)
    return err.value


@pytest.mark.parametrize("name", sorted(MAKERS))
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_image_is_refused_naming_it(tmp_path, name, damage):
    MAKERS[name](tmp_path)
    image = tmp_path / FIRST_IMAGE[name]
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\xff\xd8" + b"x" * 64)
    _refused(tmp_path, name, image, "corrupt or truncated image")


@pytest.mark.parametrize("box", ["inf 2 3 4", "1 2 nan 4", "1 2 3 -inf", "1 2 -3 4", "1 2 3 0",
                                 "1 2 three 4", "1e999 2 3 4"])
def test_cub_bad_box_names_file_and_line(tmp_path, box):
    make_cub(tmp_path)
    path = tmp_path / "bounding_boxes.txt"
    lines = path.read_text().splitlines()
    lines[2] = f"3 {box}"
    write_lines(path, lines)
    _refused(tmp_path, "cub", path, "line 3")


@pytest.mark.parametrize("name", ["cub", "oxford"])
def test_short_caption_file_is_refused(tmp_path, name):
    MAKERS[name](tmp_path)
    caption_file = sorted((tmp_path / "text_c10").rglob("*.txt"))[1]
    write_lines(caption_file, caption_file.read_text().splitlines()[:7])
    _refused(tmp_path, name, caption_file, "7 captions, expected 10")


def test_more_captions_than_ten_are_kept(tmp_path):
    make_cub(tmp_path, captions=11)
    assert len(load_dataset("cub", tmp_path)) == 6 * 11


@pytest.mark.parametrize("kind", ["same line", "same id", "same path"])
def test_cub_duplicate_images_line_names_images_txt(tmp_path, kind):
    make_cub(tmp_path)
    path = tmp_path / "images.txt"
    lines = path.read_text().splitlines()
    num, rel = lines[1].split()
    lines.append({"same line": lines[1], "same id": f"{num} {rel[:-4]}b.jpg",
                  "same path": f"99 {rel}"}[kind])
    write_lines(path, lines)
    _refused(tmp_path, "cub", path, "line 7", "first at line 2")


@pytest.mark.parametrize("rel", ["../../outside.jpg", "001.Black_footed_Albatross/../../../x.jpg",
                                 "/etc/passwd"])
def test_cub_image_path_outside_root(tmp_path, rel):
    root = tmp_path / "cub"
    make_cub(root)
    path = root / "images.txt"
    lines = path.read_text().splitlines()
    lines[0] = f"1 {rel}"
    write_lines(path, lines)
    _refused(root, "cub", path, "line 1", "outside the dataset root")


def test_flickr8k_paths_outside_root(tmp_path):
    root = tmp_path / "f"
    make_flickr8k(root)
    split_file = root / "Flickr_8k.testImages.txt"
    write_lines(split_file, ["3000_ee.jpg", "../../3001_ff.jpg"])
    _refused(root, "flickr8k", split_file, "outside the dataset root")

    make_flickr8k(root)
    wav2capt = root / "flickr_audio" / "wav2capt.txt"
    lines = wav2capt.read_text().splitlines()
    lines[0] = "/tmp/elsewhere.wav 1000_aa.jpg #0"
    write_lines(wav2capt, lines)
    _refused(root, "flickr8k", wav2capt, "line 1", "outside the dataset root")


@pytest.mark.parametrize("key,value", [("wav", "../../secret.wav"),
                                       ("image", "b/bedroom/../../../../x.jpg"),
                                       ("wav", "/etc/hostname")])
def test_places_paths_outside_root(tmp_path, key, value):
    root = tmp_path / "p"
    make_places(root)
    path = root / "metadata" / "train.json"
    doc = json.loads(path.read_text())
    doc["data"][1][key] = value
    path.write_text(json.dumps(doc))
    _refused(root, "places", path, f"data[1].{key}", "outside the dataset root")
