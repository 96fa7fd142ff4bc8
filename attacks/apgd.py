"""Auto-PGD (Croce and Hein 2020), L-inf: PGD with momentum and a step size it adapts itself,
with the cross-entropy or the difference-of-logits-ratio (DLR) loss; untargeted, or aimed at
every other label in turn (robust only if no target is reached: AutoAttack's APGD-T aims at
the top 9 labels, and we have at most 4).

Written here rather than taken from ART, for what a cascade needs:
- the gradient may be taken in bfloat16 (`gradient_precision`, the triple-staged network only)
  while every decision and recorded number is the float32 network's, as in the paper's attack;
- each image stops at its first success, and an image that never flips returns its best
  iterate (the highest loss seen), not its last;
- each image's random start comes from its own pixels and the attack's settings, never from
  the batch it runs in: an image gets the same attack alone, in any batch or after a resume.
The schedule is the paper's: step 2 eps, momentum 0.75, checkpoints at 0, 22%, ... of the
iterations where the step is halved (and the run restarted from the best point) when fewer than
75% of the steps since the last checkpoint raised the loss, or when neither the step nor the
best loss changed since then.
"""

import math
import zlib

import numpy as np
import torch
from torch.nn import functional as F

from mindseye.attacks.base import AttackResult, ThresholdAttack
from mindseye.attacks.registry import BUDGETED, AttackSpec, register_attack
from mindseye.attacks.settings import GRADIENT_PRECISIONS, AttackSettings
from mindseye.attacks.victims import TripleStagedVictim, Victim, grey_level_roundings

APGD_LOSSES = ("ce", "dlr")
APGD_ITERATIONS = 100  # AutoAttack's standard version
MOMENTUM = 0.75
SUCCESS_SHARE = 0.75  # rho: the share of improving steps below which the step is halved


def checkpoints(iterations: int) -> list[int]:
    """The iterations at which the step size is reconsidered: p_0 = 0, p_1 = 0.22,
    p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), times the iterations."""
    shares = [0.0, 0.22]
    while shares[-1] < 1:
        shares.append(shares[-1] + max(shares[-1] - shares[-2] - 0.03, 0.06))
    return sorted({math.ceil(share * iterations) for share in shares if share < 1})[1:]


