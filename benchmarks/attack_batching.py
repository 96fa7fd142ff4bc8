"""Batched iterative FGSM against a per-sample loop, same images and network, one core.

Both runs must give identical per-sample results (steps, success, final images); the ratio is
image-steps per second batched over per sample. Target: >= 20.
Usage: python benchmarks/attack_batching.py [--images 64] [--max-steps 20]
"""

import argparse
import json
import time

import numpy as np
import torch

from attacks.ifgsm import IterativeFGSM
from attacks.victims import DirectVictim
from models.direct import Direct


def smooth_images(count: int, seed: int) -> torch.Tensor:
    """Blocky random grey images on 0..255, whole numbers like the dataset's."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (count, 8, 8))
    images = np.kron(coarse, np.ones((8, 8))) + rng.normal(0, 8, (count, 64, 64))
    return torch.as_tensor(np.clip(np.rint(images), 0, 255), dtype=torch.float32)[:, None]


def timed(attack: IterativeFGSM, images: torch.Tensor, targets: torch.Tensor):
    start = time.perf_counter()
    result = attack.run(images, targets)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--max-steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    victim = DirectVictim("direct", Direct(3), 3)
    images = smooth_images(args.images, seed=1)
    targets = torch.arange(args.images) % 4
    batched, batched_time = timed(IterativeFGSM(victim, args.max_steps, args.images), images,
                                  targets)
    alone, alone_time = timed(IterativeFGSM(victim, args.max_steps, 1), images, targets)
    identical = bool(np.array_equal(batched.steps, alone.steps)
                     and np.array_equal(batched.images, alone.images))
    # Work = forward passes per sample (steps taken, plus the final check).
    image_steps = int((batched.steps + 1).sum())
    value, baseline = image_steps / batched_time, image_steps / alone_time
    print(f"{args.images} images, {image_steps} image-steps; batched {batched_time:.2f} s, "
          f"per-sample {alone_time:.2f} s; identical results: {identical}")
    print(json.dumps({"name": "attack_batching", "value": round(value, 2),
                      "unit": "image-steps/s", "baseline": round(baseline, 2),
                      "ratio": round(value / baseline, 2), "identical": identical}))


if __name__ == "__main__":
    main()
