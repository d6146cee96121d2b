"""Judges: small CNN classifiers that score generated images (Sec. IV-A).

* the IS classifier (Eq. 18) over the dataset's classes. The paper scores CUB/Oxford with an
  Inception-v3 fine-tuned on the dataset; none can be had offline, so a small CNN is trained from
  scratch on the real images of ALL classes (train and test classes: the judge must know the
  unseen test classes to score their generated images), holding out one image per class to
  report its accuracy.
* the attribute judge (SynthBirds): one head per attribute (crown / wing / belly colour, size),
  trained on the real TRAIN images, its accuracy reported on the real TEST images (unseen
  attribute combinations), so that its verdict on generated test images can be trusted.

SynthBirds only: 36 training classes are too few combinations for a CNN to learn colour per body
part (it learns class shortcuts and fails on unseen combinations), so the judges also train on
freshly rendered SynthBirds images (the dataset's own renderer, 256 px then the same resize):
``synthetic`` images of random attribute combinations that are NOT test classes for the
attribute judge, and ``synthetic_per_class`` images of every class for the IS classifier. The
judges are measuring instruments, not the model under test; the generator never sees these.

Both see images at the generator's final resolution (:func:`s2igan.data.images.load_images`).
"""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tqdm import tqdm

from s2igan.checkpoint import load_checkpoint, save_checkpoint
from s2igan.config import at_least, positive, to_dict
from s2igan.data import manifest as mf
from s2igan.data.images import load_images, to_float
from s2igan.data.synthbirds import render


@dataclass(frozen=True)
class JudgeConfig:
    """params.yaml section ``judge``; the image size is the generator's last (``dg``)."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.002
    width: int = 16
    synthetic: int = 2000            # SynthBirds: extra rendered images for the attribute judge
    synthetic_per_class: int = 20    # SynthBirds: extra rendered images per class (IS classifier)
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "width"):
            at_least(f"judge.{key}", getattr(self, key), 1)
        positive("judge.lr", self.lr)
        for key in ("synthetic", "synthetic_per_class"):
            at_least(f"judge.{key}", getattr(self, key), 0)


class JudgeNet(nn.Module):
    """(B, 3, S, S) in [-1, 1] -> {head: logits (B, n_head)}; conv-BN-ReLU pairs halving to 4x4."""

    def __init__(self, size: int, heads: dict[str, int], width: int = 16):
        super().__init__()
        layers, cin, ch = [], 3, width
        for _ in range((size // 4).bit_length() - 1):     # stride-2 conv, then a 3x3 conv
            layers += [nn.Conv2d(cin, ch, 3, 2, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True),
                       nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
            cin, ch = ch, min(ch * 2, 4 * width)
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2))
        self.heads = nn.ModuleDict({k: nn.Linear(cin, n) for k, n in heads.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.body(x)                                                     # (B, C)
        return {k: head(h) for k, head in self.heads.items()}


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and +-size/16 translation (reflect padding), per batch."""
    if torch.rand(1, generator=gen).item() < 0.5:
        x = x.flip(-1)
    pad = max(1, x.shape[-1] // 16)
    dx, dy = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=gen))
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    return x[..., dy:dy + x.shape[-2] - 2 * pad, dx:dx + x.shape[-1] - 2 * pad]


