"""L-inf projected gradient descent at a budget (ART's implementation), untargeted: `pgd` at the
run's iterations, and `pgd-ITERATIONSxRESTARTS`, run to convergence.

A sample is robust at budget eps if the network still decides its true class on the attacked
image; robust accuracy against eps is the curve the report draws.
"""

import numpy as np
import torch
from art.attacks.evasion import ProjectedGradientDescent

from mindseye.attacks.base import AttackResult
from mindseye.attacks.library import LibraryAttack
from mindseye.attacks.registry import BUDGETED, AttackSpec, register_attack
from mindseye.attacks.settings import AttackSettings
from mindseye.attacks.victims import Victim


class PGD(LibraryAttack):
    """`PGD(victim, threshold, epsilon, iterations).run(images, labels) -> AttackResult`."""

    def __init__(self, victim: Victim, threshold: float | None, epsilon: float,
                 iterations: int, batch_size: int | None = None, restarts: int = 1):
        super().__init__(victim, threshold, epsilon, iterations, batch_size)
        # Step eps/4 from a random start: reaches any corner of the ball within the iterations.
        # With several restarts ART keeps, per image, the last start that succeeds.
        self.attack = ProjectedGradientDescent(
            self.classifier,
            norm=np.inf,
            eps=float(epsilon),
            eps_step=float(epsilon) / 4,
            max_iter=iterations,
            num_random_init=restarts,
            batch_size=self.batch_size,
            verbose=False,
        )

    def run(self, images: torch.Tensor, targets: torch.Tensor) -> AttackResult:
        if self.attack.num_random_init > 1:
            # ART draws every restart's start inside its loop over batches, so with restarts
            # the draws, and the records, would follow the batch size (the device's): one
            # batch per unit makes them the unit's alone, as they were at the old 128.
            self.attack.set_params(batch_size=len(images))
        return super().run(images, targets)


def build(victim: Victim, threshold: float | None, epsilon: float,
          settings: AttackSettings) -> PGD:
    return PGD(victim, threshold, epsilon, settings.pgd_iterations, settings.batch_size)


PGD_ATTACK = register_attack(AttackSpec(
    name="pgd", kind=BUDGETED, build=build, order=20, in_all=True, curve_style="-o",
    settings=("pgd_iterations",),
    summary="L-inf PGD at each budget (--pgd-iterations) -> robust accuracy against epsilon"))


def converged_spec(iterations: int, restarts: int, order: int) -> AttackSpec:
    """pgd-ITERATIONSxRESTARTS: PGD run to convergence, on the same images and budgets."""

    def build(victim: Victim, threshold: float | None, epsilon: float,
              settings: AttackSettings) -> PGD:
        return PGD(victim, threshold, epsilon, iterations, settings.batch_size, restarts)

    return AttackSpec(
        name=f"pgd-{iterations}x{restarts}", kind=BUDGETED, build=build, order=order,
        summary=f"PGD at {iterations} iterations x {restarts} random starts")


for order, (iterations, restarts) in enumerate(((20, 5), (100, 1), (100, 5), (500, 1), (500, 5)),
                                               start=70):
    register_attack(converged_spec(iterations, restarts, order))