class APGD(ThresholdAttack):
    """`APGD(victim, threshold, epsilon, iterations, loss="ce"|"dlr", targeted=False,
    gradient_precision="float32").run(images, labels) -> AttackResult` (one column, this
    attack's threshold; `success`: the decision left the label)."""

    def __init__(self, victim: Victim, threshold: float | None, epsilon: float,
                 iterations: int = APGD_ITERATIONS, batch_size: int | None = None,
                 loss: str = "ce", targeted: bool = False, gradient_precision: str = "float32"):
        super().__init__(victim, threshold, batch_size)
        if loss not in APGD_LOSSES or gradient_precision not in GRADIENT_PRECISIONS:
            raise ValueError(f"loss {loss!r} (one of {APGD_LOSSES}), gradient_precision "
                             f"{gradient_precision!r} (one of {GRADIENT_PRECISIONS})")
        self.epsilon, self.iterations = float(epsilon), iterations
        self.loss_name, self.targeted = loss, targeted
        self.low_precision = (gradient_precision == "bfloat16"
                              and isinstance(victim, TripleStagedVictim))

    def run(self, images: torch.Tensor, labels: torch.Tensor) -> AttackResult:
        originals = images.detach().float()
        labels = labels.to(originals.device)
        found = originals.clone()
        decisions = self.decide(originals)
        for shift in range(1, self.victim.num_classes + 1) if self.targeted else (None,):
            still = (decisions == labels).nonzero()[:, 0]
            if not len(still):
                break
            labels_count = self.victim.num_classes + 1
            aims = None if shift is None else (labels[still] + shift) % labels_count
            for start in range(0, len(still), self.batch_size):
                rows = still[start:start + self.batch_size]
                batch_aims = None if aims is None else aims[start:start + self.batch_size]
                found[rows], decisions[rows] = self._attack(originals[rows], labels[rows],
                                                            batch_aims)
        count = len(originals)
        decided = decisions.cpu().numpy()
        truth = labels.cpu().numpy()
        return AttackResult(steps=np.full((count, 1), self.iterations, np.int64),
                            success=(decided != truth)[:, None],
                            images=found[:, 0].cpu().numpy()[:, None],
                            clipped_steps=np.zeros(count, np.int64), decisions=decided[:, None])

    def _scores(self, images: torch.Tensor) -> torch.Tensor:
        with torch.autocast(images.device.type, torch.bfloat16, enabled=self.low_precision):
            return self.victim.scores(images, self.threshold).float()

    def _objective(self, scores: torch.Tensor, labels: torch.Tensor,
                   aims: torch.Tensor | None) -> torch.Tensor:
        """Per image, the loss to raise."""
        if self.loss_name == "ce":
            return F.cross_entropy(scores, labels if aims is None else aims, reduction="none") * (
                1 if aims is None else -1)
        ordered = scores.sort(dim=1, descending=True).values
        own = scores.gather(1, labels[:, None])[:, 0]
        if aims is None:
            others = scores.scatter(1, labels[:, None], -math.inf).max(dim=1).values
            return -(own - others) / (ordered[:, 0] - ordered[:, 2] + 1e-12)
        aimed = scores.gather(1, aims[:, None])[:, 0]
        return -(own - aimed) / (ordered[:, 0] - (ordered[:, 2] + ordered[:, 3]) / 2 + 1e-12)

    def _random_start(self, originals: torch.Tensor) -> torch.Tensor:
        """Uniform in the ball, drawn from each image's own pixels and this attack's settings."""
        setting = f"{self.epsilon}-{self.loss_name}-{self.targeted}-{self.threshold}".encode()
        noise = []
        for image in originals.cpu().numpy():
            seed = zlib.crc32(image.astype(np.float32).tobytes(), zlib.crc32(setting))
            noise.append(np.random.default_rng(seed).uniform(-1, 1, image.shape))
        noise = torch.as_tensor(np.stack(noise), dtype=originals.dtype, device=originals.device)
        return (originals + self.epsilon * noise).clamp(0, 255)

    def _project(self, images: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
        low = (originals - self.epsilon).clamp_min(0)
        high = (originals + self.epsilon).clamp_max(255)
        return torch.maximum(torch.minimum(images, high), low)

    def _flipped(self, candidates: torch.Tensor, originals: torch.Tensor,
                 labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Candidates on whole grey levels (nearest, or away from the source where nearest undoes
        the flip), and their float32 decisions."""
        nearest, away = grey_level_roundings(originals, candidates)
        near_decisions, away_decisions = self.decide(nearest), self.decide(away)
        use_away = (near_decisions == labels) & (away_decisions != labels)
        return (torch.where(use_away[:, None, None, None], away, nearest),
                torch.where(use_away, away_decisions, near_decisions))

    def _attack(self, originals: torch.Tensor, labels: torch.Tensor,
                aims: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch: (images on whole grey levels, float32 decisions)."""
        count = len(originals)
        result = originals.clone()
        decisions = labels.clone()
        done = torch.zeros(count, dtype=torch.bool, device=originals.device)
        step = torch.full((count,), 2 * self.epsilon, device=originals.device)
        current = self._random_start(originals)
        previous = current.clone()
        best, best_loss = current.clone(), torch.full((count,), -math.inf, device=current.device)
        best_gradient = torch.zeros_like(current)
        improved = torch.zeros(count, device=current.device)
        last_loss = torch.full((count,), -math.inf, device=current.device)
        marks = checkpoints(self.iterations)
        mark_step, mark_best = step.clone(), best_loss.clone()
        last_mark = 0
        for iteration in range(self.iterations + 1):
            active = (~done).nonzero()[:, 0]
            if not len(active):
                break
            x = current[active].requires_grad_(True)
            scores = self._scores(x)
            loss = self._objective(scores, labels[active], None if aims is None else aims[active])
            # A flip on the continuous iterate is confirmed on whole grey levels in float32.
            flipping = (scores.detach().argmax(dim=1) != labels[active]).nonzero()[:, 0]
            if len(flipping):
                rows = active[flipping]
                rounded, decided = self._flipped(current[rows], originals[rows], labels[rows])
                confirmed = decided != labels[rows]
                result[rows[confirmed]], decisions[rows[confirmed]] = (rounded[confirmed],
                                                                       decided[confirmed])
                done[rows[confirmed]] = True
            gradient = (torch.autograd.grad(loss.sum(), x)[0] if iteration < self.iterations
                        else None)
            # The best iterate so far (the highest loss) with its gradient, and the steps that
            # raised the loss.
            detached = loss.detach()
            better = detached > best_loss[active]
            rows = active[better]
            best[rows], best_loss[rows] = current[rows], detached[better]
            if gradient is not None:
                best_gradient[rows] = gradient[better]
            improved[active] += (detached > last_loss[active]).float()
            last_loss[active] = detached
            if gradient is None:
                break
            if iteration in marks:
                # Halve the step where too few steps improved, or nothing changed, since the
                # last checkpoint; those images go on from their best point.
                halve = (improved < SUCCESS_SHARE * (iteration - last_mark)) | (
                    (mark_step == step) & (mark_best == best_loss))
                mark_step, mark_best, last_mark = step.clone(), best_loss.clone(), iteration
                step[halve] /= 2
                improved.zero_()
                restart = halve[active]
                current[active[restart]] = best[active[restart]]
                gradient[restart] = best_gradient[active[restart]]
            here = current[active]
            moved = self._project(here + step[active, None, None, None] * gradient.sign(),
                                  originals[active])
            weight = 1.0 if iteration == 0 else MOMENTUM
            following = self._project(here + weight * (moved - here)
                                      + (1 - weight) * (here - previous[active]),
                                      originals[active])
            previous[active] = here
            current[active] = following
        # An image that never flipped ends at its best iterate.
        left = (~done).nonzero()[:, 0]
        if len(left):
            result[left], decisions[left] = self._flipped(best[left], originals[left], labels[left])
        return result, decisions


def apgd_spec(loss: str, targeted: bool, order: int) -> AttackSpec:
    """apgd-LOSS, or apgd-LOSS-targeted (every other label in turn)."""

    def build(victim: Victim, threshold: float | None, epsilon: float,
              settings: AttackSettings) -> APGD:
        return APGD(victim, threshold, epsilon, APGD_ITERATIONS, settings.batch_size, loss,
                    targeted=targeted, gradient_precision=settings.gradient_precision)

    return AttackSpec(
        name=f"apgd-{loss}" + ("-targeted" if targeted else ""), kind=BUDGETED, build=build,
        order=order, settings=("gradient_precision",),
        summary=f"Auto-PGD with the {loss.upper()} loss, "
                + ("aimed at every other label in turn" if targeted else "untargeted")
                + " (bfloat16 gradients with --gradient-precision; best iterate kept)")


APGD_CE_ATTACK, APGD_DLR_ATTACK, APGD_CE_TARGETED_ATTACK, APGD_DLR_TARGETED_ATTACK = (
    register_attack(apgd_spec(loss, targeted, order)) for order, (loss, targeted) in enumerate(
        (("ce", False), ("dlr", False), ("ce", True), ("dlr", True)), start=75))
