"""Bridge to the Adversarial Robustness Toolbox (ART) for the standard budgeted attacks.

ART wraps any torch module that returns scores whose argmax is the decision; `ScoresModule`
makes one from a victim at one threshold. `LibraryAttack` runs an ART evasion attack on it and
returns the same AttackResult as our own attacks. torchattacks was not used: it requires
torchvision, whose PyPI wheel would replace our CPU build of torch.
"""

import numpy as np
import torch
from art.attacks import EvasionAttack
from art.estimators.classification import PyTorchClassifier
from torch import nn

from mindseye.attacks.base import Attack, AttackResult
from mindseye.attacks.victims import ScoresModule, Victim, grey_level_roundings
from mindseye.core.constants import IMAGE_SIZE

IMAGE_SHAPE = (1, IMAGE_SIZE, IMAGE_SIZE)


def art_classifier(victim: Victim, threshold: float | None) -> PyTorchClassifier:
    """An ART classifier on 0..255 images for the victim's decision at `threshold`, on the
    device the victim's network is on."""
    on_gpu = next(victim.model.parameters()).is_cuda
    return PyTorchClassifier(
        model=ScoresModule(victim, threshold).eval(),
        loss=nn.CrossEntropyLoss(),
        input_shape=IMAGE_SHAPE,
        nb_classes=victim.num_classes + 1,
        clip_values=(0.0, 255.0),
        device_type="gpu" if on_gpu else "cpu",
    )


class LibraryAttack(Attack):
    """An untargeted ART attack at one threshold and one L-inf budget. A subclass makes
    `self.attack` from `self.classifier`; `iterations` is what a result's `steps` reports."""

    untargeted = True

    def __init__(self, victim: Victim, threshold: float | None, epsilon: float,
                 iterations: int, batch_size: int | None = None):
        super().__init__(victim, batch_size)
        self.threshold, self.epsilon, self.iterations = threshold, epsilon, iterations
        self.classifier = art_classifier(victim, threshold)
        self.attack: EvasionAttack | None = None

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Decisions (N,) at this attack's threshold for float images (N, 1, 64, 64)."""
        scores = self.classifier.predict(images.astype(np.float32), batch_size=self.batch_size)
        return scores.argmax(axis=1)

    def generate(self, originals: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The library's adversarials for float images (N, 1, 64, 64) and their labels."""
        return self.attack.generate(originals, y=labels)

    def on_grey_levels(self, originals: np.ndarray, adversarials: np.ndarray,
                       labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The library's adversarials on whole grey levels, as an 8-bit image file holds them,
        and their decisions: rounded to nearest, or away from the source where nearest undoes
        the flip. Either stays within an integer budget."""
        nearest, away = (rounded.numpy() for rounded in grey_level_roundings(
            torch.from_numpy(originals), torch.from_numpy(adversarials)))
        near_decisions, away_decisions = self.predict(nearest), self.predict(away)
        use_away = (near_decisions == labels) & (away_decisions != labels)
        return (np.where(use_away[:, None, None, None], away, nearest).astype(np.float32),
                np.where(use_away, away_decisions, near_decisions))

    def run(self, images: torch.Tensor, targets: torch.Tensor) -> AttackResult:
        """Images (N, 1, 64, 64) on 0..255 and their true labels (N,): T = 1 column (this
        attack's threshold); `success` means the decision left the true label."""
        originals = images.detach().cpu().numpy().astype(np.float32)
        labels = targets.cpu().numpy()
        adversarials, decisions = self.on_grey_levels(originals, self.generate(originals, labels),
                                                      labels)
        count = len(originals)
        return AttackResult(
            steps=np.full((count, 1), self.iterations, np.int64),
            success=(decisions != labels)[:, None],
            images=adversarials[:, None, 0],
            clipped_steps=np.zeros(count, np.int64),
            decisions=decisions[:, None],
        )