def train_judge(images: torch.Tensor, labels: dict[str, np.ndarray], cfg: JudgeConfig,
                desc: str = "judge") -> JudgeNet:
    """Fit a JudgeNet on uint8 images (N, 3, S, S) and integer labels per head (N,) (-1 = none)."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    heads = {k: int(v.max()) + 1 for k, v in labels.items()}
    net = JudgeNet(images.shape[-1], heads, cfg.width)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    steps = cfg.epochs * max(1, -(-len(images) // cfg.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=steps)
    y = {k: torch.from_numpy(np.asarray(v, dtype=np.int64)) for k, v in labels.items()}
    net.train()
    for _ in tqdm(range(cfg.epochs), desc=f"train {desc}", unit="epoch"):
        order = torch.randperm(len(images), generator=gen)
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            if len(idx) < 2:
                continue
            out = net(_augment(to_float(images[idx]), gen))
            loss = sum(F.cross_entropy(out[k], y[k][idx], ignore_index=-1) for k in out)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()


@torch.no_grad()
def predict(net: JudgeNet, images: torch.Tensor, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Softmax probabilities per head for uint8 (N, 3, S, S) or float [-1, 1] images."""
    net.eval()
    device = next(net.parameters()).device
    out: dict[str, list] = {}
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device)
        x = to_float(x) if x.dtype == torch.uint8 else x.float()
        for k, v in net(x).items():
            out.setdefault(k, []).append(v.softmax(-1).cpu().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


# -- the two judges of the `judge` stage -----------------------------------------------------

@dataclass
class Judges:
    """What models/judge/judge.pt holds, loaded: nets plus their label vocabularies."""

    image_size: int
    classes: JudgeNet | None                 # IS classifier (None: no class labels)
    class_ids: list[int]
    attributes: JudgeNet | None              # SynthBirds attribute judge
    values: dict[str, list[str]]             # attribute -> value names (head order)

    def save(self, path: str | Path, config: JudgeConfig) -> None:
        obj = {"image_size": self.image_size, "class_ids": self.class_ids, "values": self.values,
               "classes": None if self.classes is None else self.classes.state_dict(),
               "attributes": None if self.attributes is None else self.attributes.state_dict(),
               "config": to_dict(config)}
        save_checkpoint(path, obj)

    @classmethod
    def load(cls, path: str | Path) -> "Judges":
        obj = load_checkpoint(path, "cpu", "judge models", "run the `judge` stage first",
                              ("config", "image_size", "classes", "class_ids", "attributes", "values"))
        width = obj["config"]["width"]
        classes = attributes = None
        if obj["classes"] is not None:
            classes = JudgeNet(obj["image_size"], {"class": len(obj["class_ids"])}, width)
            classes.load_state_dict(obj["classes"])
        if obj["attributes"] is not None:
            attributes = JudgeNet(obj["image_size"],
                                  {k: len(v) for k, v in obj["values"].items()}, width)
            attributes.load_state_dict(obj["attributes"])
        return cls(obj["image_size"], classes and classes.eval(), list(obj["class_ids"]),
                   attributes and attributes.eval(), obj["values"])


def attribute_table(images: pd.DataFrame) -> pd.DataFrame:
    """One column per attribute (strings), from the manifest's JSON; empty frame if none."""
    return pd.DataFrame([json.loads(a) for a in images["attributes"]], index=images.index)


def _render_one(job: tuple) -> np.ndarray:
    attrs, size, seed, i = job
    img = render(attrs, np.random.default_rng([seed, 77, i]), 256, 3)   # as the dataset renders
    return np.asarray(img.resize((size, size), Image.Resampling.BICUBIC))


def render_images(combos: list[dict[str, str]], size: int, seed: int, workers: int = 2
                  ) -> torch.Tensor:
    """SynthBirds renderings of attribute dicts: uint8 (N, 3, size, size), drawn exactly as the
    dataset's images (256 px) and resized as :func:`s2igan.data.images.load_image` does."""
    jobs = [(attrs, size, seed, i) for i, attrs in enumerate(combos)]
    bar = dict(total=len(jobs), desc="render judge images", unit="img")
    if workers > 1:
        # spawn, not fork: the second call comes after a judge was trained, and a child forked
        # from a process whose OpenMP threads have run can hang (seen once in the judge stage)
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            out = list(tqdm(pool.imap(_render_one, jobs, chunksize=32), **bar))
    else:
        out = [_render_one(j) for j in tqdm(jobs, **bar)]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def _random_combos(values: dict[str, list[str]], n: int, exclude: set[tuple], seed: int
                   ) -> list[dict[str, str]]:
    rng = np.random.default_rng([seed, 78])
    out = []
    while len(out) < n:
        attrs = {a: v[int(rng.integers(len(v)))] for a, v in values.items()}
        if tuple(sorted(attrs.items())) not in exclude:
            out.append(attrs)
    return out


def build_judges(frame: pd.DataFrame, cfg: JudgeConfig, image_size: int
                 ) -> tuple[Judges, dict[str, float]]:
    """Train both judges on the manifest's images at ``image_size`` (the generator's last
    scale); returns them and their real-image accuracies."""
    table = mf.images(frame)
    images = load_images(table, (image_size,), desc="load judge images")[0]
    synth = frame.attrs.get("dataset") == "synthbirds"
    metrics: dict[str, float] = {}
    classes, class_ids = None, sorted(int(c) for c in table["class_id"].unique() if c >= 0)
    if len(class_ids) >= 2:
        pos = {c: i for i, c in enumerate(class_ids)}
        y = table["class_id"].map(lambda c: pos.get(int(c), -1)).to_numpy()
        holdout = ~table.duplicated("class_id", keep="last").to_numpy()   # last image per class
        holdout &= table.groupby("class_id")["image_id"].transform("size").to_numpy() > 1
        x_train, y_train = images[~holdout], y[~holdout]
        if synth and cfg.synthetic_per_class:
            per_class = table.drop_duplicates("class_id")
            combos = [json.loads(a) for a in per_class["attributes"] for _ in range(cfg.synthetic_per_class)]
            labels = np.repeat(per_class["class_id"].map(pos).to_numpy(), cfg.synthetic_per_class)
            x_train = torch.cat([x_train, render_images(combos, image_size, cfg.seed)])
            y_train = np.concatenate([y_train, labels])
        classes = train_judge(x_train, {"class": y_train}, cfg, "IS classifier")
        if holdout.any():
            pred = predict(classes, images[holdout])["class"].argmax(1)
            metrics["is_classifier/holdout_acc"] = float((pred == y[holdout]).mean())
            metrics["is_classifier/holdout_images"] = int(holdout.sum())
        metrics["is_classifier/classes"] = len(class_ids)
    attrs = attribute_table(table)
    attributes, values = None, {}
    if not attrs.empty and attrs.shape[1] > 0:
        values = {a: sorted(attrs[a].dropna().astype(str).unique()) for a in attrs.columns}
        codes = {a: attrs[a].map({v: i for i, v in enumerate(values[a])}).fillna(-1)
                 .astype(int).to_numpy() for a in attrs.columns}
        train = (table["split"] == "train").to_numpy()
        test = (table["split"] == "test").to_numpy()
        x_train = images[train]
        y_train = {a: c[train] for a, c in codes.items()}
        if synth and cfg.synthetic:
            exclude = {tuple(sorted(r.items())) for r in attrs[test].astype(str).to_dict("records")}
            combos = _random_combos(values, cfg.synthetic, exclude, cfg.seed)
            x_train = torch.cat([x_train, render_images(combos, image_size, cfg.seed + 1)])
            y_train = {a: np.concatenate([y_train[a], [values[a].index(c[a]) for c in combos]])
                       for a in values}
        attributes = train_judge(x_train, y_train, cfg, "attribute judge")
        if test.any():
            probs = predict(attributes, images[test])
            for a in values:
                metrics[f"real_test/acc_{a}"] = float((probs[a].argmax(1) == codes[a][test]).mean())
            metrics["real_test/images"] = int(test.sum())
    return Judges(image_size, classes, class_ids, attributes, values), metrics
