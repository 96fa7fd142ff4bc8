"""The attack built for analysis by synthesis: search the pose, then aim the estimator at it."""

import copy

import numpy as np
import torch

from mindseye.attacks.experiments import record_table as table
from mindseye.attacks.pose_search import best_poses
from mindseye.attacks.registry import get_attack
from mindseye.attacks.settings import AttackSettings
from mindseye.attacks.sources import select_per_class
from mindseye.attacks.targeted import run_targeted
from mindseye.attacks.victims import TripleStagedVictim
from mindseye.models.triple_staged import decide
from tests.fixtures.tiny_networks import tiny_triple_staged

SETTINGS = AttackSettings(max_steps=80, per_class=2, extra_per_class=2, chunk=2,
                          thresholds=(0.2, 0.45))


def test_the_searched_pose_fits_at_least_as_well_as_the_estimators_own(shapes_test):
    model = tiny_triple_staged()
    images = torch.as_tensor(shapes_test["image"][:6], dtype=torch.float32)[:, None]
    classes = torch.tensor([0, 1, 2, 2, 1, 0])
    poses, found = best_poses(model, images, classes, grid=3, refine_steps=10)
    assert poses.abs().max() <= 0.5
    with torch.no_grad():
        own = model.estimator(images, classes)  # clipped, as the network draws it
        own_ratio = model.ratio_at(images, own, classes)
        assert torch.allclose(model.ratio_at(images, poses, classes), found, atol=1e-6)
    assert (found >= own_ratio - 1e-6).all() and (found > own_ratio + 1e-4).any()


def test_pose_search_records_are_recomputable_from_the_saved_images(tmp_path, shapes_test):
    model = tiny_triple_staged()
    through = copy.deepcopy(model)
    through.clip = "straight_through"
    victim = TripleStagedVictim("triple-staged", through, SETTINGS.thresholds)
    selected = select_per_class(shapes_test["label"], 2, 4)
    run_targeted(tmp_path, get_attack("pose-search"), [victim], shapes_test, selected, SETTINGS)
    records = [r for r in table(tmp_path, "pose-search").read() if r["status"] == "attacked"]
    assert any(r["success"] for r in records) and {r["kind"] for r in records} == {
        "false-positive", "false-negative"}
    images = table(tmp_path, "pose-search")
    for record in records:
        adversarial = torch.as_tensor(images.load_image(record), dtype=torch.float32)[None, None]
        with torch.no_grad():
            decision = decide(model.ratios(adversarial), record["threshold"]).item()
        assert (decision == record["target"]) == record["success"]
        assert np.array_equal(images.load_image(record), np.rint(images.load_image(record)))
