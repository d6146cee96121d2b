"""The `evaluate` stage (Sec. IV-A): generate an image for every test caption with fixed noise
(EMA generator, CA noise off), then IS (Eq. 18), FID (Eq. 19), image-retrieval mAP (Eq. 20-21;
R@50 for scene data), SynthBirds attribute accuracy, inference time and figures.

Protocol, written next to the scores: real test images and generated images are both brought to
the generator's final resolution S (real: PIL bicubic, antialiased, of the original; generated:
native), then the backbone resizes both to its input size (bilinear, antialiased) and pools
features. FID compares all generated test images with all real test images.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from s2igan.arrays import load_vectors
from s2igan.config import at_least
from s2igan.data import manifest as mf
from s2igan.data.captions import MENTION_WORDS
from s2igan.data.images import load_images, to_float
from s2igan.device import resolve_device
from s2igan.evaluate.fidelity import (anypart_scores, diversity_score, heldout_phrasing_scores,
                                      heldout_voice_scores, probe_scores, seen_class_scores,
                                      two_value_recalls)
from s2igan.evaluate.figures import caption_grid, colour_grid
from s2igan.evaluate.judge import Judges, attribute_table, predict
from s2igan.evaluate.sen_figures import attention_figure, interpolation_figure
from s2igan.features.extract import load_features_backbone
from s2igan.metrics.fid import fid
from s2igan.metrics.inception_score import inception_score
from s2igan.metrics.retrieval import mean_average_precision, recall_at_k, relevance
from s2igan.rdg.run import eval_split, generator_vectors, speech_sources
from s2igan.rdg.sampling import fixed_noise, generate, load_generator
from s2igan.sen.checkpoint import load_sen, load_state
from s2igan.speech.frontend import SpeechFrontend, embed_fbanks, pad_fbanks


@dataclass(frozen=True)
class EvalConfig:
    """params.yaml section ``evaluate`` (the judges have their own section, ``judge``)."""

    seed: int = 0                   # the fixed noise of every generated image
    batch_size: int = 64
    is_splits: int = 10
    queries_per_class: int = 2      # mAP: real query images per test class (paper: 2)
    recall_k: int = 50              # scene data: R@k
    timing_repeats: int = 5
    figure_captions: int = 8
    colours: tuple[str, ...] = ("red", "yellow", "green", "blue")
    voice: str | None = None        # TTS voice of the colour grid (None: backend's first voice)
    seen_captions: int = 1000       # captions of training classes judged (seen/acc_*); 0 = off
    diversity_captions: int = 200   # test captions generated under a second noise seed
    probes: bool = True             # linear attribute probes (probe/*), attribute data only
    heldout_voices: tuple[str, ...] = ()   # voices not in training that re-speak the test captions
    heldout_phrasings: int = 3      # held-out phrasings per test class; 0 = off
    tts_workers: int = 2            # synthesis processes of the spoken sentences (same speech for any)
    device: str = "auto"

    def __post_init__(self) -> None:
        for key in ("batch_size", "is_splits", "queries_per_class", "recall_k", "tts_workers"):
            at_least(f"evaluate.{key}", getattr(self, key), 1)
        for key in ("timing_repeats", "figure_captions", "seen_captions", "diversity_captions",
                    "heldout_phrasings"):
            at_least(f"evaluate.{key}", getattr(self, key), 0)


@torch.no_grad()
def backbone_features(backbone, images: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    device = next(backbone.parameters()).device
    out = [backbone(to_float(images[i:i + batch_size]).to(device)).float().cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out).numpy().astype(np.float64)


def retrieval_scores(real_feats, real_classes, real_ids, gen_feats, gen_classes, gen_image_ids,
                     fine_grained: bool, cfg: EvalConfig) -> dict[str, float]:
    """Eq. (20)-(21): two real queries per test class retrieve generated images (same class =
    relevant), cosine similarity of backbone features; scene data: every real image retrieves
    the generated images of its own captions, R@k."""
    q = F.normalize(torch.from_numpy(real_feats), dim=1)
    g = F.normalize(torch.from_numpy(gen_feats), dim=1)
    if fine_grained:
        rng = np.random.default_rng(cfg.seed)
        rows = np.concatenate([rng.choice(np.flatnonzero(real_classes == c),
                                          size=min(cfg.queries_per_class,
                                                   int((real_classes == c).sum())), replace=False)
                               for c in np.unique(real_classes)])
        sim = (q[rows] @ g.t()).numpy()
        res = mean_average_precision(sim, relevance(real_classes[rows], gen_classes))
        return {"gen/map": res["map"], "protocol/map_queries": res["n_queries"]}
    sim = (q @ g.t()).numpy()
    rel = np.asarray(real_ids)[:, None] == np.asarray(gen_image_ids)[None, :]
    return {f"gen/r{cfg.recall_k}": recall_at_k(sim, rel, (cfg.recall_k,))[cfg.recall_k]}


def attribute_scores(judges: Judges, gen: torch.Tensor, captions, real_test: torch.Tensor,
                     real_table) -> dict[str, float]:
    """Per-attribute accuracy of generated images against their caption's image attributes
    (``gen/acc_<a>``: every caption, counted against the image's ground truth even when the
    caption left the attribute out; ``gen/acc_<a>_mentioned``: captions that mention it), and
    the judge's accuracy on the real test images; ``gen/anypart_<part>``: the colour read on a
    part is the spoken colour of any part (:func:`colour_anywhere`)."""
    out: dict[str, float] = {}
    preds: dict[str, np.ndarray] = {}
    probs = predict(judges.attributes, gen)
    real_probs = predict(judges.attributes, real_test)
    gt = attribute_table(captions).astype(str)
    real_gt = attribute_table(real_table).astype(str)
    texts = captions["text"].fillna("").str.lower()
    for a, values in judges.values.items():
        pred = preds[a] = np.asarray(values)[probs[a].argmax(1)]
        ok = pred == gt[a].to_numpy()
        out[f"gen/acc_{a}"] = float(ok.mean())
        words = MENTION_WORDS.get(a, (a,))
        said = texts.apply(lambda t: any(w in t for w in words)).to_numpy()
        if said.any():
            out[f"gen/acc_{a}_mentioned"] = float(ok[said].mean())
        real_pred = np.asarray(values)[real_probs[a].argmax(1)]
        out[f"real_test/acc_{a}"] = float((real_pred == real_gt[a].to_numpy()).mean())
    out.update(two_value_recalls(preds, gt, "gen"))
    out.update(anypart_scores(preds, gt, "gen"))
    return out


def time_inference(speech_encoder, generator, fbanks: list[np.ndarray], repeats: int,
                   device: torch.device) -> dict[str, float]:
    """Seconds per image, speech features in -> image out (speech encoder + generator)."""
    out = {}
    for bs in (1, 64):
        items = [fbanks[i % len(fbanks)] for i in range(bs)]
        x, lengths = pad_fbanks(items)
        x, lengths = x.to(device), lengths.to(device)
        z = fixed_noise(bs, generator.cfg.z_dim, 0).to(device)
        eps = torch.zeros(bs, generator.cfg.ca_dim, device=device)
        times = []
        with torch.no_grad():
            for r in range(repeats + 1):
                t = time.perf_counter()
                generator(z, speech_encoder(x, lengths), eps)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                if r:                      # the first run warms up
                    times.append(time.perf_counter() - t)
        out[f"time/ms_per_image_batch{bs}"] = 1000.0 * float(np.median(times)) / bs
    return out


def fid_and_is(gen: torch.Tensor, gen_feats: np.ndarray, real_feats: np.ndarray, judges: Judges,
               backbone, is_splits: int, device: torch.device | str = "cpu") -> dict:
    """``gen/fid`` (backbone features of the generated vs the real images), ``gen/is`` and
    ``gen/is_std`` (the judge's class posteriors when it has a class head, else the backbone's
    ImageNet classes; ``min(is_splits, N // 50)`` splits, at least one) and their protocol keys."""
    if judges.classes is not None:
        probs = predict(judges.classes, gen)["class"]
        classifier = f"judge CNN over {len(judges.class_ids)} classes (models/judge)"
    else:
        with torch.no_grad():
            probs = torch.cat([backbone.classify(to_float(gen[i:i + 64]).to(device))
                               .softmax(-1).cpu() for i in range(0, len(gen), 64)]).numpy()
        classifier = f"{backbone.name} ImageNet classes"
    splits = max(1, min(is_splits, len(gen) // 50))
    is_mean, is_std = inception_score(probs, splits)
    return {"gen/fid": fid(gen_feats, real_feats), "gen/is": is_mean, "gen/is_std": is_std,
            "protocol/is_classifier": classifier, "protocol/is_splits": splits}


def evaluate(prepared: Path, embeddings: Path, features: Path, rdg_dir: Path, judge_dir: Path,
             sen_dir: Path, report_dir: Path, cfg: EvalConfig, frontend: SpeechFrontend,
             backbone_weights: str | None = None) -> tuple[dict, list[Path]]:
    """All scores (flat keys) and the figure files written under ``report_dir/figures``.

    The backbone is the one named in ``features/backbone.json`` (its weights file, when it
    needs one, is ``backbone_weights``); ``frontend`` speaks the colour-grid sentences.

    The speech side is the one the generator was trained with (:func:`speech_sources`): the
    pretrained SEN (``sen_dir/best.pt``, ``embeddings``) or, with ``rdg.speech_encoder`` joint /
    end_to_end, the encoder the `rdg` stage trained and the embeddings it wrote (``rdg_dir``)."""
    device = resolve_device(cfg.device)
    embeddings, sen_checkpoint, speech_source = speech_sources(rdg_dir, embeddings, sen_dir)
    speech_encoder, _, sen_cfg = load_sen(sen_checkpoint, device, speech_only=True)
    frame = mf.read(prepared / "manifest.parquet")
    fine_grained = frame.attrs.get("kind", "fine_grained") == "fine_grained"
    split = eval_split(frame)
    g = load_generator(rdg_dir / "generator.pt", device)
    # what the generator reads: the SEN embeddings, or with dg.condition_vlad the embeddings
    # followed by the VLAD of their frame states, as the rdg stage wrote them
    vectors = generator_vectors(rdg_dir, embeddings, g)
    index, speech = load_vectors(vectors, f"{split}_speech")
    captions = frame.set_index("caption_id").loc[index["id"]].reset_index()
    reads = g.speech_input(speech_encoder)     # filterbanks -> what the generator reads
    size = g.cfg.image_sizes[-1]
    z = fixed_noise(len(index), g.cfg.z_dim, cfg.seed)
    gen = generate(g, torch.from_numpy(np.asarray(speech)).float(), z, cfg.batch_size)
    real_table = mf.images(frame[frame["split"] == split])
    real = load_images(real_table, (size,), desc=f"load {split} images")[0]

    backbone = load_features_backbone(features, backbone_weights).to(device)
    name = backbone.name
    real_feats = backbone_features(backbone, real, cfg.batch_size)
    gen_feats = backbone_features(backbone, gen, cfg.batch_size)
    m: dict = {
        "protocol/fid_backbone": f"{name} ImageNet ({backbone.weights_id})",
        "protocol/fid_image_size": size, "protocol/backbone_input_size": backbone.input_size,
        "protocol/resize": "real: PIL bicubic (antialiased) to S; backbone: bilinear antialiased",
        "protocol/n_generated": len(gen), "protocol/n_real": len(real),
        "protocol/split": split, "protocol/noise_seed": cfg.seed,
    }
    judges = Judges.load(judge_dir / "judge.pt")
    m.update(fid_and_is(gen, gen_feats, real_feats, judges, backbone, cfg.is_splits, device))
    m.update(retrieval_scores(real_feats, real_table["class_id"].to_numpy(),
                              real_table["image_id"].to_numpy(), gen_feats,
                              captions["class_id"].to_numpy(), captions["image_id"].to_numpy(),
                              fine_grained, cfg))
    if speech_source == "rdg":   # (absent with the pretrained SEN: the default's keys unchanged)
        m["protocol/speech_encoder"] = (f"{load_state(sen_checkpoint).get('trained_by')}, "
                                        f"{sen_checkpoint.name} of the rdg stage")
    text_system = sen_cfg.kind == "text"   # the two-stage baseline: its encoder reads words
    if text_system:
        m["protocol/text_system"] = ("sen.kind text: colour grid and timing encode the "
                                     "sentences' text (no ASR); held-out voices not scored")
    phrased = None   # (texts, images) of the held-out phrasings
    if judges.attributes is not None:
        m.update(attribute_scores(judges, gen, captions, real, real_table))
        if cfg.probes:
            m.update(probe_scores(frame, embeddings, features, g.project, vectors))
        if cfg.seen_captions:
            m.update(seen_class_scores(g, judges, frame, vectors, cfg.seen_captions, cfg.seed,
                                       cfg.batch_size))
        voices = () if text_system else cfg.heldout_voices
        m.update(heldout_voice_scores(g, judges, captions, z, voices, frontend, reads,
                                      cfg.batch_size))
        m["protocol/heldout_voices"] = ", ".join(voices) or "none"
        if cfg.heldout_phrasings and not text_system and _has_classes(captions):
            scores, phrase_texts, phrase_images = heldout_phrasing_scores(
                g, judges, captions, z, cfg.heldout_phrasings, cfg.seed, frontend, reads,
                cfg.batch_size)
            m.update(scores)
            phrased = (phrase_texts, phrase_images)
    n_div = min(cfg.diversity_captions, len(gen))
    if n_div:
        m["gen/diversity"] = diversity_score(
            g, torch.from_numpy(np.asarray(speech)[:n_div]).float(), gen[:n_div], cfg.seed + 1)

    figures = report_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    files = [figures / "test_captions.png"]
    # one caption per class; per image where there are no classes (class_id -1: scene data)
    key = captions["class_id"].where(captions["class_id"] >= 0, captions["image_id"])
    pick = captions[~key.duplicated()].index[:cfg.figure_captions].to_numpy()
    real_pos = {iid: i for i, iid in enumerate(real_table["image_id"])}
    extra = generate(g, torch.from_numpy(np.asarray(speech)[pick]).float(),
                     fixed_noise(len(pick), g.cfg.z_dim, cfg.seed + 1))
    texts = [t if isinstance(t, str) and t else c   # real speech may have no transcript
             for t, c in zip(captions["text"], captions["caption_id"])]
    caption_grid([texts[i] for i in pick],
                 real[[real_pos[i] for i in captions["image_id"].iloc[pick]]], [gen[pick], extra],
                 files[0])
    if phrased is not None:   # the same test classes as test_captions.png, in new words
        files.append(figures / "heldout_phrasings.png")
        caption_grid([phrased[0][i] for i in pick],
                     real[[real_pos[i] for i in captions["image_id"].iloc[pick]]],
                     [phrased[1][pick]], files[-1])
    pairs = [(int(pick[i]), int(pick[i + 1])) for i in range(0, min(len(pick), 6) - 1, 2)]
    if pairs:   # Li et al. Fig. 5
        files.append(interpolation_figure(g, torch.from_numpy(np.asarray(speech)).float(), texts,
                                          pairs, cfg.seed, figures / "interpolation.png"))

    fbanks = (speech_encoder.token_arrays(_colour_texts(cfg)) if text_system
              else _colour_fbanks(cfg, frontend))
    if fbanks is not None:
        emb = embed_fbanks(reads, fbanks)
        k = len(cfg.colours)
        zc = fixed_noise(1, g.cfg.z_dim, cfg.seed).repeat(len(emb), 1)
        grid = generate(g, emb, zc).numpy().reshape(k, k, 3, size, size)
        files.append(figures / "colour_grid.png")
        colour_grid(grid, list(cfg.colours), list(cfg.colours), files[-1])
        m.update(time_inference(reads, g, fbanks, cfg.timing_repeats, device))
        if not text_system:   # Eq. (1) weights under the filterbank of one spoken sentence
            j = min(1, len(fbanks) - 1)
            files.append(attention_figure(speech_encoder, fbanks[j], _colour_texts(cfg)[j],
                                          figures / "sen_attention.png"))
    else:
        lengths = [300] * 4      # no TTS: time with 3 s of random filterbank frames
        rng = np.random.default_rng(cfg.seed)
        m.update(time_inference(reads, g, [rng.normal(size=(n, 40)).astype(np.float32)
                                                    for n in lengths], cfg.timing_repeats, device))
    m["protocol/timing_device"] = str(device)
    return m, files


def _colour_texts(cfg: EvalConfig) -> list[str]:
    """The Fig. 7 sentences, row-major (rows: belly colour, columns: wing colour)."""
    return [f"a small bird with a {b} belly and {w} wings"
            for b in cfg.colours for w in cfg.colours]


def _colour_fbanks(cfg: EvalConfig, frontend: SpeechFrontend) -> list[np.ndarray] | None:
    """Filterbanks of the Fig. 7 sentences (rows: belly colour, columns: wing colour)."""
    texts = _colour_texts(cfg)
    try:
        return frontend.text_fbanks(texts)
    except Exception as exc:  # a missing TTS engine must not lose every other score
        warnings.warn(f"colour grid skipped: TTS backend {frontend.tts_backend!r} failed ({exc})")
        return None


def _has_classes(captions) -> bool:
    return bool((captions["class_id"] >= 0).all())


ATTRIBUTE_GROUPS = (("unseen", "gen"), ("seen", "seen"), ("held-out voice", "heldout_voice"),
                    ("held-out phrasing", "heldout_phrasing"), ("real test", "real_test"))


def summary_line(metrics: dict, report_dir: str | Path) -> str:
    """The one line the `evaluate` stage ends with: FID, IS, retrieval, and for data with
    attribute judges (SynthBirds) crown/wing/belly/size accuracy per caption group."""
    parts = [f"FID {metrics['gen/fid']:.1f}", f"IS {metrics['gen/is']:.2f}"]
    recall = sorted(k for k in metrics if k.startswith("gen/r") and k[5:].isdigit())   # gen/r50
    for key in ("gen/map", *recall, "gen/diversity"):
        if key in metrics:
            name = {"gen/map": "mAP", "gen/diversity": "diversity"}.get(key, f"R@{key[5:]}")
            parts.append(f"{name} {metrics[key]:.3f}")
    groups = [f"{label} " + "/".join(f"{metrics[f'{prefix}/acc_{a}']:.2f}"
                                    for a in ("crown", "wing", "belly", "size"))
              for label, prefix in ATTRIBUTE_GROUPS if f"{prefix}/acc_crown" in metrics]
    if groups:
        parts.append("crown/wing/belly/size: " + ", ".join(groups))
    return f"evaluate: {'; '.join(parts)}. Figures in {report_dir}"
