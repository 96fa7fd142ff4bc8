"""Square attack (Andriushchenko et al. 2020; ART's implementation): L-inf, untargeted, using
only the network's scores. If it beats PGD at the same budget, the gradients are masked."""

import numpy as np
from art.attacks.evasion import SquareAttack

from mindseye.attacks.library import LibraryAttack
from mindseye.attacks.victims import Victim


class Square(LibraryAttack):
    """`Square(victim, threshold, epsilon, queries).run(images, labels) -> AttackResult`."""

    def __init__(self, victim: Victim, threshold: float | None, epsilon: float,
                 queries: int = 300, batch_size: int = 128):
        super().__init__(victim, threshold, epsilon, queries, batch_size)
        self.attack = SquareAttack(
            self.classifier,
            norm=np.inf,
            eps=float(epsilon),
            max_iter=queries,
            nb_restarts=1,
            batch_size=batch_size,
            verbose=False,
        )
