"""Square attack (Andriushchenko et al. 2020; ART's implementation): L-inf, untargeted, using
only the network's scores. If it beats PGD at the same budget, the gradients are masked."""

import numpy as np
from art.attacks.evasion import SquareAttack

from attacks.library import art_classifier, predict
from attacks.victims import Victim


class Square:
    """`Square(victim, threshold, epsilon).run(images, labels) -> (adversarials, decisions)`."""

    def __init__(
        self,
        victim: Victim,
        threshold: float | None,
        epsilon: float,
        queries: int = 300,
        batch_size: int = 128,
    ):
        self.classifier = art_classifier(victim, threshold)
        self.batch_size = batch_size
        self.attack = SquareAttack(
            self.classifier,
            norm=np.inf,
            eps=float(epsilon),
            max_iter=queries,
            nb_restarts=1,
            batch_size=batch_size,
            verbose=False,
        )

    def run(self, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Images float (N, 1, 64, 64) on 0..255 and true labels (N,)."""
        adversarials = self.attack.generate(images.astype(np.float32), y=labels)
        return adversarials, predict(self.classifier, adversarials, self.batch_size)
