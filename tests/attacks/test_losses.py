"""The losses the attacks follow, and the straight-through (BPDA) clip they can attack through."""

import itertools

import numpy as np
import torch

from mindseye.attacks.adaptive import threshold_margin_loss
from mindseye.attacks.victims import ratio_loss
from mindseye.models.triple_staged import decide
from tests.fixtures.tiny_networks import tiny_triple_staged


def test_ratio_loss_is_the_design_formula():
    ratios = torch.rand(6, 3, generator=torch.Generator().manual_seed(1)) * 0.98 + 0.01
    targets = torch.tensor([0, 1, 2, 3, 3, 1])
    r = ratios.numpy().astype(np.float64)
    for row, target in enumerate(targets.tolist()):
        if target == 3:  # None: every ratio down
            expected = -np.log(1 - r[row]).sum()
        else:
            others = [c for c in range(3) if c != target]
            expected = -np.log(r[row, target]) - np.log(1 - r[row, others]).sum()
        assert np.isclose(ratio_loss(ratios, targets)[row].item(), expected, rtol=1e-5)


def test_margin_loss_is_zero_exactly_when_the_decision_is_the_target_with_margin():
    threshold, margin = 0.45, 0.01
    levels = [0.1, 0.43, 0.452, 0.47, 0.6, 0.9]  # none on a margin edge
    ratios = torch.tensor(list(itertools.product(levels, repeat=3)))
    for target in range(4):
        targets = torch.full((len(ratios),), target)
        loss = threshold_margin_loss(ratios, targets, threshold, margin)
        with_margin = decide(ratios, threshold + margin) == target
        if target < 3:  # the target must also beat every other ratio by the margin
            others = ratios.clone()
            others[:, target] = -1
            with_margin &= ratios[:, target] >= others.max(1).values + margin
        else:
            with_margin = ratios.max(1).values <= threshold - margin
        assert torch.equal(loss == 0, with_margin)


def gradient(model, images: torch.Tensor, clip: str) -> torch.Tensor:
    model.clip = clip
    images = images.clone().requires_grad_(True)
    ratio_loss(model.ratios(images), torch.tensor([3] * len(images))).sum().backward()
    return images.grad


def test_bpda_changes_gradients_only_where_the_estimator_clips(shapes_test):
    model = tiny_triple_staged()
    images = torch.as_tensor(shapes_test["image"][:4], dtype=torch.float32)[:, None]
    with torch.no_grad():  # estimates well inside [-0.5, 0.5]: the clip is the identity
        model.estimator.estimate.weight.mul_(1e-3)
        model.estimator.estimate.bias.zero_()
    assert torch.equal(gradient(model, images, "hard"), gradient(model, images, "straight_through"))
    with torch.no_grad():  # now angle 0 sits at 2.0 rad for every image and class: clipped
        model.estimator.estimate.bias[0] = 2.0
    hard, straight = gradient(model, images, "hard"), gradient(model, images, "straight_through")
    assert not torch.equal(hard, straight)
    # The forward pass is the same either way: only the gradient differs.
    model.clip = "hard"
    with torch.no_grad():
        clipped = model.ratios(images)
    model.clip = "straight_through"
    with torch.no_grad():
        assert torch.equal(clipped, model.ratios(images))
