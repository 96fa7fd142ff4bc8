"""Minimal-norm adversarials: the smallest perturbation that makes the decision the target.

The paper's attack stops at the first flip along one fixed path, so its distortion is an upper
bound on what a false positive or negative needs. Fast Minimum-Norm (Pintor et al. 2021) searches
for the smallest L2 or L-inf perturbation that reaches the target, adapting its norm budget step
by step; foolbox's implementation is used (`L2FMNAttack`, `LInfFMNAttack`). FMN was chosen over
ART's Carlini-Wagner because it gives both norms from one method in about a hundred steps (CW
needs a search over its constant per image), and over DDN because DDN is L2 only.

FMN works on logit margins; the victim's scores are the log-odds of the triple-staged ratios with
the threshold's log-odds as None's column, so the margin is the decision rule itself, threshold
included. On the triple-staged network the estimator's clip is straight-through (BPDA), so that
it hides no gradient; its forward pass is the hard clip's, so the decisions are the network's.
Runs once per threshold; every success is checked on the float32 network.
"""

import os

import numpy as np
import torch

from attacks.base import Attack, AttackResult
from attacks.victims import GREY_LEVELS, UnitRangeClassifier, Victim

NORMS = ("l2", "linf")


class MinimalNorm(Attack):
    """`MinimalNorm(victim, norm, steps).run(images, targets) -> AttackResult` (targeted, one
    column per threshold; `steps` is FMN's steps, whether or not it succeeded)."""

    def __init__(self, victim: Victim, norm: str, steps: int = 100, batch_size: int = 128):
        super().__init__(victim, batch_size)
        if norm not in NORMS:
            raise ValueError(f"norm {norm!r}: choose one of {', '.join(NORMS)}")
        self.norm, self.steps = norm, steps

    def run(self, images: torch.Tensor, targets: torch.Tensor,
            labels: torch.Tensor | None = None) -> AttackResult:
        """`labels` are not needed: FMN aims at the target itself."""
        # foolbox imports GitPython, which fails without a git executable unless told to be quiet.
        os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
        import foolbox

        # L2 steps start at 0.1 (on 0..1; 0.4 grey levels RMS): from foolbox's default 1.0
        # FMN's L2 on our 64x64 images stayed at its first step's norm.
        method = (foolbox.attacks.L2FMNAttack(steps=self.steps, max_stepsize=0.1)
                  if self.norm == "l2" else foolbox.attacks.LInfFMNAttack(steps=self.steps))
        count, thresholds = len(images), len(self.victim.thresholds)
        adversarial = np.zeros((count, thresholds, *images.shape[2:]), np.float32)
        decisions = np.zeros((count, thresholds), np.int64)
        for column, threshold in enumerate(self.victim.thresholds):
            scores = UnitRangeClassifier(self.victim, threshold).eval()
            model = foolbox.PyTorchModel(scores, bounds=(0, 1), device=images.device)
            for start in range(0, count, self.batch_size):
                batch = slice(start, start + self.batch_size)
                unit = images[batch] / GREY_LEVELS
                criterion = foolbox.criteria.TargetedMisclassification(targets[batch])
                found = method.run(model, unit, criterion).detach() * GREY_LEVELS
                grey, decided = whole_grey_levels(scores, images[batch], found, targets[batch])
                adversarial[batch, column] = grey[:, 0].cpu().numpy()
                decisions[batch, column] = decided.cpu().numpy()
        success = decisions == targets.cpu().numpy()[:, None]
        return AttackResult(steps=np.full((count, thresholds), self.steps, np.int64),
                            success=success, images=adversarial,
                            clipped_steps=np.zeros(count, np.int64), decisions=decisions)


def whole_grey_levels(scores: UnitRangeClassifier, sources: torch.Tensor, found: torch.Tensor,
                      targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """FMN's images on whole grey levels, as the data's, and their decisions (`scores`'
    argmax): rounded to nearest where that still reaches the target, else away from the
    source (FMN ends on the boundary, and rounding can step back across it). FMN returns
    the source where it failed."""
    change = found - sources
    nearest = (sources + change.round()).clamp(0, 255)
    away = (sources + change.sign() * (change.abs() - 0.01).clamp_min(0).ceil()).clamp(0, 255)
    with torch.no_grad():
        near_decisions = scores(nearest / GREY_LEVELS).argmax(dim=1)
        away_decisions = scores(away / GREY_LEVELS).argmax(dim=1)
    keep = near_decisions == targets
    grey = torch.where(keep[:, None, None, None], nearest, away)
    return grey, torch.where(keep, near_decisions, away_decisions)
