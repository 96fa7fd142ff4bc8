"""The triple-staged attack: one trajectory for all thresholds against one attack per threshold.

J does not depend on the threshold, so the straightforward way (attack once per threshold)
repeats the same trajectory; sharing it records the first step at which each threshold's
decision reaches the target. Results must be identical (checked in float64: in float32 the
batches differ in size between the two ways, and kernels round differently per batch size, see
benchmarks/attack_batching.py); the ratio, timed in float32, is the straightforward run's time
over the shared one's. Target: >= 2. The gain is sum over thresholds of the steps each needs,
over the largest of them: about 3 when the thresholds need similar steps, near 1 when one
threshold needs far more than the others (as with untrained stages, where @0.7 hits the cap).
The K classes already share one batched pass per stage (TripleStaged.ratios).
Usage: python benchmarks/attack_triple_staged.py [--run RUN] [--images 6] [--max-steps 10]
Without --run the stages are freshly initialised (same cost per step as trained ones).
"""

import argparse
import json
import time

import numpy as np
import torch

from mindseye.attacks.ifgsm import IterativeFGSM
from mindseye.attacks.victims import TripleStagedVictim
from mindseye.core.constants import THRESHOLDS
from mindseye.models.comparator import Comparator
from mindseye.models.estimator import Estimator
from mindseye.models.projector import Projector
from mindseye.models.triple_staged import TripleStaged


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", help="a run folder with trained stages")
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--max-steps", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if args.run:
        from mindseye.models.runs import load_triple_staged

        model = load_triple_staged(args.run)
    else:
        model = TripleStaged(Estimator(3), Projector(3), Comparator()).eval()
    rng = np.random.default_rng(1)
    images = torch.as_tensor(np.rint(rng.uniform(0, 255, (args.images, 1, 64, 64))),
                             dtype=torch.float32)
    targets = torch.arange(args.images) % (model.num_classes + 1)

    timings, identical = {}, {}
    for dtype in (torch.float32, torch.float64):
        model, images = model.to(dtype), images.to(dtype)
        start = time.perf_counter()
        shared = IterativeFGSM(TripleStagedVictim("t", model, THRESHOLDS), args.max_steps).run(
            images, targets)
        shared_time = time.perf_counter() - start
        start = time.perf_counter()
        separate = [IterativeFGSM(TripleStagedVictim("t", model, (threshold,)),
                                  args.max_steps).run(images, targets)
                    for threshold in THRESHOLDS]
        timings[dtype] = (shared_time, time.perf_counter() - start)
        identical[dtype] = all(
            np.array_equal(shared.steps[:, column], result.steps[:, 0])
            and np.array_equal(shared.images[:, column], result.images[:, 0])
            for column, result in enumerate(separate))
    shared_time, separate_time = timings[torch.float32]
    # Work: attack steps delivered, summed over thresholds (the same for both ways).
    image_steps = int(shared.steps.sum() + shared.steps.size)
    value, baseline = image_steps / shared_time, image_steps / separate_time
    print(f"{args.images} images x {len(THRESHOLDS)} thresholds; shared trajectory "
          f"{shared_time:.2f} s, one attack per threshold {separate_time:.2f} s; "
          f"identical results: float32 {identical[torch.float32]}, "
          f"float64 {identical[torch.float64]}; steps per threshold (rows: images):\n"
          f"{shared.steps}")
    print(json.dumps({"name": "attack_triple_staged", "value": round(value, 2),
                      "unit": "threshold-image-steps/s", "baseline": round(baseline, 2),
                      "ratio": round(value / baseline, 2),
                      "identical_float32": identical[torch.float32],
                      "identical_float64": identical[torch.float64]}))


if __name__ == "__main__":
    main()
