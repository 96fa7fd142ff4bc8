"""The paper preset's starting weights and per-parameter rates are the authors' prototxt's."""

import math

import pytest
import torch

from mindseye.models.initialisation import (
    initialise_like_authors,
    parameter_groups,
    parameter_rules,
)
from mindseye.models.runs import build_network
from mindseye.models.settings import schedule_for
from mindseye.models.training import make_optimiser
from tests.fixtures.rng import isolated_rng

NETWORKS = ("direct", "direct-param", "estimator", "projector", "comparator")


@pytest.mark.parametrize("network", NETWORKS)
def test_every_parameter_has_the_authors_rule(network):
    model = build_network(network, 3, ceil_pooling=True)
    assert set(parameter_rules(network, model)) == {name for name, _ in model.named_parameters()}


def test_the_alexnet_fillers_are_03_train_classifier_s():
    with isolated_rng(0):
        model = build_network("direct", 3, ceil_pooling=True)
        initialise_like_authors("direct", model)
    trunk = model.trunk
    # Gaussian std 0.01 for the convolutions and fc8, 0.005 for fc6 and fc7.
    for layer, std in ((trunk.convolutions[8], 0.01), (trunk.convolutions[10], 0.01),
                       (trunk.fully_connected[1], 0.005), (trunk.fully_connected[4], 0.005),
                       (model.classify, 0.01)):
        assert layer.weight.mean().abs() < std / 10
        assert layer.weight.std().item() == pytest.approx(std, rel=0.05)
    biases = [trunk.convolutions[i].bias for i in (0, 4, 8, 10, 12)]
    assert [float(b.detach().unique()) for b in biases] == [0.0, pytest.approx(0.1), 0.0,
                                                   pytest.approx(0.1), pytest.approx(0.1)]
    assert float(trunk.fully_connected[1].bias.detach().unique()) == pytest.approx(0.1)
    assert float(model.classify.bias.detach().unique()) == 0.0


def test_projector_and_comparator_fillers():
    with isolated_rng(0):
        projector = build_network("projector", 3)
        initialise_like_authors("projector", projector)
        comparator = build_network("comparator", 3)
        initialise_like_authors("comparator", comparator)
    first = projector.fully_connected[0]
    assert first.weight.std().item() == pytest.approx(1.0, rel=0.05)
    # Caffe's Xavier: uniform in +-sqrt(3 / fan_in), fan_in = count / shape[0].
    second = projector.fully_connected[2].weight
    assert second.abs().max() <= math.sqrt(3 / 512)
    assert second.abs().max() > 0.95 * math.sqrt(3 / 512)
    head = projector.upsample[0].weight  # 96 in x 96 out x 4 x 4: fan_in 96 * 16
    assert 0.95 * math.sqrt(3 / (96 * 16)) < head.abs().max() <= math.sqrt(3 / (96 * 16))
    for layer in (projector.upsample[0], projector.upsample[2], projector.image_head,
                  projector.alpha_head):  # deconvolution biases: 0, and they never learn
        assert not layer.bias.any() and not layer.bias.requires_grad
    # The comparator's biases are Xavier too: a 1-D blob has fan_in 1, so +-sqrt(3).
    bias = comparator.patch_net[0].bias
    assert bias.abs().max() <= math.sqrt(3) and bias.abs().max() > 1.0


def test_biases_learn_twice_as_fast_without_decay():
    model = build_network("estimator", 3, ceil_pooling=True)
    schedule = schedule_for("paper", "estimator")
    optimiser = make_optimiser(model, schedule, parameter_groups(
        "estimator", model, schedule.lr, schedule.weight_decay))
    weights, biases = optimiser.param_groups
    assert (weights["lr"], weights["weight_decay"]) == (0.01, 5e-4)
    assert (biases["lr"], biases["weight_decay"]) == (0.02, 0.0)
    assert {id(p) for p in biases["params"]} == {
        id(p) for name, p in model.named_parameters() if name.endswith("bias")}
    projector = build_network("projector", 3)
    initialise_like_authors("projector", projector)
    schedule = schedule_for("paper", "projector")
    groups = parameter_groups("projector", projector, schedule.lr, schedule.weight_decay)
    grouped = {id(p) for group in groups for p in group["params"]}
    frozen = {id(layer.bias) for layer in (projector.upsample[0], projector.upsample[2],
                                           projector.image_head, projector.alpha_head)}
    assert not grouped & frozen
    assert len(grouped) + len(frozen) == len(list(projector.parameters()))
    assert [group["lr"] for group in groups] == [5e-4, 1e-3]


def test_a_paper_comparator_step_on_patches_lowers_its_loss():
    """Real SGD steps at the authors' rates on a separable patch task."""
    with isolated_rng(0):
        comparator = build_network("comparator", 3)
        initialise_like_authors("comparator", comparator)
        query = torch.rand(256, 1, 10, 10) * 255
        same = torch.randint(0, 2, (256,))
        drawing = torch.where(same[:, None, None, None].bool(), query, 255 - query)
        alpha = torch.ones_like(query)
    schedule = schedule_for("paper", "comparator")
    optimiser = make_optimiser(comparator, schedule, parameter_groups(
        "comparator", comparator, 0.01, schedule.weight_decay))

    def loss() -> torch.Tensor:
        logits = comparator(query, drawing, alpha)[:, 0, 0, 0]
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, same.float())

    before = loss().item()
    for _ in range(30):
        optimiser.zero_grad()
        loss().backward()
        optimiser.step()
    assert loss().item() < 0.9 * before
