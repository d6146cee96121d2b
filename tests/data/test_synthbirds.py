"""SynthBirds: determinism, class-disjoint compositional split, captions, and rendered colours."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from s2igan.config import from_dict
from s2igan.data import manifest
from s2igan.data.captions import GRAMMARS, SLOTS, caption, caption_pool
from s2igan.data.contact_sheet import contact_sheet
from s2igan.data.synthbirds import (PALETTE, SIZES, SynthBirdsConfig, class_name, generate,
                                    render, sample_classes)

TINY = SynthBirdsConfig(n_classes=8, test_classes=2, images_per_class=2, captions_per_image=3,
                        image_size=64, workers=1)
COLOURS = list(PALETTE)
RGB = np.array([PALETTE[c] for c in COLOURS], float)            # (10, 3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("sb")
    return generate(TINY, out, seed=0), out


def _image_bytes(frame):
    return [open(p, "rb").read() for p in manifest.images(frame)["image_path"]]


def test_deterministic_and_worker_independent(tiny, tmp_path):
    frame, out = tiny
    again = generate(from_dict(SynthBirdsConfig, {**TINY.__dict__, "workers": 2}), tmp_path, 0)

    def strip(f):
        return f.drop(columns="image_path").reset_index(drop=True)

    assert strip(frame).equals(strip(again))
    assert _image_bytes(frame) == _image_bytes(again)
    other = generate(TINY, tmp_path / "s1", seed=1)
    assert set(other["class_name"]) != set(frame["class_name"])
    assert _image_bytes(other) != _image_bytes(frame)


def test_manifest_rows(tiny):
    frame, out = tiny
    assert frame.attrs == {"dataset": "synthbirds", "kind": "fine_grained"}
    imgs = manifest.images(frame)
    assert len(imgs) == TINY.n_classes * TINY.images_per_class
    assert (frame.groupby("image_id")["caption_idx"].apply(sorted)
            .map(lambda v: v == list(range(TINY.captions_per_image))).all())
    for _, row in imgs.iterrows():
        assert row["image_path"].startswith(str(out / "images"))
        with Image.open(row["image_path"]) as img:
            assert img.size == (64, 64) and img.mode == "RGB"
    attrs = manifest.attributes(frame)
    assert set(attrs.columns) == set(SLOTS)
    for (cid, name), group in frame.groupby(["class_id", "class_name"]):
        assert group["attributes"].nunique() == 1
        assert class_name(json.loads(group["attributes"].iloc[0])) == name
    assert frame.groupby("class_id")["attributes"].first().is_unique
    assert set(frame["split"]) == {"train", "test"}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_classes,test_classes", [(48, 12), (8, 2), (200, 50)])
def test_split_is_class_disjoint_and_compositional(seed, n_classes, test_classes):
    cfg = SynthBirdsConfig(n_classes=n_classes, test_classes=test_classes)
    classes = sample_classes(cfg, seed)
    combos = [tuple(a[s] for s in SLOTS) for a, _ in classes]
    assert len(set(combos)) == n_classes
    train = [c for c, (_, split) in zip(combos, classes) if split == "train"]
    test = [c for c, (_, split) in zip(combos, classes) if split == "test"]
    assert len(test) == test_classes and not set(train) & set(test)
    for k, slot in enumerate(SLOTS):
        seen = {c[k] for c in train}
        assert {c[k] for c in test} <= seen, slot
        if len(train) >= len(COLOURS):   # every value of every slot is seen in training
            assert seen == (set(SIZES) if slot == "size" else set(COLOURS)), slot


def test_split_refuses_impossible_config():
    with pytest.raises(ValueError):
        sample_classes(SynthBirdsConfig(n_classes=4, test_classes=4), 0)


# ------------------------------------------------------------------------------------ captions
_NOUNS = {"crown": "crown|head|cap on its head|cap|feathers on its head|top of its head",
          "wing": "wings?|feathers on its wings|wing feathers|coloured wings",
          "belly": "belly|breast|underside|chest|underparts"}
_COL = "|".join(COLOURS)


def _parse(text: str) -> dict[str, set[str]]:
    """Independent reading of a caption: which colour is said of which part, and the size."""
    said: dict[str, set[str]] = {s: set() for s in SLOTS}
    for slot, nouns in _NOUNS.items():
        for m in re.finditer(rf"\b({_COL}) (?:{nouns})\b", text):
            said[slot].add(m.group(1))
        for m in re.finditer(rf"\b(?:{nouns}) (?:is|are)(?: coloured)? ({_COL})\b", text):
            said[slot].add(m.group(1))
        for m in re.finditer(rf"\b({_COL}) on its (?:{nouns})\b", text):      # red on its head
            said[slot].add(m.group(1))
        for m in re.finditer(rf"(?:^|, |and )(?:{nouns}) ({_COL})\b", text):   # wings blue
            said[slot].add(m.group(1))
    said["size"] |= {"small" for w in ("small", "little", "tiny") if re.search(rf"\b{w}\b", text)}
    said["size"] |= {"large" for w in ("large", "big") if re.search(rf"\b{w}\b", text)}
    return said


@pytest.mark.parametrize("grammar", sorted(GRAMMARS))
def test_captions_say_only_true_attributes(grammar):
    rng = np.random.default_rng(0)
    omitted = 0
    for _ in range(1500):
        attrs = {s: str(rng.choice(COLOURS)) for s in ("crown", "wing", "belly")}
        attrs["size"] = str(rng.choice(SIZES))
        text, mentioned = caption(attrs, rng, omit_prob=0.3, grammar=grammar)
        assert re.fullmatch(r"[a-z ,]+", text), text
        said = _parse(text)
        for slot in SLOTS:
            assert said[slot] == ({attrs[slot]} if slot in mentioned else set()), (text, slot)
        n_colour_words = len(re.findall(rf"\b({_COL})\b", text))
        assert n_colour_words == sum(s in mentioned for s in ("crown", "wing", "belly")), text
        assert len(mentioned) >= 3
        omitted += len(mentioned) == 3
    assert 0.22 < omitted / 1500 < 0.38


def test_caption_variety_and_pool():
    attrs = {"crown": "orange", "wing": "blue", "belly": "white", "size": "small"}
    rng = np.random.default_rng(1)
    texts = {caption(attrs, rng, 0.0, "wide")[0] for _ in range(300)}
    assert len(texts) > 100
    # the crown's colour is always tied to the crown, in one of the grammar's four ways
    tied = re.compile(r"an orange (?:crown|head|cap)|orange feathers on its head|"
                      r"orange on its (?:head|crown)|(?:crown|head) orange|"
                      r"(?:crown|head) is (?:coloured )?orange")
    assert all(tied.search(t) for t in texts), [t for t in texts if not tied.search(t)][:3]
    for form in ("on its head", "head orange", "coloured orange", "an orange cap"):
        assert any(form in t for t in texts), form
    pool = caption_pool(attrs, 7, np.random.default_rng(2), grammar="wide")
    assert len(pool) == len(set(pool)) == 7


def test_basic_grammar_is_the_grammar_until_2026_12_03():
    """`data.synthbirds.grammar: basic` draws, draw for draw, the captions of the grammar before
    the widening (these pools were printed by that code), and none of the wide grammar's forms."""
    red = {"crown": "red", "wing": "blue", "belly": "white", "size": "small"}
    assert caption_pool(red, 3, np.random.default_rng([0, 3, 7]), 0.15, "basic") == [
        "this is a little bird, its underside is white, its wings are blue and its crown is red",
        "this is a little bird, the top of its head is red and its underside is white",
        "the bird is small with a white breast, a red cap on its head and blue wing feathers"]
    green = {"crown": "green", "wing": "black", "belly": "yellow", "size": "large"}
    assert caption_pool(green, 3, np.random.default_rng([0, 3, 11]), 0.15, "basic") == [
        "a bird with a green cap on its head, a yellow belly and black wings, it is quite big",
        "a bird with a green cap on its head, black feathers on its wings and a yellow underside, "
        "it is quite large",
        "the bird is big, the top of its head is green, its belly is yellow and the feathers on "
        "its wings are black"]
    rng = np.random.default_rng(3)
    basic = {caption(red, rng, 0.15, "basic")[0] for _ in range(400)}
    wide = {caption(red, rng, 0.15, "wide")[0] for _ in range(400)}
    new_forms = re.compile(r"red on its|head red|chest|underparts|coloured|the wings are")
    assert not any(new_forms.search(t) for t in basic)
    assert any(new_forms.search(t) for t in wide)
    with pytest.raises(ValueError, match="grammar"):
        caption(red, rng, 0.15, "poetic")


