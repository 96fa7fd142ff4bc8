"""The shared attack loop: early stop, step cap, batching, thresholds."""

import copy

import numpy as np
import pytest
import torch

from mindseye.attacks.ifgsm import IterativeFGSM
from mindseye.attacks.settings import ATTACK_BATCH_SIZES
from mindseye.attacks.victims import DirectVictim, TripleStagedVictim
from mindseye.models.triple_staged import decide
from tests.fixtures.tiny_networks import tiny_triple_staged


def positives_and_targets(test: dict, num_classes: int, count: int, model=None):
    """The first `count` positive images (that `model` classifies right), each aimed at the
    next positive class."""
    rows = np.flatnonzero(test["label"] < num_classes)
    if model is not None:
        with torch.no_grad():
            decided = model(torch.as_tensor(test["image"][rows], dtype=torch.float32)[:, None])
        rows = rows[decided.argmax(1).numpy() == test["label"][rows]]
    rows = rows[:count]
    images = torch.as_tensor(test["image"][rows], dtype=torch.float32)[:, None]
    targets = torch.as_tensor((test["label"][rows] + 1) % num_classes)
    return images, targets


def test_ifgsm_flips_trained_direct_network(trained_direct, shapes_test):
    victim = DirectVictim("direct", trained_direct, 3)
    images, targets = positives_and_targets(shapes_test, 3, 12, trained_direct)
    result = IterativeFGSM(victim, max_steps=300).run(images, targets)
    assert result.success.all()
    adversarials = torch.as_tensor(result.images[:, 0])[:, None]
    with torch.no_grad():
        assert (trained_direct(adversarials).argmax(1) == targets).all()
    # Unit steps from whole numbers: pixels stay whole, in range, and move at most `steps`.
    assert np.array_equal(result.images, np.rint(result.images))
    assert result.images.min() >= 0 and result.images.max() <= 255
    moved = np.abs(result.images[:, 0] - images[:, 0].numpy()).reshape(len(images), -1).max(1)
    assert (moved <= result.steps[:, 0]).all() and (result.steps[:, 0] >= 1).all()


def test_batched_and_per_sample_runs_agree(trained_direct, shapes_test):
    # In float64: float32 kernels round differently at different batch sizes, and sign() can
    # turn a last-bit difference into a different pixel step (benchmarks/attack_batching.py).
    victim = DirectVictim("direct", copy.deepcopy(trained_direct).double(), 3)
    images, targets = positives_and_targets(shapes_test, 3, 10)
    images = images.double()
    batched = IterativeFGSM(victim, max_steps=200, batch_size=64).run(images, targets)
    alone = IterativeFGSM(victim, max_steps=200, batch_size=1).run(images, targets)
    assert np.array_equal(batched.steps, alone.steps)
    assert np.array_equal(batched.success, alone.success)
    assert np.array_equal(batched.images, alone.images)


def test_the_batch_size_defaults_to_the_victims_devices(trained_direct, shapes_test):
    victim = DirectVictim("direct", copy.deepcopy(trained_direct).double(), 3)
    default = IterativeFGSM(victim, max_steps=200)
    assert default.batch_size == ATTACK_BATCH_SIZES["cpu"]
    assert IterativeFGSM(victim, max_steps=200, batch_size=64).batch_size == 64
    # More images than one default batch: the default splits them, and finds what one batch does.
    images, targets = positives_and_targets(shapes_test, 3, 3 * ATTACK_BATCH_SIZES["cpu"] // 2)
    split = default.run(images.double(), targets)
    whole = IterativeFGSM(victim, max_steps=200, batch_size=len(images)).run(images.double(),
                                                                             targets)
    assert np.array_equal(split.steps, whole.steps)
    assert np.array_equal(split.images, whole.images)


def test_step_cap_is_recorded_as_failure(trained_direct, shapes_test):
    victim = DirectVictim("direct", trained_direct, 3)
    images, targets = positives_and_targets(shapes_test, 3, 6)
    uncapped = IterativeFGSM(victim, max_steps=300).run(images, targets)
    cap = int(np.median(uncapped.steps))
    capped = IterativeFGSM(victim, max_steps=cap).run(images, targets)
    over = uncapped.steps[:, 0] > cap
    assert over.any() and not over.all()
    assert (~capped.success[over, 0]).all() and (capped.steps[over, 0] == cap).all()
    assert np.array_equal(capped.steps[~over], uncapped.steps[~over])


def test_triple_staged_decision_respects_each_threshold(shapes_test):
    model = tiny_triple_staged()
    thresholds = (0.2, 0.45, 0.7)
    victim = TripleStagedVictim("triple-staged", model, thresholds)
    rows = np.arange(8)
    images = torch.as_tensor(shapes_test["image"][rows], dtype=torch.float32)[:, None]
    targets = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])
    result = IterativeFGSM(victim, max_steps=60).run(images, targets)
    assert result.success.any()
    for column, threshold in enumerate(thresholds):
        done = result.success[:, column]
        final = torch.as_tensor(result.images[done, column])[:, None]
        with torch.no_grad():
            ratios = model.ratios(final)
        best = ratios.max(1).values
        to_none = targets[done] == 3
        assert (best[to_none] < threshold).all()
        assert (best[~to_none] >= threshold).all()
        assert (decide(ratios, threshold) == targets[done]).all()


