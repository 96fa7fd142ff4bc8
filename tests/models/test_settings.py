"""The training schedules: the paper preset follows the authors' solvers."""

import torch
from torch import nn

from mindseye.models.settings import CORE_FIELDS, schedule_for
from mindseye.models.training import make_optimiser, make_scheduler


def lrs_at(schedule, steps: list[int]) -> list[float]:
    optimiser = make_optimiser(nn.Linear(2, 2), schedule)
    scheduler = make_scheduler(optimiser, schedule)
    found = []
    for step in range(max(steps) + 1):
        if step in steps:
            found.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        scheduler.step()
    return found


def test_the_paper_projector_is_the_authors_adam():
    """02_TrainStage2/solver.prototxt: Adam, momentum 0.999, momentum2 0.999, base_lr 5e-4,
    multistep gamma 0.5 at 250k, 350k, 450k, max_iter 500k, weight_decay 0, batch 128."""
    schedule = schedule_for("paper", "projector")
    optimiser = make_optimiser(nn.Linear(2, 2), schedule)
    assert isinstance(optimiser, torch.optim.Adam)
    group = optimiser.param_groups[0]
    assert group["betas"] == (0.999, 0.999) and group["lr"] == 5e-4
    assert group["weight_decay"] == 0 and schedule.batch_size == 128
    assert schedule.steps == 500_000 and schedule.lr_milestones == (250_000, 350_000, 450_000)
    # The same shape at 1/1000 of the length: halved at 250, 350 and 450.
    short = schedule_for("paper", "projector", steps=500)
    assert lrs_at(short, [0, 249, 250, 350, 450, 499]) == [5e-4, 5e-4, 2.5e-4, 1.25e-4,
                                                           6.25e-5, 6.25e-5]


def test_the_paper_comparator_and_estimator_are_the_authors_sgd():
    """05_TrainStage3/solver.prototxt: base_lr 2.5e-4, step 10000 gamma 0.1, max_iter 50000,
    momentum 0.9, weight_decay 5e-4; 02_TrainStage1: base_lr 0.01, max_iter 40000, the rest
    alike."""
    for network, lr, steps in (("comparator", 2.5e-4, 50_000), ("estimator", 0.01, 40_000),
                               ("direct", 0.01, 40_000)):
        schedule = schedule_for("paper", network)
        group = make_optimiser(nn.Linear(2, 2), schedule).param_groups[0]
        assert (group["lr"], group["momentum"], group["weight_decay"]) == (lr, 0.9, 5e-4)
        assert (schedule.steps, schedule.lr_decay_every, schedule.lr_gamma) == (steps, 10_000,
                                                                                0.1)
    # 05_TrainStage3/train.prototxt: batches of 1280 patches; 01_preconvolute.py: stride 6.
    comparator = schedule_for("paper", "comparator")
    assert (comparator.batch_size, comparator.patch_stride) == (1280, 6)


def test_demo_and_medium_configs_read_as_before():
    """A field at its default is left out of config.json, so runs made before the Adam
    momenta and milestones existed resume as the same schedule."""
    for preset in ("demo", "medium"):
        for network in ("direct", "estimator", "projector", "comparator"):
            assert set(schedule_for(preset, network).to_json()) == set(CORE_FIELDS)
    assert schedule_for("paper", "projector").to_json()["betas"] == [0.999, 0.999]
