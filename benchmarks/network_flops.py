"""Floating-point operations per training sample and per attack image-step, counted by PyTorch,
and how much of the CPU's arithmetic the triple-staged attack step gets.

No GPU was lent to measure the `paper` preset's GPU hours (results/README.md). The operation
counts are what any device must do; with a measured rate (samples/s) on one device they give
the rate it achieved in GFLOP/s, and so bound what another device would need. Counts are
multiply-adds x 2, forward and backward (FlopCounterMode covers convolutions and matmuls, which
is nearly all of the work here). Value: the attack step's GFLOP/s at batch 32; baseline: a
2048x2048 float32 matmul's GFLOP/s on the same threads, in the same run; the ratio is the share
of the CPU's dense arithmetic the attack gets. Last line: one JSON object.

    python benchmarks/network_flops.py [--rounds 3]
"""

import argparse
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from attacks.victims import TripleStagedVictim
from models.runs import build_network
from models.triple_staged import TripleStaged

CLASSES = 3
BATCH = 32  # the attack's chunk of sources


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


def seconds_per_call(call, rounds: int) -> float:
    call()  # warm-up: first calls allocate and pick kernels
    start = time.perf_counter()
    for _ in range(rounds):
        call()
    return (time.perf_counter() - start) / rounds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    torch.manual_seed(0)
    images = torch.rand(BATCH, 1, 64, 64) * 255
    classes = torch.arange(BATCH) % CLASSES
    params = torch.rand(BATCH, 3) - 0.5
    estimator, projector, comparator = (build_network(name, CLASSES) for name in
                                        ("estimator", "projector", "comparator"))
    alpha = torch.rand(BATCH, 1, 64, 64)
    victim = TripleStagedVictim("triple-staged",
                                TripleStaged(estimator, projector, comparator).eval(), (0.5,))

    def attack_step():
        current = images.clone().requires_grad_(True)
        loss = victim.loss(victim.outputs(current), classes).sum()
        torch.autograd.grad(loss, current)

    found = {
        "direct_train_sample": counted(training_step(build_network("direct", CLASSES), images)),
        "direct_param_train_sample": counted(training_step(build_network("direct-param",
                                                                        CLASSES), images)),
        "estimator_train_sample": counted(training_step(estimator, images, classes)),
        "projector_train_sample": counted(training_step(projector, params, classes)),
        "comparator_train_image": counted(training_step(comparator, images, images, alpha)),
        "triple_staged_attack_image_step": counted(attack_step),
    }
    for name, gflop in found.items():
        print(f"{name:34s} {gflop:8.4f} GFLOP")
    attack_rate = found["triple_staged_attack_image_step"] * BATCH / seconds_per_call(
        attack_step, rounds)
    left, right = torch.rand(2048, 2048), torch.rand(2048, 2048)
    matmul_rate = 2 * 2048**3 / 1e9 / seconds_per_call(lambda: left @ right, 4 * rounds)
    print(f"attack step {attack_rate:.1f} GFLOP/s, matmul {matmul_rate:.1f} GFLOP/s on "
          f"{torch.get_num_threads()} threads")
    print(json.dumps({"name": "triple_staged_attack_arithmetic", "value": round(attack_rate, 1),
                      "unit": "GFLOP/s", "baseline": round(matmul_rate, 1),
                      "ratio": round(attack_rate / matmul_rate, 3), "gflop": found}))


if __name__ == "__main__":
    main()