def test_one_trajectory_for_all_thresholds_equals_one_attack_per_threshold(shapes_test):
    model = tiny_triple_staged().double()  # float64: see test_batched_and_per_sample_runs_agree
    thresholds = (0.2, 0.45, 0.7)
    images = torch.as_tensor(shapes_test["image"][:8], dtype=torch.float64)[:, None]
    targets = torch.tensor([1, 2, 3, 0, 3, 3, 0, 1])
    shared = IterativeFGSM(TripleStagedVictim("t", model, thresholds), max_steps=40).run(
        images, targets)
    for column, threshold in enumerate(thresholds):
        alone = IterativeFGSM(TripleStagedVictim("t", model, (threshold,)), max_steps=40).run(
            images, targets)
        assert np.array_equal(shared.steps[:, column], alone.steps[:, 0])
        assert np.array_equal(shared.images[:, column], alone.images[:, 0])


def test_where_the_clip_never_engaged_bpda_takes_the_same_path(shapes_test):
    hard = tiny_triple_staged().double()  # float64: see test_batched_and_per_sample_runs_agree
    images = torch.as_tensor(shapes_test["image"][:16], dtype=torch.float64)[:, None]
    targets = torch.tensor([1, 2, 3, 0] * 4)
    with torch.no_grad():  # put the first angle near the clip's edge, so some paths cross it
        angles = hard.estimator.unclipped(images, targets.clamp(max=2))
        hard.estimator.estimate.bias[0] += 0.45 - angles[:, 0].median()
    through = copy.deepcopy(hard)
    through.clip = "straight_through"
    thresholds = (0.2, 0.45)
    paper = IterativeFGSM(TripleStagedVictim("t", hard, thresholds), max_steps=40).run(
        images, targets)
    bpda = IterativeFGSM(TripleStagedVictim("t", through, thresholds), max_steps=40).run(
        images, targets)
    untouched = paper.clipped_steps == 0
    assert untouched.any() and not untouched.all()
    assert np.array_equal(paper.steps[untouched], bpda.steps[untouched])
    assert np.array_equal(paper.images[untouched], bpda.images[untouched])
    parted = (paper.images != bpda.images).reshape(len(images), -1).any(axis=1)
    assert parted[~untouched].any()  # the count is not vacuous: engaged paths do part


def test_bfloat16_gradient_records_what_the_float32_network_decides(shapes_test):
    model = tiny_triple_staged()
    thresholds = (0.2, 0.45, 0.7)
    victim = TripleStagedVictim("t", model, thresholds)
    images = torch.as_tensor(shapes_test["image"][:16], dtype=torch.float32)[:, None]
    targets = torch.tensor([1, 2, 3, 0] * 4)
    exact = IterativeFGSM(victim, max_steps=60).run(images, targets)
    fast = IterativeFGSM(victim, max_steps=60, gradient_precision="bfloat16").run(images, targets)
    assert fast.success.any() and not fast.success.all()
    for column, threshold in enumerate(thresholds):
        with torch.no_grad():  # every recorded decision is float32's on the recorded image
            ratios = model.ratios(torch.as_tensor(fast.images[:, column])[:, None])
        assert torch.equal(decide(ratios, threshold), torch.as_tensor(fast.decisions[:, column]))
        done = fast.success[:, column]
        assert (fast.decisions[done, column] == targets.numpy()[done]).all()
        assert (fast.decisions[~done, column] != targets.numpy()[~done]).all()
    # Only the path differs: bfloat16 steps go where float32 ones do, about as far.
    assert (fast.success == exact.success).mean() >= 0.8
    both = fast.success & exact.success
    assert abs(np.median(fast.steps[both]) - np.median(exact.steps[both])) <= 0.25 * np.median(
        exact.steps[both]) + 1
    assert not np.array_equal(fast.images, exact.images)  # bfloat16 was really used


def test_victims_leave_weights_without_gradients(trained_direct):
    victim = DirectVictim("direct", trained_direct, 3)
    images = torch.full((2, 1, 64, 64), 100.0, requires_grad=True)
    victim.loss(victim.outputs(images), torch.tensor([0, 1])).sum().backward()
    assert images.grad is not None
    assert all(parameter.grad is None for parameter in victim.model.parameters())


