"""L-inf projected gradient descent at a budget (ART's implementation), untargeted.

A sample is robust at budget eps if the network still decides its true class on the attacked
image; robust accuracy against eps is the curve the report draws.
"""

import numpy as np
from art.attacks.evasion import ProjectedGradientDescent

from mindseye.attacks.library import LibraryAttack
from mindseye.attacks.victims import Victim


class PGD(LibraryAttack):
    """`PGD(victim, threshold, epsilon, iterations).run(images, labels) -> AttackResult`."""

    def __init__(self, victim: Victim, threshold: float | None, epsilon: float,
                 iterations: int = 20, batch_size: int = 128, restarts: int = 1):
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
            batch_size=batch_size,
            verbose=False,
        )
