"""`data.name: manifest`: a user's own images and recordings (or captions) listed in one file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from _dataset_fixtures import make_own, write_png, write_tone

from s2igan.data import manifest
from s2igan.data.adapters import load_dataset, own
from s2igan.data.prepare import DataConfig, prepare
from s2igan.io import BadInputError


def _write_csv(root: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def test_pairs_without_classes_are_a_scene_dataset_split_by_image(tmp_path):
    written = make_own(tmp_path, images=10, per_image=2)
    frame = load_dataset("manifest", tmp_path)
    assert frame.attrs == {"dataset": "manifest", "kind": "scene"}
    assert len(frame) == len(written) == 20
    assert (frame.class_id == -1).all() and (frame.class_name == "").all()
    assert frame.text.isna().all()                       # real speech only: nothing for TTS
    assert [Path(p).relative_to(tmp_path).as_posix() for p in frame.audio_path] == [
        r["audio"] for r in written]
    assert list(frame.caption_id[:2]) == ["p00#0", "p00#1"]
    images = manifest.images(frame)
    # image-disjoint: each image in one split; 20 % of the 10 images in test
    assert frame.groupby("image_id").split.nunique().max() == 1
    assert (images.split == "test").sum() == 2 and (images.split == "train").sum() == 8


def test_classes_give_a_fine_grained_class_disjoint_split(tmp_path):
    make_own(tmp_path, images=10, per_image=1, classes=5)
    frame = load_dataset("manifest", tmp_path)
    assert frame.attrs["kind"] == "fine_grained"
    assert sorted(frame.class_name.unique()) == [f"kind_{i}" for i in range(5)]
    assert (frame.class_id == frame.class_name.str[-1].astype(int)).all()   # sorted names
    train = set(frame.loc[frame.split == "train", "class_id"])
    test = set(frame.loc[frame.split == "test", "class_id"])
    assert len(test) == 1 and len(train) == 4 and not train & test


def test_seeded_split_follows_data_seed_and_is_stable_under_additions():
    keys = [f"c{i}" for i in range(20)]
    a, b = own.seeded_split(keys, 0), own.seeded_split(keys, 1)
    assert sum(v == "test" for v in a.values()) == 4
    assert a != b                                          # another seed, another split
    grown = own.seeded_split([*keys, "new"], 0)
    assert sum(grown[k] != a[k] for k in keys) <= 1        # at most the one pushed out of test


def test_split_column_and_caption_rows_for_tts(tmp_path):
    make_own(tmp_path, images=4, per_image=2, captions=True, split=True)
    frame = load_dataset("manifest", tmp_path)
    assert set(manifest.images(frame).query("split == 'test'").image_id) == {"p03"}
    spoken = frame[frame.audio_path.isna()]                 # the tts stage speaks these
    assert list(spoken.text) == [f"picture {k} caption 1" for k in range(4)]
    heard = frame[frame.audio_path.notna()]                 # the text is kept as a transcript
    assert list(heard.text) == [f"picture {k} caption 0" for k in range(4)]


def test_jsonl_with_ids_and_colliding_stems(tmp_path):
    for k, folder in enumerate(("a", "b")):
        write_png(tmp_path / folder / "same.png", seed=k)
        write_tone(tmp_path / folder / "same.wav", hz=300 + 50 * k)
    lines = [{"image": f"{f}/same.png", "audio": f"{f}/same.wav", "id": f"utt-{f}",
              "class": 7, "split": s} for f, s in (("a", "train"), ("b", "test"))]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    frame = load_dataset("manifest", tmp_path)
    assert list(frame.caption_id) == ["utt-a", "utt-b"]
    assert list(frame.image_id) == ["a__same", "b__same"]
    assert list(frame.class_name) == ["7", "7"] and frame.attrs["kind"] == "fine_grained"


# ----------------------------------------------------------------------------- bad rows

def _rewrite(root: Path, edit) -> None:
    with open(root / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    edit(rows)
    _write_csv(root, rows)


def _corrupt(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


BAD = {   # breaker, words the one-line error must hold (line 2 is the first row)
    "missing image": (lambda r: (r / "photos" / "p01.png").unlink(),
                      ["line 4:", "image 'photos/p01.png' does not exist"]),
    "truncated image": (lambda r: _corrupt(r / "photos" / "p02.png"),
                        ["line 6:", "'photos/p02.png' does not decode"]),
    "missing audio": (lambda r: (r / "speech" / "p00_1.wav").unlink(),
                      ["line 3:", "audio 'speech/p00_1.wav' does not exist"]),
    "undecodable audio": (lambda r: (r / "speech" / "p01_0.wav").write_bytes(b"RIFF junk"),
                          ["line 4:", "audio 'speech/p01_0.wav' does not decode"]),
    "empty caption": (lambda r: _rewrite(r, lambda rows: rows[2].update(audio="", caption=" ")),
                      ["line 4:", "empty caption and no audio"]),
    "unknown column": (lambda r: _rewrite(r, lambda rows: rows[0].update(speaker="ann")),
                       ["line 1 (header)", "unknown column 'speaker'"]),
    "duplicate id": (lambda r: _rewrite(r, lambda rows: [x.update(id=f"u{i % 3}")
                                                         for i, x in enumerate(rows)]),
                     ["line 5:", "id 'u0' repeats line 2"]),
    "recording twice": (lambda r: _rewrite(r, lambda rows: rows[3].update(audio=rows[0]["audio"])),
                        ["line 5:", "recording 'speech/p00_0.wav' repeats line 2"]),
    "caption twice": (lambda r: _rewrite(r, lambda rows: [x.update(audio="", caption="a bird")
                                                          for x in rows[:2]]),
                      ["line 3:", "caption 'a bird' repeats line 2"]),
    "outside root": (lambda r: _rewrite(r, lambda rows: rows[1].update(audio="../x.wav")),
                     ["line 3:", "'../x.wav' is outside the dataset root"]),
    "absolute path": (lambda r: _rewrite(r, lambda rows: rows[0].update(image="/etc/hosts")),
                      ["line 2:", "outside the dataset root"]),
    "unknown split": (lambda r: _rewrite(r, lambda rows: [x.update(split="dev") for x in rows]),
                      ["line 2:", "unknown split 'dev'"]),
    "two classes": (lambda r: _rewrite(r, lambda rows: [x.update({"class": str(i)})
                                                        for i, x in enumerate(rows)]),
                    ["line 3:", "image 'photos/p00.png' has class '1', but '0' on line 2"]),
    "empty class": (lambda r: _rewrite(r, lambda rows: [x.update({"class": "" if i == 4
                                                                  else "k"})
                                                        for i, x in enumerate(rows)]),
                    ["line 6:", "empty 'class'"]),
    "no test images": (lambda r: _rewrite(r, lambda rows: [x.update(split="train")
                                                           for x in rows]),
                       ["no test images"]),
    "extra field": (lambda r: (r / "manifest.csv").write_text(
        (r / "manifest.csv").read_text() + "photos/p00.png,speech/p00_0.wav,extra\n"),
        ["line 14:", "more fields than the header's 2"]),
    "no manifest": (lambda r: (r / "manifest.csv").unlink(), ["missing manifest"]),
    "two manifests": (lambda r: (r / "manifest.jsonl").write_text("{}\n"),
                      ["manifest.jsonl", "both manifest.csv and manifest.jsonl"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_bad_row_is_one_error_naming_the_file_and_line(tmp_path, case):
    make_own(tmp_path, images=6, per_image=2)
    breaker, needles = BAD[case]
    breaker(tmp_path)
    with pytest.raises(BadInputError) as info:
        load_dataset("manifest", tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert Path(info.value.path).name in ("manifest.csv", "manifest.jsonl")
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message}"


def test_jsonl_bad_lines(tmp_path):
    write_png(tmp_path / "x.png")
    cases = {'{"image": "x.png", "caption": "a", "colour": "red"}': "unknown column 'colour'",
             '{"image": "x.png", "caption": ["a"]}': "'caption' must be a string",
             '["x.png", "a"]': "expected a JSON object per line",
             '{"image": "x.png", "caption": "a"': "not valid JSON"}
    for text, needle in cases.items():
        (tmp_path / "manifest.jsonl").write_text('{"image": "x.png", "caption": "b"}\n' + text)
        with pytest.raises(BadInputError, match=f"line 2: .*{needle}"):
            load_dataset("manifest", tmp_path)


def test_bad_row_leaves_previous_outputs_untouched(tmp_path):
    """prepare on a broken manifest: the error, and the previous data/prepared and sheet stay."""
    root = tmp_path / "own"
    root.mkdir()
    make_own(root, images=5, per_image=1)
    cfg = DataConfig(name="manifest", root=root, contact_sheet_images=2)
    out, sheet = tmp_path / "prepared", tmp_path / "sheet.png"
    assert prepare(cfg, out, sheet)["images"] == 5
    from s2igan.data.contact_sheet import pick_examples   # no classes: not one image per split
    assert len(pick_examples(manifest.read(out / "manifest.parquet"), 2)) == 2
    before = {p.name: p.read_bytes() for p in (out / "manifest.parquet", sheet)}
    write_png(root / "photos" / "new.png", seed=9)
    with open(root / "manifest.csv", "a", encoding="utf-8") as fh:
        fh.write("photos/new.png,speech/missing.wav\n")
    with pytest.raises(BadInputError, match="line 7: audio 'speech/missing.wav' does not exist"):
        prepare(cfg, out, sheet)
    assert {p.name: p.read_bytes() for p in (out / "manifest.parquet", sheet)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["own", "prepared", "sheet.png"]


def test_sources_json_changes_with_a_file_the_manifest_names(tmp_path):
    """A re-recorded clip leaves the manifest as it was but changes data/prepared/sources.json,
    so DVC re-runs the stages that read the audio."""
    root = tmp_path / "own"
    root.mkdir()
    rows = make_own(root, images=5, per_image=1)
    cfg = DataConfig(name="manifest", root=root, contact_sheet_images=1)
    prepare(cfg, tmp_path / "a", tmp_path / "a.png")
    first = json.loads((tmp_path / "a" / "sources.json").read_text())
    assert sorted(first) == sorted(str(root / r[k]) for r in rows for k in ("image", "audio"))
    write_tone(root / rows[2]["audio"], hz=999)
    prepare(cfg, tmp_path / "b", tmp_path / "b.png")
    second = json.loads((tmp_path / "b" / "sources.json").read_text())
    assert {k for k in first if first[k] != second[k]} == {str(root / rows[2]["audio"])}
    assert ((tmp_path / "a" / "manifest.parquet").read_bytes()
            == (tmp_path / "b" / "manifest.parquet").read_bytes())
