"""The clip count is where the estimator's clip really changes the angles, on the right images."""

import json

import numpy as np
import torch

from mindseye.attacks.records import RecordTable
from mindseye.attacks.sources import load_test_images, load_victims
from mindseye.eval.clip import clip_row, clip_table, clipped_hypotheses
from mindseye.eval.stats import wilson_interval
from tests.fixtures.reported import SETTINGS


def triple_staged(reported):
    classes, test = load_test_images(reported["data"])
    (victim,) = load_victims(reported["run"], classes, SETTINGS, ("triple-staged",))
    return victim.model, test


def test_clipped_hypotheses_are_where_the_clip_changes_the_angles(reported):
    model, test = triple_staged(reported)
    images = test["image"][:8]
    batch = torch.as_tensor(images, dtype=torch.float32)[:, None]
    k = model.num_classes
    with torch.no_grad():
        # Centre the untrained estimator's angles on the clip's edge so both cases occur.
        spread = torch.cat([model.estimator.unclipped(batch, torch.full((8,), c)) for c in
                            range(k)])
        model.estimator.estimate.bias += 0.5 - spread.median(dim=0).values
        expected = np.zeros((8, k), bool)
        for c in range(k):
            classes = torch.full((8,), c)
            clipped = model.estimator(batch, classes, clip="hard")
            expected[:, c] = (clipped != model.estimator.unclipped(batch, classes)).any(1).numpy()
    found = clipped_hypotheses(model, images, batch_size=3)
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(found, expected)


def test_clip_table_counts_each_attacks_final_images(reported, tmp_path):
    model, test = triple_staged(reported)
    with torch.no_grad():  # as above: some hypotheses clipped, some not
        model.estimator.estimate.bias += 0.5 - model.estimator.unclipped(
            torch.as_tensor(test["image"][:8], dtype=torch.float32)[:, None],
            torch.zeros(8, dtype=torch.long)).median(dim=0).values
    labels = test["label"]
    sources = np.flatnonzero(labels < model.num_classes)[:6]
    # Records as attacks/experiments.py writes them; the "adversarials" are other test images.
    ifgsm = RecordTable(tmp_path / "ifgsm")
    finals = test["image"][-12:]
    image_file = ifgsm.save_images("unit", finals)
    records = [{"network": "triple-staged", "status": "attacked", "threshold": threshold,
                "kind": kind, "source": int(source), "source_class": int(labels[source]),
                "target": (int(labels[source]) + 1) % model.num_classes
                if kind == "false-positive" else model.num_classes,
                "image_file": image_file, "image_index": index}
               for index, (source, threshold, kind) in enumerate(
                   (source, threshold, kind) for source in sources
                   for threshold, kind in ((0.2, "false-positive"), (0.7, "false-negative")))]
    others = [{**records[0], "network": "direct"}, {**records[1], "status": "misclassified"}]
    # A None image made class 0 (FMN's None sources): its own row, and no clean row of its own
    # (a None image has no hypothesis of its own).
    none_source = int(np.flatnonzero(labels == model.num_classes)[0])
    none = {**records[0], "threshold": 0.45, "kind": "none-to-class", "source": none_source,
            "source_class": model.num_classes, "target": 0}
    rows = clip_table(model, test["image"], {"ifgsm": records + others + [none]},
                      {"ifgsm": ifgsm}, 5)
    assert rows.pop(2) == clip_row("ifgsm", 0.45, "none-to-class", clipped_hypotheses(
        model, finals[:1], 1).any(1), clipped_hypotheses(model, finals[:1], 1)[:, 0])
    clean = clipped_hypotheses(model, test["image"][sources], 4)
    assert rows[0]["attack"] == "clean" and rows[0]["images"] == len(sources)
    assert rows[0]["any_class"] == clean.any(1).sum()
    assert rows[0]["attacked_class"] == clean[np.arange(6), labels[sources]].sum()
    clipped = clipped_hypotheses(model, finals, 4)
    assert clipped.any() and not clipped.all()
    for row in rows[1:]:
        mine = [r for r in records if (r["threshold"], r["kind"]) == (row["threshold"],
                                                                       row["kind"])]
        assert row["attack"] == "ifgsm" and row["images"] == len(mine) == 6
        moved = [r["target"] if r["kind"] == "false-positive" else r["source_class"]
                 for r in mine]
        mask = clipped[[r["image_index"] for r in mine]]
        assert row["any_class"] == mask.any(1).sum()
        assert row["attacked_class"] == mask[np.arange(6), moved].sum()
        assert tuple(row["any_class_ci"]) == wilson_interval(row["any_class"], 6)
    assert len(rows) == 3


def test_the_report_leaves_the_clip_out_when_no_triple_staged_source_was_attacked(reported):
    # The fixture's untrained triple-staged network misclassifies every source, so its
    # records are all "misclassified".
    metrics = json.loads((reported["report"] / "metrics.json").read_text())
    assert metrics["clip"] == []
    assert "The estimator's clip" not in (reported["report"] / "report.md").read_text()
