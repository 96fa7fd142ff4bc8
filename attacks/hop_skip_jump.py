"""HopSkipJump (Chen, Jordan and Wainwright 2020; ART's implementation): what an attacker who
sees only the decision can do. It walks along the decision boundary, estimating the boundary's
normal from the answers to random probes, and shrinks the L-inf distance to the source. One run
gives the smallest distance it found per image, so robust accuracy at every budget follows from
it (an image is broken at budget eps if the found adversarial lies within eps)."""

import numpy as np
import torch
from art.attacks.evasion import HopSkipJump

from mindseye.attacks.base import AttackResult
from mindseye.attacks.library import LibraryAttack
from mindseye.attacks.registry import BUDGETED, AttackSpec, register_attack
from mindseye.attacks.settings import BATCH_SIZE, AttackSettings
from mindseye.attacks.victims import Victim


class DecisionOnly(LibraryAttack):
    """`DecisionOnly(victim, threshold, iterations, evaluations).run(images, labels)`: untargeted
    HopSkipJump on the thresholded decision; `images` is the closest adversarial found (the
    source where none was), `success` whether one was found at any distance."""

    def __init__(self, victim: Victim, threshold: float | None, iterations: int,
                 evaluations: int, batch_size: int = BATCH_SIZE):
        super().__init__(victim, threshold, float("inf"), iterations, batch_size)
        self.attack = HopSkipJump(self.classifier, targeted=False, norm=np.inf,
                                  max_iter=iterations, max_eval=evaluations,
                                  init_eval=min(100, evaluations),
                                  batch_size=batch_size, verbose=False)

    def run(self, images: torch.Tensor, targets: torch.Tensor) -> AttackResult:
        result = super().run(images, targets)
        # Where HopSkipJump found nothing it returns its input (or a failed probe): keep the
        # source there, so that no distance is claimed for it.
        sources = images.detach().cpu().numpy()[:, 0].astype(np.float32)
        failed = ~result.success[:, 0]
        if failed.any():
            result.images[failed, 0] = sources[failed]
            result.decisions[failed, 0] = self.predict(sources[failed][:, None])
        return result


def build(victim: Victim, threshold: float | None, epsilon: float | None,
          settings: AttackSettings) -> DecisionOnly:
    """HopSkipJump has no budget: one run per threshold, and its distance decides each."""
    return DecisionOnly(victim, threshold, settings.hsj_iterations, settings.hsj_evaluations,
                        settings.batch_size)


HSJ_ATTACK = register_attack(AttackSpec(
    name="hsj", kind=BUDGETED, build=build, order=80, gradient=False,
    one_run_for_all_budgets=True, per_class_setting="hsj_per_class",
    summary="HopSkipJump on the decision alone (--hsj-iterations, --hsj-evaluations, "
            "--hsj-per-class); its distance decides every budget"))
