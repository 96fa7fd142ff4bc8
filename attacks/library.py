"""Bridge to the Adversarial Robustness Toolbox (ART) for the standard budgeted attacks.

ART wraps any torch module that returns scores whose argmax is the decision; `ScoresModule`
makes one from a victim at one threshold. torchattacks was not used: it requires torchvision,
whose PyPI wheel would replace our CPU build of torch.
"""

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier
from torch import nn

from attacks.victims import Victim

IMAGE_SHAPE = (1, 64, 64)


class ScoresModule(nn.Module):
    """`victim.scores(images, threshold)` as a module: (B, K + 1), argmax = decision."""

    def __init__(self, victim: Victim, threshold: float | None):
        super().__init__()
        self.victim, self.threshold = victim, threshold
        self.network = victim.model  # registered, so ART moves it to its device

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.victim.scores(images, self.threshold)


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


def predict(classifier: PyTorchClassifier, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Decisions (N,) for float images (N, 1, 64, 64)."""
    return classifier.predict(images.astype(np.float32), batch_size=batch_size).argmax(axis=1)
