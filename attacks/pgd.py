"""L-inf projected gradient descent at a budget (ART's implementation), untargeted.

A sample is robust at budget eps if the network still decides its true class on the attacked
image; robust accuracy against eps is the curve the report draws.
"""

import numpy as np
from art.attacks.evasion import ProjectedGradientDescent

from attacks.library import art_classifier, predict
from attacks.victims import Victim


class PGD:
    """`PGD(victim, threshold, epsilon).run(images, labels) -> (adversarials, decisions)`."""

    def __init__(
        self,
        victim: Victim,
        threshold: float | None,
        epsilon: float,
        iterations: int = 20,
        batch_size: int = 128,
    ):
        self.classifier = art_classifier(victim, threshold)
        self.batch_size = batch_size
        # Step eps/4 with one random start: reaches any corner of the ball within the iterations.
        self.attack = ProjectedGradientDescent(
            self.classifier,
            norm=np.inf,
            eps=float(epsilon),
            eps_step=float(epsilon) / 4,
            max_iter=iterations,
            num_random_init=1,
            batch_size=batch_size,
            verbose=False,
        )

    def run(self, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Images float (N, 1, 64, 64) on 0..255 and true labels (N,)."""
        adversarials = self.attack.generate(images.astype(np.float32), y=labels)
        return adversarials, predict(self.classifier, adversarials, self.batch_size)
