"""Auto-PGD (Croce and Hein 2020; ART's implementation): L-inf PGD with a step size it adapts
itself and momentum, run until it stops improving, with the cross-entropy or the
difference-of-logits-ratio (DLR) loss; untargeted, or targeted at every other label in turn
(robust only if no target is reached). AutoAttack's APGD-T aims at the top 9 labels with a
targeted DLR loss; ART's targeted DLR keeps the untargeted formula, and we have at most 4
labels, so every other label is tried."""

import numpy as np
import torch
from art.attacks.evasion import AutoProjectedGradientDescent

from mindseye.attacks.base import AttackResult
from mindseye.attacks.library import LibraryAttack
from mindseye.attacks.registry import BUDGETED, AttackSpec, register_attack
from mindseye.attacks.settings import BATCH_SIZE, AttackSettings
from mindseye.attacks.victims import Victim

APGD_LOSSES = {"ce": "cross_entropy", "dlr": "difference_logits_ratio"}
APGD_ITERATIONS = 100  # AutoAttack's standard version


class APGD(LibraryAttack):
    """`APGD(victim, threshold, epsilon, iterations, loss="ce"|"dlr", targeted=False)
    .run(images, labels) -> AttackResult` (one column; `success`: the decision left the label)."""

    def __init__(self, victim: Victim, threshold: float | None, epsilon: float,
                 iterations: int = APGD_ITERATIONS, batch_size: int = BATCH_SIZE,
                 loss: str = "ce", targeted: bool = False):
        super().__init__(victim, threshold, epsilon, iterations, batch_size)
        self.targeted = targeted
        self.attack = AutoProjectedGradientDescent(
            self.classifier, norm=np.inf, eps=float(epsilon), eps_step=2 * float(epsilon),
            max_iter=iterations, targeted=targeted, nb_random_init=1, batch_size=batch_size,
            loss_type=APGD_LOSSES[loss], verbose=False)

    def run(self, images: torch.Tensor, targets: torch.Tensor) -> AttackResult:
        if not self.targeted:
            return super().run(images, targets)
        originals = images.detach().cpu().numpy().astype(np.float32)
        labels = targets.cpu().numpy()
        worst = originals.copy()
        decisions = self.predict(originals)
        for shift in range(1, self.victim.num_classes + 1):  # every other label, in turn
            aims = (labels + shift) % (self.victim.num_classes + 1)
            still = decisions == labels
            if not still.any():
                break
            found, found_decisions = self.on_grey_levels(
                originals[still], self.attack.generate(originals[still], y=np.eye(
                    self.victim.num_classes + 1, dtype=np.float32)[aims[still]]), labels[still])
            flipped = found_decisions != labels[still]
            rows = np.flatnonzero(still)[flipped]
            worst[rows], decisions[rows] = found[flipped], found_decisions[flipped]
        count = len(originals)
        return AttackResult(steps=np.full((count, 1), self.iterations, np.int64),
                            success=(decisions != labels)[:, None], images=worst[:, None, 0],
                            clipped_steps=np.zeros(count, np.int64), decisions=decisions[:, None])


def apgd_spec(loss: str, targeted: bool, order: int) -> AttackSpec:
    """apgd-LOSS, or apgd-LOSS-targeted (every other label in turn)."""

    def build(victim: Victim, threshold: float | None, epsilon: float,
              settings: AttackSettings) -> APGD:
        return APGD(victim, threshold, epsilon, APGD_ITERATIONS, settings.batch_size, loss,
                    targeted=targeted)

    return AttackSpec(
        name=f"apgd-{loss}" + ("-targeted" if targeted else ""), kind=BUDGETED, build=build,
        order=order,
        summary=f"Auto-PGD (ART) with the {loss.upper()} loss, "
                + ("aimed at every other label in turn" if targeted else "untargeted"))


for order, (loss, targeted) in enumerate(
        (("ce", False), ("dlr", False), ("ce", True), ("dlr", True)), start=75):
    register_attack(apgd_spec(loss, targeted, order))
