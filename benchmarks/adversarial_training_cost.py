"""What adversarial training costs, as a multiplier over clean training, per network and recipe.

Each network of the medium preset takes the same optimiser steps on the same batches, clean and
with each recipe (fast AT: FGSM from a random start; PGD AT with --adv-steps steps), in
alternating rounds so that load from other processes hits all alike. The multiplier is the
recipe's seconds per step over the clean step's: about 2 for FGSM (one more forward and
backward) and steps + 1 for PGD, unless something else dominates. Batches are random images of
the medium batch size; the cost does not depend on what they show.

Last line: one JSON object, per network the seconds per clean step and each recipe's multiplier.

    python benchmarks/adversarial_training_cost.py [--steps 5] [--rounds 3] [--pgd-steps 7]
        [--networks direct,estimator,comparator] [--threads 2]
"""

import argparse
import json
import time

import torch

from mindseye.models.adversarial import adversarial_loss, recipe
from mindseye.models.jobs import LOSSES
from mindseye.models.runs import build_network
from mindseye.models.settings import schedule_for

EPSILON = 8


def batch_for(network: str, size: int) -> dict:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (size, 1, 64, 64), generator=generator).float()
    labels = torch.randint(0, 3, (size,), generator=generator)
    if network == "comparator":
        return {"query": images, "drawing": images.flip(0),
                "alpha": (images > 128).float() / 1.0, "same": (labels % 2).float()}
    return {"image": images, "label": labels,
            "params": torch.rand((size, 3), generator=generator) - 0.5}


def seconds_per_step(network: str, loss, batch: dict, steps: int) -> float:
    model = build_network(network, 3).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss(model, batch).backward()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        optimiser.zero_grad()
        loss(model, batch).backward()
        optimiser.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pgd-steps", type=int, default=7)
    parser.add_argument("--networks", default="direct,estimator,comparator")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    recipes = {"fgsm": recipe("fgsm", EPSILON, None, None),
               f"pgd-{args.pgd_steps}": recipe("pgd", EPSILON, args.pgd_steps, None)}
    result = {"epsilon": EPSILON, "threads": args.threads, "networks": {}}
    for network in args.networks.split(","):
        batch = batch_for(network, schedule_for("medium", network).batch_size)
        losses = {"clean": LOSSES[network],
                  **{name: adversarial_loss(LOSSES[network], network, training)
                     for name, training in recipes.items()}}
        times: dict[str, list[float]] = {name: [] for name in losses}
        for _ in range(args.rounds):
            for name, loss in losses.items():
                times[name].append(seconds_per_step(network, loss, batch, args.steps))
        best = {name: min(values) for name, values in times.items()}
        result["networks"][network] = {
            "clean_s_per_step": round(best["clean"], 4),
            **{f"{name}_multiplier": round(best[name] / best["clean"], 2) for name in recipes}}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
