"""Images per forward pass on this device: how fast each network answers at each batch size.

An attack's batch size changes its speed and memory, never what it finds (up to float
rounding). Most of the reviewer's suite is forward passes of the triple-staged network in
batches (Square's queries, HopSkipJump's probes) and forward-backward passes (Auto-PGD, FMN,
the paper's attack). On a CPU its activations at a large batch outgrow the caches (its
comparator keeps 64 maps of 55x55 per class and image), so the images per second fall as the
batch grows past a few dozen: the default `attack_batch_size` of the device is chosen from
this benchmark. Untrained networks: the arithmetic is the trained ones'.

Value: the triple-staged network's forward passes per second at this device's default batch
size; baseline: the same at the old default of 128; the ratio is how much faster the default
runs. Last line: one JSON object, with every rate in `rates` (images per second).

    python benchmarks/attack_batch_size.py [--device auto|cpu|cuda] [--threads 1] [--rounds 3]
"""

import argparse
import json
import time

import torch

from mindseye.attacks.settings import attack_batch_size
from mindseye.attacks.victims import DirectVictim, TripleStagedVictim
from mindseye.core.constants import THRESHOLDS
from mindseye.models.runs import build_network, resolve_device
from mindseye.models.triple_staged import TripleStaged

CLASSES = 3
BATCH_SIZES = (4, 8, 16, 32, 64, 128, 256)
OLD_DEFAULT = 128
IMAGES = 256  # images per measurement, in batches of each size


def victims(device: torch.device) -> dict:
    stages = [build_network(name, CLASSES).to(device)
              for name in ("estimator", "projector", "comparator")]
    return {"triple-staged": TripleStagedVictim("triple-staged", TripleStaged(*stages),
                                                THRESHOLDS),
            "direct": DirectVictim("direct", build_network("direct", CLASSES).to(device),
                                   CLASSES)}


def images_per_second(victim, images: torch.Tensor, batch: int, backward: bool,
                      rounds: int, device: torch.device) -> float:
    """The best of `rounds` passes over `images` in batches of `batch` (the least disturbed
    by other work on a shared machine)."""
    def one_pass() -> None:
        for start in range(0, len(images), batch):
            chunk = images[start:start + batch]
            if backward:
                chunk = chunk.clone().requires_grad_(True)
                victim.outputs(chunk).sum().backward()
            else:
                with torch.no_grad():
                    victim.outputs(chunk)
        if device.type == "cuda":
            torch.cuda.synchronize()

    one_pass()  # warm-up: first calls allocate and pick kernels
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        one_pass()
        best = min(best, time.perf_counter() - start)
    return len(images) / best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = resolve_device(args.device)
    images = (torch.rand(IMAGES, 1, 64, 64, device=device) * 255).round()
    images = images.contiguous(memory_format=torch.channels_last)
    rates: dict[str, dict[str, dict[int, float]]] = {}
    built = victims(device)
    for name, victim in built.items():
        for backward in (False, True):
            pass_name = "forward+backward" if backward else "forward"
            row = {batch: round(images_per_second(victim, images, batch, backward,
                                                  args.rounds, device), 1)
                   for batch in BATCH_SIZES}
            rates.setdefault(name, {})[pass_name] = row
            print(f"{name} {pass_name}: " + ", ".join(f"{batch}: {rate}/s"
                                                      for batch, rate in row.items()))
    default = attack_batch_size(built["triple-staged"].model)
    forward = rates["triple-staged"]["forward"]
    value = forward.get(default) or round(images_per_second(
        built["triple-staged"], images, default, False, args.rounds, device), 1)
    print(json.dumps({"name": "attack_batch_size", "device": device.type,
                      "threads": args.threads, "default_batch": default, "value": value,
                      "unit": "triple-staged forward images/s",
                      "baseline": forward[OLD_DEFAULT],
                      "ratio": round(value / forward[OLD_DEFAULT], 2), "rates": rates}))


if __name__ == "__main__":
    main()
