"""Which way does the generated bird's size miss, and whose miss is it: the generator's attribute
code (what it read from the speech) or the drawing?

For the unseen test captions and for seeded training-class captions (as ``seen/acc_*``), under
``--noise`` seeds, it tallies per true size: how often the judge reads the drawn bird right, how
often the generator's discrete attribute code (``dg.condition_attributes``) read the size right,
and, of the drawn misses, how many had the code right (the drawing's miss) or wrong (the
reading's). With the code's size forced to each value (its column's bias raised), it counts
how often the drawing follows the code against the rest of the condition (the CCA of the speech
still says the spoken size). It also judges the real test images under a Gaussian blur of
growing radius, to see whether a soft drawing alone reads as the other size (it reads as
small, not large: the judge does not take blur for large).

Runs after `dvc repro` on its outputs (data/prepared, data/embeddings, models/rdg, models/judge).

usage: python scripts/size_misses.py [--generator models/rdg/generator.pt] [--noise 0 1 2 3]
       [--out reports/fidelity/size_misses.json]
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageFilter

from s2igan.arrays import load_vectors
from s2igan.data import manifest as mf
from s2igan.data.images import load_images
from s2igan.evaluate.fidelity import judged_values, value_recalls
from s2igan.evaluate.judge import Judges, attribute_table
from s2igan.io import write_json
from s2igan.rdg.attributes import one_hot_targets
from s2igan.rdg.run import generator_vectors
from s2igan.rdg.sampling import fixed_noise, generate, load_generator

_spec = importlib.util.spec_from_file_location(
    "code_reading", Path(__file__).resolve().parent / "code_reading.py")
code_reading = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(code_reading)

BLUR_RADII = (0.0, 0.5, 1.0, 1.5)


def miss_table(truth: np.ndarray, code: np.ndarray, drawn: np.ndarray) -> dict[str, dict]:
    """Per true value: ``n`` rows, ``drawn_right`` and ``code_right`` (shares), and the counts of
    drawn misses whose code was right (``drawn_miss_code_right``) or wrong
    (``drawn_miss_code_wrong``). ``drawn`` may hold several noise seeds' readings (S, N) of the
    same N rows; then shares and counts are over all S * N."""
    truth, code = np.asarray(truth), np.asarray(code)
    drawn = np.atleast_2d(np.asarray(drawn))
    if truth.shape != code.shape or drawn.shape[1:] != truth.shape:
        raise ValueError(f"truth {truth.shape}, code {code.shape} and drawn {drawn.shape} "
                         "must describe the same rows")
    out = {}
    for v in np.unique(truth):
        rows = truth == v
        d_ok = drawn[:, rows] == v                      # (S, n)
        c_ok = np.broadcast_to(code[rows] == v, d_ok.shape)
        out[str(v)] = {"n": int(rows.sum()), "drawn_right": float(d_ok.mean()),
                       "code_right": float(c_ok.mean()),
                       "drawn_miss_code_right": int((~d_ok & c_ok).sum()),
                       "drawn_miss_code_wrong": int((~d_ok & ~c_ok).sum())}
    return out


def forced_size(g, y: torch.Tensor, value: str, names: list[str], noise: int) -> torch.Tensor:
    """Images of ``y`` with the attribute code's size forced to ``value`` (that column's bias
    raised by 1e6, so it wins the arg-max; the module is restored after)."""
    code = g.project.attributes
    col = names.index(f"size={value}")
    saved = code.bias.clone()
    try:
        code.bias[col] += 1e6
        return generate(g, y, fixed_noise(len(y), g.cfg.z_dim, noise))
    finally:
        code.bias.copy_(saved)


def blurred(images: torch.Tensor, radius: float) -> torch.Tensor:
    """uint8 (N, 3, H, W) images under PIL's Gaussian blur of ``radius`` pixels."""
    if not radius:
        return images
    out = [np.asarray(Image.fromarray(x.permute(1, 2, 0).numpy())
                      .filter(ImageFilter.GaussianBlur(radius))) for x in images]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", type=Path, default=Path("models/rdg/generator.pt"))
    ap.add_argument("--noise", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--seen", type=int, default=1000, help="training captions (seeded sample)")
    ap.add_argument("--out", type=Path, default=Path("reports/fidelity/size_misses.json"))
    args = ap.parse_args()

    g = load_generator(args.generator, "cpu")
    code = g.project.attributes
    if code is None:
        raise SystemExit("the generator has no attribute code (dg.condition_attributes: 0)")
    judges = Judges.load(Path("models/judge/judge.pt"))
    frame = mf.read(Path("data/prepared/manifest.parquet"))
    vectors = generator_vectors(args.generator.parent, Path("data/embeddings"), g)
    by_caption = frame.set_index("caption_id")
    result: dict = {"generator": str(args.generator), "noise_seeds": args.noise}
    names = None
    fitted = [t.detach().double().numpy() for t in (code.mean, code.weight, code.bias)]
    for split in ("train", "test"):
        index, x = load_vectors(vectors, f"{split}_speech")
        x = np.asarray(x)
        captions = by_caption.loc[index["id"]].reset_index()
        truth = attribute_table(captions).astype(str)
        if split == "train":
            _, group, names, _ = one_hot_targets(truth)
            if not np.array_equal(group, code.group.numpy()):
                raise SystemExit("the code's columns do not match the training labels")
            pick = np.random.default_rng(0).choice(len(x), min(args.seen, len(x)), replace=False)
            x, truth = x[pick], truth.iloc[pick].reset_index(drop=True)
        read = code_reading.readings(code_reading.scores_of(x, *fitted),
                                     code.group.numpy(), names)["size"]
        y = torch.from_numpy(x).float()
        drawn = np.stack([judged_values(judges, generate(g, y, fixed_noise(len(y), g.cfg.z_dim,
                                                                          s)))["size"]
                          for s in args.noise])
        key = "seen" if split == "train" else "test"
        result[key] = miss_table(truth["size"].to_numpy(), read, drawn)
        if split == "test":   # the share of drawings read as the forced size, by spoken size
            spoken = truth["size"].to_numpy()
            result["test_code_forced"] = {}
            for v in [n.split("=", 1)[1] for n in names if n.startswith("size=")]:
                drawn_v = forced_size(g, y, v, names, args.noise[0])
                follows = judged_values(judges, drawn_v)["size"] == v
                result["test_code_forced"][f"code says {v}"] = {
                    f"spoken {t}": float(follows[spoken == t].mean()) for t in np.unique(spoken)}

    real_table = mf.images(frame[frame["split"] == "test"]).reset_index(drop=True)
    real_truth = attribute_table(real_table)["size"].astype(str).to_numpy()
    real = load_images(real_table, (g.cfg.image_sizes[-1],), desc="load test images")[0]
    result["real_test_blurred"] = {
        f"radius {r:g}": value_recalls(judged_values(judges, blurred(real, r))["size"],
                                       real_truth) for r in BLUR_RADII}
    write_json(args.out, result)
    rows = {f"{split}, true {v}": t for split in ("seen", "test") for v, t in result[split].items()}
    print(pd.DataFrame(rows).T.round(3).to_string())
    print(pd.DataFrame(result["test_code_forced"]).T.round(3).to_string())
    print(pd.DataFrame(result["real_test_blurred"]).T.round(3).to_string())


if __name__ == "__main__":
    main()