def test_generate_caption_pool_bounds_distinct_texts(tmp_path):
    cfg = from_dict(SynthBirdsConfig, {**TINY.__dict__, "caption_pool": 2,
                                       "captions_per_image": 5, "image_size": 32})
    frame = generate(cfg, tmp_path, seed=0)
    assert (frame.groupby("class_id")["text"].nunique() <= 2).all()


# ----------------------------------------------------------------------------------- rendering
def _colour_pixels(img: Image.Image, tol: float = 30.0) -> dict[str, int]:
    px = np.asarray(img.convert("RGB"), float)                      # (H, W, 3)
    dist = np.linalg.norm(px[:, :, None, :] - RGB[None, None], axis=-1)   # (H, W, 10)
    near = dist.min(-1) < tol
    return {c: int((near & (dist.argmin(-1) == i)).sum()) for i, c in enumerate(COLOURS)}


def _random_attrs(rng):
    crown, wing, belly = rng.choice(COLOURS, 3, replace=False)
    return {"crown": str(crown), "wing": str(wing), "belly": str(belly),
            "size": str(rng.choice(SIZES))}


def test_rendered_parts_show_their_colours_and_nothing_else():
    rng = np.random.default_rng(3)
    for i in range(40):
        attrs = _random_attrs(rng)
        counts = _colour_pixels(render(attrs, np.random.default_rng(i), 64))
        for slot in ("crown", "wing", "belly"):
            assert counts[attrs[slot]] >= 20, (attrs, slot, counts)   # >= 0.5 % of 64x64
        foreign = max(n for c, n in counts.items() if c not in attrs.values())
        assert foreign <= 41, (attrs, counts)                        # <= 1 % of 64x64


