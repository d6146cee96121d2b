"""SynthBirds: the embedded default dataset of procedurally drawn birds.

A bird's look is fully described by four attributes: the colours of its ``crown`` (top of the
head), ``wing`` and ``belly`` (each one of the ten :data:`PALETTE` colours) and its ``size``
(``small``: slender and smaller in the frame; ``large``: plump and filling more of it). A class is
one attribute combination. As CUB-200's 150/50 split in the paper (Sec. IV-A), classes are split
disjointly into train and test, so test classes are unseen combinations of attribute values that
all occur in training (compositional generalisation).

Pose (body tilt, wing angle, head tilt, crest), position, scale, flip and a desaturated background
(sky, foliage, bokeh or horizon) vary per image; backgrounds never come close to a palette colour.
Drawing is done at ``supersample`` times the size and downsampled with LANCZOS (anti-aliasing).
"""

from __future__ import annotations

import colorsys
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from tqdm import tqdm

from s2igan.config import at_least, fraction, one_of
from s2igan.data import manifest
from s2igan.data.captions import COLOUR_SLOTS, GRAMMARS, caption, caption_pool
from s2igan.io import atomic_path
from s2igan.stage import worker_pool

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35), "orange": (245, 135, 20), "yellow": (245, 220, 40),
    "green": (40, 160, 60), "blue": (35, 85, 215), "purple": (125, 50, 175),
    "pink": (245, 130, 195), "brown": (120, 72, 35), "black": (25, 25, 25),
    "white": (245, 245, 245),
}
SIZES = ("small", "large")
NEUTRAL = (146, 140, 134)   # face and back: a grey that is no palette colour
HORN = (96, 90, 84)         # beak and legs
OUTLINE = (66, 62, 58)      # outlines and feather lines (also no palette colour)


@dataclass(frozen=True)
class SynthBirdsConfig:
    n_classes: int = 48
    test_classes: int = 12
    images_per_class: int = 10
    captions_per_image: int = 10
    image_size: int = 256
    omit_prob: float = 0.15   # probability that a caption leaves one attribute out
    supersample: int = 3      # drawing scale before the LANCZOS downsampling
    workers: int = 2          # rendering processes (1 = in-process)
    caption_pool: int = 0     # > 0: each class's captions are drawn from this many distinct texts
    grammar: str = "basic"    # caption grammar: basic | wide (README "Phrasings")

    def __post_init__(self) -> None:
        where = "data.synthbirds"
        for key in ("test_classes", "images_per_class", "captions_per_image", "image_size",
                    "supersample", "workers"):
            at_least(f"{where}.{key}", getattr(self, key), 1)
        at_least(f"{where}.n_classes", self.n_classes, self.test_classes + 1)
        fraction(f"{where}.omit_prob", self.omit_prob)
        at_least(f"{where}.caption_pool", self.caption_pool, 0)
        one_of(f"{where}.grammar", self.grammar, GRAMMARS)


def class_name(attrs: dict[str, str]) -> str:
    return "_".join(f"{attrs[s]}-{s}" for s in COLOUR_SLOTS) + f"_{attrs['size']}"


def sample_classes(cfg: SynthBirdsConfig, seed: int) -> list[tuple[dict[str, str], str]]:
    """Draw ``n_classes`` distinct attribute combinations and split them class-disjointly.

    The first training classes cover every colour of every slot and both sizes (a random Latin
    design), so every attribute value is seen in training; test classes are drawn only among
    combinations whose values all occur in training. Returns ``(attributes, split)`` with the
    training classes first.
    """
    colours = list(PALETTE)
    n_train = cfg.n_classes - cfg.test_classes
    if cfg.test_classes < 1 or n_train < 1:
        raise ValueError(f"need at least one train and one test class, got {cfg}")
    rng = np.random.default_rng([seed, 0])
    perms = [rng.permutation(len(colours)) for _ in COLOUR_SLOTS]
    size_perm = rng.permutation(len(SIZES))
    combos = set(itertools.product(range(len(colours)), repeat=3))
    train: list[tuple[int, int, int, int]] = []
    for i in range(min(n_train, len(colours))):
        train.append((*(int(p[i]) for p in perms), int(size_perm[i % len(SIZES)])))
    everything = [(*c, s) for c in sorted(combos) for s in range(len(SIZES))]
    order = rng.permutation(len(everything))
    taken = set(train)
    for i in order:
        if len(train) == n_train:
            break
        if everything[i] not in taken:
            train.append(everything[i])
            taken.add(everything[i])
    seen = [{c[k] for c in train} for k in range(4)]
    test = [everything[i] for i in order if everything[i] not in taken
            and all(everything[i][k] in seen[k] for k in range(4))][: cfg.test_classes]
    if len(train) < n_train or len(test) < cfg.test_classes:
        raise ValueError(f"cannot draw {cfg.n_classes} distinct classes with this split")
    out = []
    for split, group in (("train", train), ("test", test)):
        for c in group:
            attrs = {s: colours[c[k]] for k, s in enumerate(COLOUR_SLOTS)}
            attrs["size"] = SIZES[c[3]]
            out.append((attrs, split))
    return out