class CountedFGSM(IterativeFGSM):
    """The paper's attack, counting the steps it takes, and stopped by an exception (as a kill
    stops it) when it is about to take step `killed_at`. (Private attributes: the attack's
    public ones are its settings, which a saved place must match.)"""

    def __init__(self, *args, killed_at: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._taken, self._killed_at = 0, killed_at

    def step(self, images, gradients, originals):
        if self._taken == self._killed_at:
            raise KeyboardInterrupt
        self._taken += 1
        return super().step(images, gradients, originals)


def test_a_place_kept_at_another_batch_size_is_carried_on_at_that_size(
        trained_direct, shapes_test, tmp_path, monkeypatch):
    # A unit begun on a GPU (or before batch sizes went by device) and resumed on a CPU.
    monkeypatch.setattr("mindseye.attacks.base.PROGRESS_EVERY_SECONDS", 0.0)
    victim = DirectVictim("direct", trained_direct, 3)
    images, targets = positives_and_targets(shapes_test, 3, 10, trained_direct)
    whole = CountedFGSM(victim, max_steps=300, batch_size=4)
    unbroken = whole.run(images, targets)
    place = tmp_path / "unit.progress.pt"

    def kill_halfway() -> CountedFGSM:
        place.unlink(missing_ok=True)  # as the runner deletes it once the unit is written
        killed = CountedFGSM(victim, max_steps=300, batch_size=4, killed_at=whole._taken // 2)
        killed.progress_file = place
        with pytest.raises(KeyboardInterrupt):
            killed.run(images, targets)
        return killed

    def resume(**options) -> tuple[CountedFGSM, object]:
        resumed = CountedFGSM(victim, max_steps=300, **options)
        resumed.progress_file = place
        return resumed, resumed.run(images, targets)

    killed = kill_halfway()
    resumed, result = resume()  # the device's default batch size, not 4
    assert resumed.batch_size == 4 and resumed._taken == whole._taken - killed._taken
    assert np.array_equal(result.images, unbroken.images)
    assert np.array_equal(result.steps, unbroken.steps)

    # A place saved before places named their batch size was made at the old default.
    killed = kill_halfway()
    saved = torch.load(place, weights_only=True)
    del saved["batch_size"]
    torch.save(saved, place)
    monkeypatch.setattr("mindseye.attacks.base.LEGACY_BATCH_SIZE", 4)
    resumed, result = resume()
    assert resumed.batch_size == 4 and resumed._taken == whole._taken - killed._taken
    assert np.array_equal(result.images, unbroken.images)

    # A batch size given on purpose is kept: the unit starts over at it.
    kill_halfway()
    resumed, result = resume(batch_size=ATTACK_BATCH_SIZES["cpu"])
    fresh = CountedFGSM(victim, max_steps=300, batch_size=ATTACK_BATCH_SIZES["cpu"])
    fresh.run(images, targets)
    assert resumed._taken == fresh._taken  # step calls are per batch
    assert np.array_equal(result.steps, unbroken.steps)


def test_a_killed_attack_carries_on_from_its_saved_place(trained_direct, shapes_test, tmp_path,
                                                          monkeypatch):
    monkeypatch.setattr("mindseye.attacks.base.PROGRESS_EVERY_SECONDS", 0.0)  # save every step
    victim = DirectVictim("direct", trained_direct, 3)
    images, targets = positives_and_targets(shapes_test, 3, 10, trained_direct)
    whole = CountedFGSM(victim, max_steps=300, batch_size=4)  # three batches
    unbroken = whole.run(images, targets)
    place = tmp_path / "unit.progress.pt"

    killed = CountedFGSM(victim, max_steps=300, batch_size=4, killed_at=whole._taken // 2)
    killed.progress_file = place
    with pytest.raises(KeyboardInterrupt):
        killed.run(images, targets)
    assert place.is_file()

    resumed = CountedFGSM(victim, max_steps=300, batch_size=4)
    resumed.progress_file = place
    result = resumed.run(images, targets)
    for name in ("steps", "success", "images", "clipped_steps", "decisions"):
        assert np.array_equal(getattr(result, name), getattr(unbroken, name)), name
    # It carried on: only the steps the killed run had not taken were taken again.
    assert resumed._taken == whole._taken - killed._taken

    # A place saved for other targets, or by an attack with another setting, is not this
    # run's: the run starts over.
    for other, other_targets in ((CountedFGSM(victim, max_steps=300, batch_size=4, step_size=2.0),
                                  targets),
                                 (CountedFGSM(victim, max_steps=300, batch_size=4),
                                  (targets + 1) % 3)):
        place.unlink()  # (a finished run's place holds its whole result)
        killed = CountedFGSM(victim, max_steps=300, batch_size=4, killed_at=whole._taken // 2)
        killed.progress_file = place
        with pytest.raises(KeyboardInterrupt):
            killed.run(images, targets)
        other.progress_file = place
        fresh = CountedFGSM(victim, max_steps=300, batch_size=4, step_size=other.step_size)
        assert np.array_equal(other.run(images, other_targets).steps,
                              fresh.run(images, other_targets).steps)
        assert other._taken == fresh._taken
