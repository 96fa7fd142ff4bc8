"""The triple-staged attack with a bfloat16 gradient against today's float32 one, same sources.

The baseline is the attack as it ran before `gradient_precision` existed: float32 throughout,
with the network's weights asking for gradients (the backward pass then computes theirs too).
The contender freezes the weights, as victims now do, and takes each step's forward and backward
pass under bfloat16 autocast, asking the float32 network only where the bfloat16 ratios are
within `DECISION_MARGIN` of another decision (attacks/base.py). The ratio is the float32 run's
time over the bfloat16 run's for the same trajectories' worth of work (image-steps per second);
target >= 2 on 2 CPU cores with AVX512-BF16.

It also says what the records would lose, paired source by source on a trained run:
- how often bfloat16 and float32 agree on success, and the median step ratio where both flip;
- the largest gap between a ratio in bfloat16 and in float32 on the attacked images, against
  DECISION_MARGIN (a gap above it could let a flip go unseen for a step; never a wrong record,
  since every success is confirmed in float32);
- whether every recorded decision is the float32 network's on the recorded image.

Usage: python benchmarks/attack_precision.py --run runs/medium --data data/medium
           [--images 16] [--max-steps 150] [--threads 2]
Without --run the stages are freshly initialised: the timing holds, the paired counts mean
little (untrained ratios hardly move).
"""

import argparse
import json
import time

import numpy as np
import torch

from mindseye.attacks.ifgsm import IterativeFGSM
from mindseye.attacks.victims import DECISION_MARGIN, TripleStagedVictim
from mindseye.core.constants import THRESHOLDS, TRIPLE_STAGED
from mindseye.models.runs import build_network
from mindseye.models.triple_staged import TripleStaged, decide


def sources(args: argparse.Namespace, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Test images (N,1,64,64) and targets: each positive image towards every other label."""
    if args.data:
        from mindseye.dataset.shards import load_split

        test = load_split(args.data, "test", ("image", "label"))
        per_class = max(1, args.images // num_classes)
        rows = np.concatenate([np.flatnonzero(test["label"] == c)[:per_class]
                               for c in range(num_classes)])
        images, labels = test["image"][rows], test["label"][rows]
    else:
        rng = np.random.default_rng(1)
        images = np.rint(rng.uniform(0, 255, (args.images, 64, 64)))
        labels = np.arange(args.images) % num_classes
    pairs = [(row, target) for row in range(len(images)) for target in range(num_classes + 1)
             if target != labels[row]]
    return (torch.as_tensor(images[[row for row, _ in pairs]], dtype=torch.float32)[:, None],
            torch.as_tensor([target for _, target in pairs]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", help="a run folder with trained stages")
    parser.add_argument("--data", help="the run's dataset (test images as sources)")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=150)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.run:
        from mindseye.models.runs import load_triple_staged

        model = load_triple_staged(args.run)
    else:
        model = TripleStaged(build_network("estimator", 3), build_network("projector", 3),
                             build_network("comparator", 3)).eval()
    images, targets = sources(args, model.num_classes)

    baseline = IterativeFGSM(_Unfrozen(model), args.max_steps)
    start = time.perf_counter()
    exact = baseline.run(images, targets)
    exact_time = time.perf_counter() - start
    victim = TripleStagedVictim(TRIPLE_STAGED, model, THRESHOLDS)  # freezes the weights
    start = time.perf_counter()
    fast = IterativeFGSM(victim, args.max_steps, gradient_precision="bfloat16").run(
        images, targets)
    fast_time = time.perf_counter() - start

    # Work: forward passes per (sample, trajectory), i.e. the longest threshold's steps + 1.
    exact_work, fast_work = int((exact.steps.max(1) + 1).sum()), int((fast.steps.max(1) + 1).sum())
    value, base = fast_work / fast_time, exact_work / exact_time
    gaps, checked = [], True
    with torch.no_grad():
        for column, threshold in enumerate(THRESHOLDS):
            adversarial = torch.as_tensor(fast.images[:, column])[:, None]
            ratios = model.ratios(adversarial)
            with torch.autocast("cpu", torch.bfloat16):
                rough = model.ratios(adversarial).float()
            gaps.append(float((rough - ratios).abs().max()))
            checked &= bool(torch.equal(decide(ratios, threshold),
                                        torch.as_tensor(fast.decisions[:, column])))
    both = fast.success & exact.success
    step_ratio = float(np.median(fast.steps[both] / np.maximum(exact.steps[both], 1))
                       ) if both.any() else float("nan")
    print(f"{len(images)} (source, target) pairs x {len(THRESHOLDS)} thresholds, cap "
          f"{args.max_steps}: float32 {exact_time:.1f} s ({base:.2f} image-steps/s), bfloat16 "
          f"{fast_time:.1f} s ({value:.2f}); success agrees on "
          f"{(fast.success == exact.success).mean():.3f} of pairs x thresholds (float32 "
          f"{exact.success.mean():.3f}, bfloat16 "
          f"{fast.success.mean():.3f}); median bfloat16/float32 steps where both flip "
          f"{step_ratio:.3f}; largest ratio gap on the adversarials {max(gaps):.4f} (margin "
          f"{DECISION_MARGIN}); recorded decisions are float32's: {checked}")
    print(json.dumps({"name": "attack_precision", "value": round(value, 2),
                      "unit": "image-steps/s", "baseline": round(base, 2),
                      "ratio": round(value / base, 2), "success_agreement": round(float(
                          (fast.success == exact.success).mean()), 3),
                      "median_step_ratio": round(step_ratio, 3),
                      "largest_ratio_gap": round(max(gaps), 4), "decisions_float32": checked}))


class _Unfrozen(TripleStagedVictim):
    """The victim as it was before victims froze their network's weights."""

    def __init__(self, model: TripleStaged):
        super().__init__(TRIPLE_STAGED, model, THRESHOLDS)
        model.requires_grad_(True)


if __name__ == "__main__":
    main()
