"""Batched iterative FGSM against a per-sample loop, same images and network, one core.

The ratio is image-steps per second batched over per sample, in float32 (what `mindseye attack`
runs). Both runs must give the same per-sample results (steps, success, final images); that is
checked in float32 and float64: float32 kernels round differently at different batch sizes and
sign() can turn a last-bit difference into a different pixel step, float64 makes that vanish.
The network is an untrained Direct with its output bias zeroed, so that its decisions vary and
samples leave the batch at different steps.
Usage: python benchmarks/attack_batching.py [--images 32] [--max-steps 20]
"""

import argparse
import json
import time

import numpy as np
import torch

from mindseye.attacks.ifgsm import IterativeFGSM
from mindseye.attacks.victims import DirectVictim
from mindseye.models.direct import Direct


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
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--max-steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    network = Direct(3)
    with torch.no_grad():
        network.classify.bias.zero_()
    targets = torch.arange(args.images) % 4
    identical, speeds = {}, {}
    for dtype in (torch.float32, torch.float64):
        victim = DirectVictim("direct", network.to(dtype), 3)
        images = smooth_images(args.images, seed=1).to(dtype)
        batched, batched_time = timed(IterativeFGSM(victim, args.max_steps, args.images),
                                      images, targets)
        alone, alone_time = timed(IterativeFGSM(victim, args.max_steps, 1), images, targets)
        name = str(dtype).removeprefix("torch.")
        identical[name] = bool(np.array_equal(batched.steps, alone.steps)
                               and np.array_equal(batched.images, alone.images))
        # Work = forward passes per sample (steps taken, plus the final check).
        image_steps = int((batched.steps + 1).sum())
        speeds[name] = (image_steps / batched_time, image_steps / alone_time)
        print(f"{name}: {args.images} images, {image_steps} image-steps; batched "
              f"{batched_time:.2f} s, per sample {alone_time:.2f} s; identical per-sample "
              f"results: {identical[name]}")
    value, baseline = speeds["float32"]
    print(json.dumps({"name": "attack_batching", "value": round(value, 2),
                      "unit": "image-steps/s", "baseline": round(baseline, 2),
                      "ratio": round(value / baseline, 2),
                      "identical_float32": identical["float32"],
                      "identical_float64": identical["float64"]}))


if __name__ == "__main__":
    main()
