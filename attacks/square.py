"""Square attack (Andriushchenko et al. 2020; ART's implementation): L-inf, untargeted, using
only the network's scores. If it beats PGD at the same budget, the gradients are masked.
`square` runs at the run's --square-queries on every image; `square-5000`, AutoAttack's 5000
queries on the images every gradient attack left robust, is our own (attacks/square_search.py:
ART asks the network three times per query)."""

import numpy as np
from art.attacks.evasion import SquareAttack

from mindseye.attacks.library import LibraryAttack
from mindseye.attacks.registry import BUDGETED, AttackSpec, register_attack
from mindseye.attacks.settings import AttackSettings
from mindseye.attacks.victims import Victim


class Square(LibraryAttack):
    """`Square(victim, threshold, epsilon, queries).run(images, labels) -> AttackResult`."""

    def __init__(self, victim: Victim, threshold: float | None, epsilon: float,
                 queries: int, batch_size: int | None = None):
        super().__init__(victim, threshold, epsilon, queries, batch_size)
        self.attack = SquareAttack(
            self.classifier,
            norm=np.inf,
            eps=float(epsilon),
            max_iter=queries,
            nb_restarts=1,
            batch_size=self.batch_size,
            verbose=False,
        )


def build(victim: Victim, threshold: float | None, epsilon: float,
          settings: AttackSettings) -> Square:
    return Square(victim, threshold, epsilon, settings.square_queries, settings.batch_size)


SQUARE_ATTACK = register_attack(AttackSpec(
    name="square", kind=BUDGETED, build=build, order=30, in_all=True, gradient=False,
    curve_style="--s", settings=("square_queries",),
    summary="gradient-free Square attack at the same budgets (--square-queries; reveals "
            "gradient masking)"))