# ----------------------------------------------------------------------------------- rendering
def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v)) * 255.0


def background(rng: np.random.Generator, size: int) -> Image.Image:
    """A soft desaturated background (saturation <= 0.28, value in [0.35, 0.85])."""
    n = 40
    yy, xx = np.mgrid[0:n, 0:n] / (n - 1)
    kind = int(rng.integers(4))
    hue = rng.uniform(0.5, 0.65) if kind in (0, 3) else rng.uniform(0.15, 0.4)
    top = _hsv(hue, rng.uniform(0.08, 0.28), rng.uniform(0.65, 0.85))
    bottom = _hsv(hue + rng.uniform(-0.05, 0.05), rng.uniform(0.0, 0.2), rng.uniform(0.6, 0.85))
    img = top + (bottom - top) * yy[..., None]                      # (n, n, 3)
    if kind == 3:   # horizon: muted ground below a random line
        horizon = rng.uniform(0.55, 0.85) + rng.uniform(-0.15, 0.15) * (xx - 0.5)
        ground = _hsv(rng.uniform(0.08, 0.3), rng.uniform(0.1, 0.28), rng.uniform(0.35, 0.65))
        mask = (1 / (1 + np.exp(-(yy - horizon) * 60)))[..., None]
        img = img * (1 - mask) + ground * mask
    n_blobs = {0: 4, 1: 30, 2: 14, 3: 6}[kind]
    for _ in range(n_blobs):
        if kind == 1:
            col = _hsv(rng.uniform(0.12, 0.42), rng.uniform(0.05, 0.28), rng.uniform(0.35, 0.8))
        elif kind == 2:
            col = _hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.25), rng.uniform(0.45, 0.85))
        else:   # clouds / haze
            col = _hsv(hue, rng.uniform(0.0, 0.08), rng.uniform(0.75, 0.85))
        cx, cy, r = rng.uniform(-0.1, 1.1), rng.uniform(-0.1, 1.1), rng.uniform(0.05, 0.25)
        alpha = rng.uniform(0.4, 0.9) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        img = img * (1 - alpha[..., None]) + col * alpha[..., None]
    small = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    return small.resize((size, size), Image.BICUBIC)


def _ellipse(cx, cy, rx, ry, angle=0.0, n=40, t0=0.0, t1=2 * np.pi) -> np.ndarray:
    t = np.linspace(t0, t1, n)
    pts = np.stack([rx * np.cos(t), ry * np.sin(t)], 1)             # (n, 2)
    return _rotate(pts, angle) + (cx, cy)


def _rotate(pts: np.ndarray, angle: float, about=(0.0, 0.0)) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    p = np.asarray(pts, float) - about
    return np.stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1]], 1) + about


def _shade(rgb, f: float) -> tuple[int, int, int]:
    return tuple(int(round(v * f)) for v in rgb)


