"""Tiny copies of the four real datasets, in their exact original layouts, for adapter tests.

Each builder writes real files (small JPEGs with PIL, short WAVs with soundfile) under ``root``
and returns a description of what it wrote, so tests can check the manifest against it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

CUB_CLASSES = ("001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross")
OXFORD_CLASSES = ("class_00001", "class_00002", "class_00077")
PLACES_IMAGES = {  # image path under images/ -> canonical class
    "b/bedroom/gsun_aa01.jpg": "bedroom",
    "b/bedroom/gsun_aa02.jpg": "bedroom",
    "d/dinette/home/gsun_bb01.jpg": "dinette/home",
    "l/living_room/gsun_cc01.jpg": "living_room",
    "k/kitchenette/gsun_dd01.jpg": "kitchenette",
    "k/kitchen/gsun_ee01.jpg": None,  # not one of the 7 classes: skipped
}


def write_jpeg(path: Path, seed: int = 0, size: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG")


def write_wav(path: Path, seed: int = 0, seconds: float = 0.05, rate: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    signal = 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * rate))
    sf.write(path, signal.astype(np.float32), rate, subtype="PCM_16")


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_cub(root: Path, images_per_class: int = 2, captions: int = 10) -> dict:
    """CUB_200_2011 + Reed et al. text_c10 and class splits (first two classes train)."""
    images, labels, boxes = [], [], []
    num = 0
    for cid, class_dir in enumerate(CUB_CLASSES, start=1):
        for k in range(images_per_class):
            num += 1
            name = f"{class_dir.split('.')[1]}_{k:04d}_{num}"
            write_jpeg(root / "images" / class_dir / f"{name}.jpg", seed=num)
            images.append(f"{num} {class_dir}/{name}.jpg")
            labels.append(f"{num} {cid}")
            boxes.append(f"{num} {10.0 + num} 20.5 {30.0 + num} 40.0")
            write_lines(root / "text_c10" / class_dir / f"{name}.txt",
                        [f"caption {c} of bird {name}" for c in range(captions)])
    write_lines(root / "images.txt", images)
    write_lines(root / "classes.txt", [f"{i} {c}" for i, c in enumerate(CUB_CLASSES, 1)])
    write_lines(root / "image_class_labels.txt", labels)
    write_lines(root / "bounding_boxes.txt", boxes)
    write_lines(root / "trainvalclasses.txt", list(CUB_CLASSES[:2]))
    write_lines(root / "testclasses.txt", list(CUB_CLASSES[2:]))
    return {"n_images": num, "captions": captions, "classes": CUB_CLASSES}


def make_oxford(root: Path, images_per_class: int = 2, captions: int = 10) -> dict:
    """102flowers jpg/ + Reed et al. text_c10/class_XXXXX and class splits (last class test)."""
    num = 0
    for class_dir in OXFORD_CLASSES:
        for _ in range(images_per_class):
            num += 1
            name = f"image_{num:05d}"
            write_jpeg(root / "jpg" / f"{name}.jpg", seed=num)
            write_lines(root / "text_c10" / class_dir / f"{name}.txt",
                        [f"flower {name} caption {c}" for c in range(captions)])
    write_jpeg(root / "jpg" / "image_09999.jpg", seed=99)  # an image without captions
    write_lines(root / "trainvalclasses.txt", list(OXFORD_CLASSES[:2]))
    write_lines(root / "testclasses.txt", list(OXFORD_CLASSES[2:]))
    return {"n_images": num, "captions": captions, "classes": OXFORD_CLASSES}


def make_flickr8k(root: Path, with_text: bool = True) -> dict:
    """Flicker8k_Dataset/, Flickr_8k.*Images.txt, Flickr8k.token.txt, flickr_audio/."""
    split_images = {"train": ["1000_aa.jpg", "1001_bb.jpg", "1002_cc.jpg"],
                    "val": ["2000_dd.jpg"], "test": ["3000_ee.jpg", "3001_ff.jpg"]}
    extra = "9999_zz.jpg"  # in the image folder and corpus but in no split file: ignored
    files = {"train": "Flickr_8k.trainImages.txt", "val": "Flickr_8k.devImages.txt",
             "test": "Flickr_8k.testImages.txt"}
    tokens, wav2capt = [], []
    all_images = [i for names in split_images.values() for i in names] + [extra]
    for seed, image in enumerate(all_images):
        write_jpeg(root / "Flicker8k_Dataset" / image, seed=seed)
        for n in range(5):
            wav = f"{Path(image).stem}_{n}.wav"
            write_wav(root / "flickr_audio" / "wavs" / wav, seed=10 * seed + n)
            wav2capt.append(f"{wav} {image} #{n}")
            tokens.append(f"{image}#{n}\tA dog number {n} runs in {image} .")
    for split, names in split_images.items():
        write_lines(root / files[split], names)
    write_lines(root / "flickr_audio" / "wav2capt.txt", wav2capt)
    if with_text:
        write_lines(root / "Flickr8k.token.txt", tokens)
    return {"splits": split_images}


def make_places(root: Path, test_name: str = "test.json") -> dict:
    """metadata/{train,test}.json + wavs/ + images/<l>/<category>/ (one kitchen record skipped)."""
    import json

    records = []
    for k, (image, _) in enumerate(PLACES_IMAGES.items()):
        write_jpeg(root / "images" / image, seed=k)
        wav = f"wavs/{k % 2}/utterance_{k}.wav"
        write_wav(root / wav, seed=k)
        records.append({"uttid": f"A1_{k}", "speaker": "A1", "wav": wav, "image": image,
                        "asr_text": f"a picture of room {k}"})
    train, test = records[:4] + records[5:], records[4:5]
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    for name, data in (("train.json", train), (test_name, test)):
        (root / "metadata" / name).write_text(json.dumps({"data": data}), encoding="utf-8")
    return {"train": train, "test": test}


def write_png(path: Path, seed: int = 0, size: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="PNG")


def write_tone(path: Path, hz: float, seconds: float = 0.4, rate: int = 22050) -> None:
    """A decaying tone with a little noise: a recording the filterbank accepts (not silent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(int(hz))
    signal = 0.3 * np.sin(2 * np.pi * hz * t) * np.exp(-2 * t) + 0.01 * rng.standard_normal(t.size)
    sf.write(path, signal.astype(np.float32), rate, subtype="PCM_16")


def make_own(root: Path, images: int = 6, per_image: int = 2, classes: int = 0,
             captions: bool = False, split: bool = False) -> list[dict]:
    """A user's own folder: ``photos/<k>.png``, ``speech/<k>_<n>.wav`` and ``manifest.csv``
    (columns image, audio; with ``captions`` a caption column too, spoken only on rows whose
    audio cell is empty; ``classes`` > 0 adds a class column; ``split`` a split column). Returns
    the rows written (as dicts of the CSV's cells)."""
    import csv

    rows = []
    for k in range(images):
        write_png(root / "photos" / f"p{k:02d}.png", seed=k)
        for n in range(per_image):
            row = {"image": f"photos/p{k:02d}.png"}
            tts = captions and n == per_image - 1   # the last caption of each image is text
            row["audio"] = "" if tts else f"speech/p{k:02d}_{n}.wav"
            if not tts:
                write_tone(root / row["audio"], hz=200 + 40 * k + 7 * n)
            if captions:
                row["caption"] = f"picture {k} caption {n}"
            if classes:
                row["class"] = f"kind_{k % classes}"
            if split:
                row["split"] = "test" if k == images - 1 else "train"
            rows.append(row)
    with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows
