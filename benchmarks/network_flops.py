"""Floating-point operations per training sample and per attack image-step, counted by PyTorch,
and the rates one device reaches on them: what the `paper` preset's hours are computed from
(results/README.md).

Counts are multiply-adds x 2, forward and backward (FlopCounterMode covers convolutions and
matmuls, which is nearly all of the work here). Rates: each network's training step (forward,
backward and an SGD step, inputs already on the device, so data loading is left out) at the
paper's batch of 128, and the triple-staged attack step at one CPU chunk's 96 trajectories and
at 768. Value: the attack step's GFLOP/s at 96; baseline: a square float32 matmul's GFLOP/s on
the same device, in the same run; the ratio is the share of the device's dense arithmetic the
attack gets. Last line: one JSON object, with every rate in `rates`.

    python benchmarks/network_flops.py [--rounds 3] [--device auto|cpu|cuda]
"""

import argparse
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from mindseye.attacks.victims import TripleStagedVictim
from mindseye.core.constants import TRIPLE_STAGED
from mindseye.models.runs import build_network, resolve_device
from mindseye.models.triple_staged import TripleStaged

CLASSES = 3
TRAIN_BATCH = 128  # the paper's SGD batch
ATTACK_BATCHES = (96, 768)  # 32 sources x 3 targets (the CPU chunk), and 8 times that


def synchronised(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def seconds_per_call(call, rounds: int, device: torch.device) -> float:
    for _ in range(2):  # warm-up: first calls allocate and pick kernels
        call()
    synchronised(device)
    start = time.perf_counter()
    for _ in range(rounds):
        call()
    synchronised(device)
    return (time.perf_counter() - start) / rounds


def gflop_per_sample(step, batch: int) -> float:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / batch / 1e9


def training_inputs(network: str, batch: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    images = torch.rand(batch, 1, 64, 64, device=device) * 255
    classes = torch.arange(batch, device=device) % CLASSES
    if network in ("direct", "direct-param"):
        return (images,)
    if network == "estimator":
        return images, classes
    if network == "projector":
        return torch.rand(batch, 3, device=device) - 0.5, classes
    return images, images, torch.rand(batch, 1, 64, 64, device=device)  # comparator


def training_step(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]):
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9)

    def step():
        optimiser.zero_grad(set_to_none=True)
        outputs = model(*inputs)
        outputs = outputs[0] if isinstance(outputs, tuple) else outputs
        outputs.float().sum().backward()
        optimiser.step()
    return step


def attack_step(victim: TripleStagedVictim, batch: int, device: torch.device):
    images = torch.rand(batch, 1, 64, 64, device=device) * 255
    targets = torch.arange(batch, device=device) % CLASSES

    def step():
        current = images.clone().requires_grad_(True)
        loss = victim.loss(victim.outputs(current), targets).sum()
        torch.autograd.grad(loss, current)
    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    options = parser.parse_args()
    device = resolve_device(options.device)
    torch.manual_seed(0)
    networks = {name: build_network(name, CLASSES).to(device) for name in
                ("direct", "direct-param", "estimator", "projector", "comparator")}
    victim = TripleStagedVictim(TRIPLE_STAGED, TripleStaged(
        networks["estimator"], networks["projector"], networks["comparator"]).eval(), (0.5,))
    rates, gflop = {}, {}
    for name, model in networks.items():
        step = training_step(model.train(), training_inputs(name, TRAIN_BATCH, device))
        gflop[f"{name}_train_sample"] = gflop_per_sample(step, TRAIN_BATCH)
        seconds = seconds_per_call(step, options.rounds, device)
        rates[f"{name}_train_samples_per_s"] = TRAIN_BATCH / seconds
        print(f"{name:13s} train {gflop[f'{name}_train_sample']:.4f} GFLOP/sample, "
              f"{TRAIN_BATCH / seconds:9.0f} samples/s ({1 / seconds:7.1f} steps/s of 128)")
    victim.model.eval()
    for batch in ATTACK_BATCHES:
        step = attack_step(victim, batch, device)
        gflop["triple_staged_attack_image_step"] = gflop_per_sample(step, batch)
        rates[f"attack_image_steps_per_s_at_{batch}"] = batch / seconds_per_call(
            step, options.rounds, device)
        print(f"attack step at {batch:4d} images: "
              f"{rates[f'attack_image_steps_per_s_at_{batch}']:9.0f} image-steps/s")
    side = 4096 if device.type == "cuda" else 2048
    left, right = (torch.rand(side, side, device=device) for _ in range(2))
    matmul_rate = 2 * side**3 / 1e9 / seconds_per_call(lambda: left @ right,
                                                          4 * options.rounds, device)
    attack_rate = gflop["triple_staged_attack_image_step"] * rates[
        f"attack_image_steps_per_s_at_{ATTACK_BATCHES[0]}"]
    where = (torch.cuda.get_device_name() if device.type == "cuda"
             else f"CPU, {torch.get_num_threads()} threads")
    print(f"attack step {attack_rate:.1f} GFLOP/s, matmul {matmul_rate:.1f} GFLOP/s on {where}")
    print(json.dumps({"name": "triple_staged_attack_arithmetic", "value": round(attack_rate, 1),
                      "unit": "GFLOP/s", "baseline": round(matmul_rate, 1),
                      "ratio": round(attack_rate / matmul_rate, 3), "device": where,
                      "gflop": gflop, "rates": {k: round(v, 1) for k, v in rates.items()}}))


if __name__ == "__main__":
    main()