def bird_parts(attrs: dict[str, str], rng: np.random.Generator) -> tuple[list[tuple], np.ndarray]:
    """The bird in local units (x forward, y down; body half-length 1) as drawing commands.

    Each command is ``(kind, points (n, 2), fill, outline, width)`` with kind ``polygon`` or
    ``line``, in painting order (back to front); also returns the two feet points (2, 2).
    """
    large = attrs["size"] == "large"
    crown, wing, belly = (PALETTE[attrs[s]] for s in COLOUR_SLOTS)
    ry = rng.uniform(0.66, 0.74) if large else rng.uniform(0.5, 0.56)   # plump vs slender
    body_angle = np.deg2rad(rng.uniform(-25, -10))
    hr = 0.5 if large else 0.54
    head = np.array([0.95, -0.55 - 0.55 * ry]) + rng.uniform(-0.06, 0.06, 2)
    head_tilt = np.deg2rad(rng.uniform(-20, 20))
    wing_angle = np.deg2rad(rng.choice([rng.uniform(-8, 8), rng.uniform(15, 40)]))
    lw = 0.035
    cmds: list[tuple] = []

    def poly(pts, fill):
        cmds.append(("polygon", pts, fill, OUTLINE, lw))

    def line(pts, w):
        cmds.append(("line", np.asarray(pts, float), HORN, None, w))

    # legs and feet (behind the body)
    foot_y = ry + rng.uniform(0.45, 0.6)
    feet = np.array([(0.1, foot_y), (-0.2, foot_y)])
    for x in (0.15, -0.15):
        line([(x, 0.6 * ry), (x - 0.05, foot_y)], 0.08)
        for dx in (0.22, 0.0, -0.16):
            line([(x - 0.05, foot_y), (x - 0.05 + dx, foot_y + 0.04)], 0.06)
    # tail in the wing colour
    spread = rng.uniform(0.15, 0.35)
    tail = np.array([(-0.6, -0.2), (-1.55, -0.15 - spread), (-1.65, 0.05), (-1.5, 0.2 + spread),
                     (-0.6, 0.25)])
    poly(_rotate(tail, body_angle + np.deg2rad(rng.uniform(-10, 15))), _shade(wing, 0.9))
    # body: neutral back, belly colour below the axis
    poly(_ellipse(0, 0, 1.0, ry, body_angle), NEUTRAL)
    poly(_ellipse(0, 0, 1.0, ry, body_angle, t0=-0.9, t1=np.pi + 0.1), belly)
    # head: neutral face, crown cap (top half and a bit) with an optional crest
    poly(_ellipse(*head, hr, hr), NEUTRAL)
    cap = _ellipse(0, 0, hr, hr, t0=np.pi - 0.25, t1=2 * np.pi + 0.25)
    crest_len = rng.uniform(0.0, 0.45)
    crest = np.array([(-0.55 * hr, -0.75 * hr), (-0.1 * hr, -0.98 * hr),
                      (-0.7 * hr - crest_len, -1.0 * hr - 0.6 * crest_len)])
    poly(_rotate(crest, head_tilt) + head, crown)
    poly(_rotate(cap, head_tilt) + head, crown)
    # eye and beak (pointing forward)
    eye = _rotate(np.array([[0.38 * hr, 0.22 * hr]]), head_tilt)[0] + head
    cmds.append(("polygon", _ellipse(*eye, 0.13, 0.13, n=16), (20, 18, 16), None, 0))
    cmds.append(("polygon", _ellipse(*(eye - 0.04), 0.04, 0.04, n=10), (230, 230, 230), None, 0))
    beak_len = rng.uniform(0.35, 0.6)
    beak = np.array([(0.8 * hr, -0.3 * hr), (hr + beak_len, 0.12 * hr), (0.8 * hr, 0.45 * hr)])
    poly(_rotate(beak, head_tilt) + head, HORN)
    # wing: a teardrop hinged at the shoulder, folded or raised; it covers the back only, so
    # the belly (the lower half of the body and the breast) stays in view in every pose
    shoulder = _rotate(np.array([[0.4, -0.45 * ry]]), body_angle)[0]
    w = _ellipse(-0.5, -0.08 * ry, 0.85, 0.42 * ry)
    w = _rotate(w + shoulder, body_angle + wing_angle, about=shoulder)
    poly(w, wing)
    for k in (-0.14, 0.06):   # feather lines
        f = np.array([(-0.6, k), (-1.2, k * 1.6)]) + shoulder
        cmds.append(("line", _rotate(f, body_angle + wing_angle, about=shoulder), None,
                     OUTLINE, 0.04))
    return cmds, feet


