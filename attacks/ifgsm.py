"""The paper's attack: iterative fast gradient sign with unit steps on the 0..255 scale.

x <- clip(x - sign(grad_x J(x, target)), 0, 255), repeated until the decision is the target.
Starting from an 8-bit image, every step keeps the pixels whole numbers. `loss="euclidean"`
follows the authors' code on the triple-staged network instead of J (attacks/settings.py,
`Variant`).
"""

import torch

from mindseye.attacks.base import IterativeAttack
from mindseye.attacks.victims import TripleStagedVictim, euclidean_ratio_loss


class IterativeFGSM(IterativeAttack):
    """Targeted iterative FGSM (paper, section 3.2); `step_size` grey levels per step."""

    def __init__(
        self, victim, max_steps: int = 1000, batch_size: int = 128, step_size: float = 1.0,
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
