"""Floating-point operations per training sample and per attack image-step, counted by PyTorch.

No GPU was lent to measure the `paper` preset's GPU hours (results/README.md). The operation
counts are what any device must do; with a measured rate (samples/s) on one device they give
the rate it achieved in GFLOP/s, and so bound what another device would need. Counts are
multiply-adds x 2, forward and backward (FlopCounterMode covers convolutions and matmuls, which
is nearly all of the work here). Last line: one JSON object, GFLOP per sample.

    python benchmarks/network_flops.py
"""

import json

import torch
from torch.utils.flop_counter import FlopCounterMode

from attacks.victims import TripleStagedVictim
from models.comparator import Comparator
from models.direct import Direct, DirectParam
from models.estimator import Estimator
from models.projector import Projector
from models.triple_staged import TripleStaged

CLASSES = 3
BATCH = 8


def counted(step) -> float:
    """GFLOP of one call of `step` on BATCH samples, per sample."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / BATCH / 1e9


def training_step(model: torch.nn.Module, *inputs: torch.Tensor):
    def step():
        outputs = model(*inputs)
        outputs = outputs[0] if isinstance(outputs, tuple) else outputs
        outputs.float().sum().backward()
    return step


def main() -> None:
    torch.manual_seed(0)
    images = torch.rand(BATCH, 1, 64, 64) * 255
    classes = torch.arange(BATCH) % CLASSES
    params = torch.rand(BATCH, 3) - 0.5
    estimator, projector, comparator = Estimator(CLASSES), Projector(CLASSES), Comparator()
    alpha = torch.rand(BATCH, 1, 64, 64)
    victim = TripleStagedVictim("triple-staged",
                                TripleStaged(estimator, projector, comparator).eval(), (0.5,))

    def attack_step():
        current = images.clone().requires_grad_(True)
        loss = victim.loss(victim.outputs(current), classes).sum()
        torch.autograd.grad(loss, current)

    found = {
        "direct_train_sample": counted(training_step(Direct(CLASSES), images)),
        "direct_param_train_sample": counted(training_step(DirectParam(CLASSES), images)),
        "estimator_train_sample": counted(training_step(estimator, images, classes)),
        "projector_train_sample": counted(training_step(projector, params, classes)),
        "comparator_train_image": counted(training_step(comparator, images, images, alpha)),
        "triple_staged_attack_image_step": counted(attack_step),
    }
    for name, gflop in found.items():
        print(f"{name:34s} {gflop:8.4f} GFLOP")
    print(json.dumps(found))


if __name__ == "__main__":
    main()
