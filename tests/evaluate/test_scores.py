"""The evaluate stage's protocols: image-retrieval mAP / R@k of generated images (Eq. 20-21)."""

from __future__ import annotations

import numpy as np
import pytest

from s2igan.evaluate.run import EvalConfig, retrieval_scores


def test_map_protocol_perfect_and_shuffled():
    rng = np.random.default_rng(1)
    protos = rng.normal(size=(3, 8))
    real_cls = np.repeat(np.arange(3), 4)
    real = protos[real_cls] + 0.01 * rng.normal(size=(12, 8))
    gen_cls = np.repeat(np.arange(3), 5)
    gen = protos[gen_cls] + 0.01 * rng.normal(size=(15, 8))
    cfg = EvalConfig(queries_per_class=2)
    ids = np.array([f"r{i}" for i in range(12)])
    out = retrieval_scores(real, real_cls, ids, gen, gen_cls, ["x"] * 15, True, cfg)
    assert out["gen/map"] == pytest.approx(1.0) and out["protocol/map_queries"] == 6
    # Generated images of the wrong class (cyclic shift) are never relevant in the top ranks.
    bad = retrieval_scores(real, real_cls, ids, gen, (gen_cls + 1) % 3, ["x"] * 15, True, cfg)
    assert bad["gen/map"] < 0.5
    # Scene data: R@k with relevance = the query image's own captions.
    scene = retrieval_scores(real[[0, 4, 8]], real_cls[[0, 4, 8]], ["a", "b", "c"],
                             gen[[0, 5, 10]], gen_cls[[0, 5, 10]],
                             ["a", "b", "c"], False, EvalConfig(recall_k=1))
    assert scene["gen/r1"] == pytest.approx(1.0)


def test_evaluate_summary_line_reads_the_metrics():
    from s2igan.evaluate.run import summary_line
    attrs = {f"{p}/acc_{a}": v for p, v in (("gen", 0.25), ("seen", 0.5)) for a in
             ("crown", "wing", "belly", "size")}
    line = summary_line({"gen/fid": 236.14, "gen/is": 3.944, "gen/map": 0.0461, **attrs},
                        "reports/evaluate")
    assert line == ("evaluate: FID 236.1; IS 3.94; mAP 0.046; crown/wing/belly/size: "
                    "unseen 0.25/0.25/0.25/0.25, seen 0.50/0.50/0.50/0.50. "
                    "Figures in reports/evaluate")
    # scene data: R@50 and no attribute judges
    assert summary_line({"gen/fid": 80.0, "gen/is": 2.0, "gen/r50": 0.4}, "r") == \
        "evaluate: FID 80.0; IS 2.00; R@50 0.400. Figures in r"
