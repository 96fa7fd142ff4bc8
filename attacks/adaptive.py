"""An attack aimed at the decision rule itself, threshold included (a reviewer's adaptive attack).

The paper's J pulls ratios towards 0 or 1 everywhere; the decision only needs the target's ratio
over the threshold (and above the others), or, for None, every ratio under it. A hinge on exactly
those margins spends each step on the constraints that are still violated. The steps are the
paper's (unit signed steps, clipped to 0..255), so the step counts compare with its attack.
Direct networks get the same idea on logits (Carlini-Wagner's margin). On the triple-staged
network it runs with the straight-through clip (attacks/experiments.py), as BPDA does, so that
the estimator's clip hides nothing from it.
"""

import torch

from mindseye.attacks.ifgsm import IterativeFGSM
from mindseye.attacks.registry import TARGETED, AttackSpec, register_attack
from mindseye.attacks.settings import AttackSettings
from mindseye.attacks.victims import TripleStagedVictim, Victim

# How far past the decision boundary the hinge pushes (ratio units for the triple-staged network).
MARGIN = 0.01


class AdaptiveMargin(IterativeFGSM):
    """Needs a triple-staged victim with exactly one threshold: the loss depends on it."""

    def __init__(
        self, victim, max_steps: int, batch_size: int | None = None, margin: float = MARGIN,
        gradient_precision: str = "float32",
    ):
        if isinstance(victim, TripleStagedVictim) and len(victim.thresholds) != 1:
            raise ValueError("the adaptive attack depends on the threshold: give the victim one")
        super().__init__(victim, max_steps, batch_size, gradient_precision=gradient_precision)
        self.margin = margin

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if isinstance(self.victim, TripleStagedVictim):
            return threshold_margin_loss(outputs, targets, self.victim.thresholds[0], self.margin)
        return logit_margin_loss(outputs, targets, self.margin)


def threshold_margin_loss(
    ratios: torch.Tensor, targets: torch.Tensor, threshold: float, margin: float
) -> torch.Tensor:
    """To class t: relu(threshold + m - r_t) + sum_{c != t} relu(r_c - r_t + m);
    to None (t = K): sum_c relu(r_c - threshold + m). Zero exactly when the decision is t with
    margin m to spare. Per sample (B,)."""
    num_classes = ratios.shape[1]
    to_none = targets == num_classes
    target_column = targets.clamp(max=num_classes - 1)[:, None]
    target_ratio = ratios.gather(1, target_column)
    others = torch.ones_like(ratios, dtype=torch.bool).scatter(1, target_column, False)
    to_class = (threshold + margin - target_ratio[:, 0]).relu() + (
        (ratios - target_ratio + margin).relu() * others
    ).sum(dim=1)
    below = (ratios - threshold + margin).relu().sum(dim=1)
    return torch.where(to_none, below, to_class)


def logit_margin_loss(logits: torch.Tensor, targets: torch.Tensor, margin: float) -> torch.Tensor:
    """relu(max_{c != t} z_c - z_t + m), per sample."""
    target_logit = logits.gather(1, targets[:, None])[:, 0]
    others = logits.scatter(1, targets[:, None], float("-inf"))
    return (others.max(dim=1).values - target_logit + margin).relu()


def build(victim: Victim, settings: AttackSettings, variant: object = None) -> AdaptiveMargin:
    return AdaptiveMargin(victim, max_steps=settings.max_steps, batch_size=settings.batch_size,
                          gradient_precision=settings.gradient_precision)


register_attack(AttackSpec(
    name="adaptive", kind=TARGETED, build=build, order=40, in_all=True, clip="straight_through",
    per_threshold=True, counts_clip=True, settings=("gradient_precision",),
    claim="adaptive attack (margin loss and straight-through clip)",
    summary="margin loss on the threshold itself, with the straight-through clip"))