def test_colours_survive_downsampling_to_32px():
    rng = np.random.default_rng(4)
    for i in range(12):
        attrs = _random_attrs(rng)
        img = render(attrs, np.random.default_rng(i), 128).resize((32, 32), Image.LANCZOS)
        counts = _colour_pixels(img, tol=40)
        for slot in ("crown", "wing", "belly"):
            assert counts[attrs[slot]] >= 3, (attrs, slot, counts)


def test_size_is_visible_and_pose_varies():
    rng = np.random.default_rng(5)
    area = {"small": [], "large": []}
    for i in range(30):
        attrs = _random_attrs(rng)
        counts = _colour_pixels(render(attrs, np.random.default_rng(i), 64))
        area[attrs["size"]].append(sum(counts[attrs[s]] for s in ("crown", "wing", "belly")))
    assert np.mean(area["large"]) > 1.5 * np.mean(area["small"])
    attrs = _random_attrs(rng)
    imgs = [np.asarray(render(attrs, np.random.default_rng(i), 64), float) for i in range(4)]
    for a in range(4):
        for b in range(a + 1, 4):
            assert np.abs(imgs[a] - imgs[b]).mean() > 5.0


def test_contact_sheet(tiny, tmp_path):
    frame, _ = tiny
    out = contact_sheet(frame, tmp_path / "sheet.png", n=6, tile=64, columns=3)
    with Image.open(out) as sheet:
        assert sheet.size[0] == 3 * (64 + 8) + 8
        dark = (np.asarray(sheet.convert("L")) < 100).mean()
        assert dark > 0.005   # the captions were written
    assert not list(tmp_path.glob(".*.tmp"))


def test_belly_is_as_visible_as_the_wing():
    # the belly must be readable from a 64 px image (it was a thin crescent under the wing,
    # about half the wing's area): here at least 0.6 x the wing's pixels in every pose
    rng = np.random.default_rng(6)
    for i in range(30):
        attrs = _random_attrs(rng)
        counts = _colour_pixels(render(attrs, np.random.default_rng(i), 64))
        assert counts[attrs["belly"]] >= 0.6 * counts[attrs["wing"]], (attrs, counts)
