"""The evaluate stage's fidelity diagnostics on tiny real inputs (a tiny random SEN, espeak-ng)."""

import json

import numpy as np
import pandas as pd
import torch

from conftest import TINY_SEN, TINY_SEN_DIMS
from s2igan.arrays import load_vectors, save_vectors
from s2igan.evaluate.fidelity import (attributes_of, heldout_phrasings, part_word_scores,
                                     probe_scores, two_value_recalls, value_recalls, value_scores,
                                     voice_speech)
from s2igan.sen.checkpoint import build_encoders
from s2igan.speech.frontend import SpeechFrontend

COLOURS = ["red", "blue"]


def _frame(n_classes: int = 6, per_class: int = 4) -> pd.DataFrame:
    rows = []
    for c in range(n_classes):
        attrs = {"crown": COLOURS[c % 2], "wing": COLOURS[(c // 3) % 2],
                 "size": ["small", "large"][(c // 2) % 2]}
        for i in range(per_class):
            rows.append({"caption_id": f"c{c}_i{i}#0", "image_id": f"c{c}_i{i}", "class_id": c,
                         "split": "train" if c < 4 else "test",
                         "attributes": json.dumps(attrs)})
    return pd.DataFrame(rows)


def test_attributes_follow_the_requested_ids_in_order():
    frame = _frame()
    table = attributes_of(frame, ["c1_i0", "c0_i3", "c1_i2"], "image_id")
    assert table["crown"].tolist() == ["blue", "red", "blue"]


def test_probes_read_an_attribute_the_vectors_encode(tmp_path):
    # speech, image and feature vectors all carry the crown colour on axis 0 and noise elsewhere:
    # every probe reads the crown of the unseen classes perfectly
    frame = _frame()
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        part = frame[frame["split"] == split]
        attrs = part["attributes"].map(json.loads)
        crown = np.where(attrs.str["crown"] == "red", 3.0, -3.0)
        wing = np.where(attrs.str["wing"] == "red", 3.0, -3.0)
        vecs = np.c_[crown, wing, 0.1 * rng.normal(size=(len(part), 2))].astype(np.float32)
        for folder, name, key in (("emb", f"{split}_speech", "caption_id"),
                                  ("emb", f"{split}_image", "image_id"),
                                  ("feat", split, "image_id")):
            save_vectors(tmp_path / folder, name, pd.DataFrame({"id": part[key]}), vecs)
    # the generator's projection folds the wing axis onto the crown axis: "red wing" and "red
    # crown" become one direction in the condition, while the vectors keep them orthogonal
    fold = torch.tensor([[1.0, 0, 0, 0], [1.0, 0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    scores = probe_scores(frame, tmp_path / "emb", tmp_path / "feat", lambda y: y @ fold)
    for kind in ("speech", "image", "features"):
        assert scores[f"probe/{kind}_crown"] == 1.0
        assert abs(scores[f"binding/{kind}_crown_wing"]) < 0.1
    assert scores["binding/condition_crown_wing"] > 0.99
    assert "binding/condition_crown_wing" not in probe_scores(frame, tmp_path / "emb",
                                                              tmp_path / "feat")
    # dg.condition_vlad: the projection reads the generator's own wider vectors (embedding, then
    # VLAD) from their folder; here the wing moves to an extra column the projection keeps apart
    train = frame[frame["split"] == "train"]
    index, vecs = load_vectors(tmp_path / "emb", "train_speech")
    zero = np.zeros((len(vecs), 1))
    wide = np.c_[vecs[:, :1], zero, vecs[:, 2:], vecs[:, 1:2], zero]
    save_vectors(tmp_path / "cond", "train_speech", index, wide.astype(np.float32))
    widefold = torch.cat([fold, torch.tensor([[0, 1.0, 0, 0], [0, 0, 0, 0]])])
    other = probe_scores(frame, tmp_path / "emb", tmp_path / "feat", lambda y: y @ widefold,
                         tmp_path / "cond")
    assert other["binding/condition_crown_wing"] < 0.5 < scores["binding/condition_crown_wing"]
    assert other["probe/speech_crown"] == 1.0 and len(train) == len(vecs)


def test_a_held_out_voice_speaks_each_text_once_and_repeats_map_to_the_same_embedding():
    torch.manual_seed(0)
    speech_encoder, _ = build_encoders(TINY_SEN, TINY_SEN_DIMS)
    frontend = SpeechFrontend(tts_backend="mixed", voice="espeak:en-gb+m2,speed=165,pitch=45")
    texts = ["a red bird", "a blue bird", "a red bird"]
    emb = voice_speech(texts, frontend, speech_encoder.eval())
    assert emb.shape == (3, TINY_SEN.embed_dim)
    torch.testing.assert_close(emb[0], emb[2])
    assert not torch.allclose(emb[0], emb[1])
    other = voice_speech(texts[:1], SpeechFrontend(tts_backend="mixed",
                                                   voice="espeak:en-us,speed=175,pitch=50"),
                         speech_encoder)
    assert not torch.allclose(emb[0], other[0])


def test_heldout_phrasings_cycle_a_seeded_pool_per_class_and_say_its_colours():
    frame = _frame(n_classes=3, per_class=5)
    for c, attrs in enumerate(({"crown": "red", "wing": "blue", "belly": "green"},
                               {"crown": "white", "wing": "black", "belly": "pink"},
                               {"crown": "brown", "wing": "orange", "belly": "purple"})):
        rows = frame["class_id"] == c
        frame.loc[rows, "attributes"] = json.dumps({**attrs, "size": "small"})
    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    texts = heldout_phrasings(shuffled, 3, seed=7)
    assert texts == heldout_phrasings(shuffled, 3, seed=7)
    for c in range(3):
        mine = [t for t, cid in zip(texts, shuffled["class_id"]) if cid == c]
        assert len(set(mine)) == 3 and mine[:2] == mine[3:]    # rows cycle the class's 3 texts
        colours = set(json.loads(shuffled[shuffled["class_id"] == c]["attributes"].iloc[0])
                      .values()) - {"small"}
        assert all(all(col in t for col in colours) for t in mine), mine
    # the pool depends on the classes, not on the order of the rows
    by_class = {cid: t for t, cid in zip(texts, shuffled["class_id"])}
    again = heldout_phrasings(frame, 3, seed=7)
    assert set(again) == set(texts) and set(by_class.values()) <= set(again)


def test_part_word_scores_split_each_part_by_the_word_that_names_it():
    texts = ["a wee red headed, blue winged and white bellied bird",       # crown new, wing new
             "i saw a big bird, its head was red, its wings were blue and its tummy was white",
             "look at this big fellow, red on top of the head, blue wings and white underneath",
             "a tiny red headed, green winged and pink bellied bird"]
    truth = pd.DataFrame({"crown": ["red"] * 4, "wing": ["blue", "blue", "blue", "green"],
                          "belly": ["white", "white", "white", "pink"]})
    pred = {"crown": np.array(["red", "red", "black", "blue"]),
            "wing": np.array(["blue", "red", "blue", "green"]),
            "belly": np.array(["white", "white", "black", "black"])}
    got = part_word_scores(pred, truth, texts, "p")
    # crown: new word in rows 0 and 3 (1 of 2 right), known in rows 1 and 2 (1 of 2 right);
    # wing: new in rows 0 and 3 (both right), known in rows 1 and 2 (1 of 2); belly: all new
    assert got == {"p/acc_crown_known_word": 0.5, "p/acc_crown_new_word": 0.5,
                   "p/acc_wing_known_word": 0.5, "p/acc_wing_new_word": 1.0,
                   "p/acc_belly_new_word": 0.5}


def test_two_value_recalls_show_which_way_a_two_valued_attribute_errs():
    truth = pd.DataFrame({"size": ["small", "small", "small", "small", "large", "large"],
                          "crown": ["red", "blue", "green", "red", "red", "red"],
                          "wing": ["red"] * 6})
    pred = {"size": np.array(["large", "small", "large", "large", "large", "large"]),
            "crown": np.array(["red"] * 6), "wing": np.array(["red"] * 6)}
    # size: 1 of 4 small rows read small, both large rows read large; the crown has three
    # values in these rows and the wing one: neither is scored
    assert two_value_recalls(pred, truth, "gen") == {"gen/acc_size_small": 0.25,
                                                     "gen/acc_size_large": 1.0}
    got = value_scores(pred, truth, "seen")
    assert got["seen/acc_size"] == 0.5
    assert got["seen/acc_size_small"] == 0.25 and got["seen/acc_size_large"] == 1.0
    # the per-value recall under it takes any number of values
    assert value_recalls(pred["crown"], truth["crown"]) == {"blue": 0.0, "green": 0.0, "red": 1.0}