def render(attrs: dict[str, str], rng: np.random.Generator, image_size: int = 256,
           supersample: int = 3) -> Image.Image:
    """One RGB image of a bird with ``attrs`` in a random pose, place, scale and background."""
    big = image_size * supersample
    img = background(rng, big)
    cmds, feet = bird_parts(attrs, rng)
    tilt = np.deg2rad(rng.uniform(-15, 15))
    flip = rng.random() < 0.5
    pts = np.concatenate([c[1] for c in cmds])
    rot = _rotate(pts, tilt)
    lo, hi = rot.min(0), rot.max(0)
    frac = rng.uniform(0.7, 0.82) if attrs["size"] == "large" else rng.uniform(0.55, 0.64)
    scale = min(frac * big / (hi[0] - lo[0]), 0.94 * big / (hi[1] - lo[1]))
    extent = (hi - lo) * scale
    margin = 0.03 * big
    offset = np.array([rng.uniform(margin, max(margin, big - margin - e)) for e in extent])

    def to_px(p: np.ndarray) -> list[tuple[float, float]]:
        q = (_rotate(p, tilt) - lo) * scale + offset
        if flip:
            q[:, 0] = big - q[:, 0]
        return [tuple(v) for v in q]

    draw = ImageDraw.Draw(img)
    if rng.random() < 0.65:   # a perch under the feet
        feet_y = max(y for _, y in to_px(feet))
        slope = rng.uniform(-0.1, 0.1) * big
        draw.line([(0, feet_y + slope), (big, feet_y - slope)], fill=(116, 110, 104),
                  width=int(0.1 * scale))
    for kind, p, fill, outline, width in cmds:
        px = to_px(p)
        if kind == "polygon":
            draw.polygon(px, fill=fill, outline=outline, width=max(1, int(width * scale)))
        else:
            draw.line(px, fill=fill or outline, width=max(1, int(width * scale)), joint="curve")
    return img.resize((image_size, image_size), Image.LANCZOS)


def _render_job(job: tuple) -> None:
    attrs, path, seed, index, image_size, supersample = job
    img = render(attrs, np.random.default_rng([seed, 1, index]), image_size, supersample)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def generate(cfg: SynthBirdsConfig, out_dir: Path, seed: int) -> pd.DataFrame:
    """Render the dataset into ``out_dir/images`` and return its caption manifest.

    Images and captions depend only on ``(cfg, seed)``: each image has its own generators
    seeded by ``(seed, image index)``, so the result does not depend on ``cfg.workers``.
    """
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rows, jobs = [], []
    for class_id, (attrs, split) in enumerate(sample_classes(cfg, seed)):
        pool = None
        if cfg.caption_pool > 0:
            pool = caption_pool(attrs, cfg.caption_pool, np.random.default_rng([seed, 3, class_id]),
                                cfg.omit_prob, cfg.grammar)
        for k in range(cfg.images_per_class):
            index = len(jobs)
            image_id = f"sb_c{class_id:03d}_i{k:03d}"
            path = str(out_dir / "images" / f"{image_id}.png")
            jobs.append((attrs, path, seed, index, cfg.image_size, cfg.supersample))
            rng = np.random.default_rng([seed, 2, index])
            for j in range(cfg.captions_per_image):
                if pool is None:
                    text, _ = caption(attrs, rng, cfg.omit_prob, cfg.grammar)
                else:
                    text = pool[int(rng.integers(len(pool)))]
                rows.append({"image_id": image_id, "image_path": path, "class_id": class_id,
                             "class_name": class_name(attrs), "split": split,
                             "caption_idx": j, "text": text,
                             "attributes": json.dumps(attrs, sort_keys=True)})
    bar = dict(total=len(jobs), desc="render synthbirds", unit="img")
    if cfg.workers > 1:
        with worker_pool(cfg.workers) as pool:
            for _ in tqdm(pool.imap_unordered(_render_job, jobs, chunksize=8), **bar):
                pass
    else:
        for job in tqdm(jobs, **bar):
            _render_job(job)
    return manifest.build(rows, dataset="synthbirds", kind="fine_grained")
