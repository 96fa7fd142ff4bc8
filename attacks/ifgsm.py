"""The paper's attack: iterative fast gradient sign with unit steps on the 0..255 scale.

x <- clip(x - sign(grad_x J(x, target)), 0, 255), repeated until the decision is the target.
Starting from an 8-bit image, every step keeps the pixels whole numbers. It can be run as the
authors' code ran it, or anything between (`Variant`): each way writes its own table.
"""

from dataclasses import dataclass

import torch

from mindseye.attacks.base import IterativeAttack
from mindseye.attacks.registry import PAPER_IMAGES, TARGETED, AttackSpec, register_attack
from mindseye.attacks.settings import AttackSettings
from mindseye.attacks.victims import TripleStagedVictim, Victim, euclidean_ratio_loss


class IterativeFGSM(IterativeAttack):
    """Targeted iterative FGSM (paper, section 3.2); `step_size` grey levels per step.
    `loss="euclidean"` follows the authors' code on the triple-staged network instead of J."""

    def __init__(
        self, victim, max_steps: int, batch_size: int | None = None, step_size: float = 1.0,
        stop_at: str = "target", loss: str = "log", gradient_precision: str = "float32",
    ):
        super().__init__(victim, max_steps, batch_size, stop_at, gradient_precision)
        self.step_size = step_size
        self.loss_name = loss

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "euclidean" and isinstance(self.victim, TripleStagedVictim):
            return euclidean_ratio_loss(outputs, targets)
        return super().loss(outputs, targets)

    def step(
        self, images: torch.Tensor, gradients: torch.Tensor, originals: torch.Tensor
    ) -> torch.Tensor:
        return (images - self.step_size * gradients.sign()).clamp(0, 255)


@dataclass(frozen=True)
class Variant:
    """How the paper's attack is run: ours by default, or as the authors' code ran it
    (github.com/hberntsen/resisting-adversarials, collect_adv_results.py), or anything between.

    - stop_at: a false positive stops at its `target` (ours), or at `any-other` positive class
      than the source (theirs: the loop runs while the decision is the source or None);
    - loss (triple-staged network): `log`, -log r_t - sum log(1 - r_c) (ours), or `euclidean`,
      the squared distance between the ratios and the target vector (theirs: one-hot for a
      false positive, zeros for a false negative);
    - clip: the estimator's clip at attack time: `hard` (ours), `none` (theirs: the merged
      network has no clip layer) or `straight_through`;
    - max_steps: the step cap, None for the run's (theirs: 10000).
    """

    stop_at: str = "target"
    loss: str = "log"
    clip: str = "hard"
    max_steps: int | None = None

    def table(self) -> str:
        """The attack table of this variant: `ifgsm` for ours, `ifgsm+original` for the
        authors', else `ifgsm+` and what differs, e.g. `ifgsm+stop-any-other`."""
        if self == OURS:
            return PAPER_ATTACK.name
        if self == ORIGINAL:
            return f"{PAPER_ATTACK.name}+original"
        parts = [f"stop-{self.stop_at}" if self.stop_at != "target" else "",
                 f"loss-{self.loss}" if self.loss != "log" else "",
                 f"clip-{self.clip.replace('_', '-')}" if self.clip != "hard" else "",
                 f"cap-{self.max_steps}" if self.max_steps is not None else ""]
        return f"{PAPER_ATTACK.name}+" + "+".join(part for part in parts if part)


STOP_RULES = ("target", "any-other")
ATTACK_LOSSES = ("log", "euclidean")
OURS = Variant()
ORIGINAL = Variant(stop_at="any-other", loss="euclidean", clip="none", max_steps=10_000)


def without_clip(table: str) -> bool:
    """Whether `table` holds the paper's attack run without the estimator's clip: on the
    triple-staged network that attacked another network than the one the report is about."""
    return (variant_of_table(table) or OURS).clip == "none"


def variant_of_table(table: str) -> Variant | None:
    """The Variant whose records live in `table` (None for a table that is not the paper's
    attack's)."""
    if table == OURS.table():
        return OURS
    if table == ORIGINAL.table():
        return ORIGINAL
    if not table.startswith(f"{PAPER_ATTACK.name}+"):
        return None
    values: dict = {}
    for part in table.removeprefix(f"{PAPER_ATTACK.name}+").split("+"):
        key, _, value = part.partition("-")
        if key == "stop":
            values["stop_at"] = value
        elif key == "loss":
            values["loss"] = value
        elif key == "clip":
            values["clip"] = value.replace("-", "_")
        elif key == "cap":
            values["max_steps"] = int(value)
    return Variant(**values)


def build(victim: Victim, settings: AttackSettings, variant: Variant = OURS) -> IterativeFGSM:
    return IterativeFGSM(victim, max_steps=variant.max_steps or settings.max_steps,
                         batch_size=settings.batch_size, stop_at=variant.stop_at,
                         loss=variant.loss, gradient_precision=settings.gradient_precision)


PAPER_ATTACK = register_attack(AttackSpec(
    name="ifgsm", kind=TARGETED, build=build, order=0, in_all=True, images=PAPER_IMAGES,
    variants=True, paired_by=None, counts_clip=True, settings=("gradient_precision",),
    summary="the paper's attack: unit signed steps until the decision is the target"))
