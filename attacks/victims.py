"""What an attack sees of a network: its outputs, its decisions and the paper's loss J.

Every classifier takes float images (B, 1, 64, 64) on 0..255 (docs/interfaces.md). A victim adds
the three things an attack needs on top of that: `outputs` (one forward pass), `decisions` read
from those outputs at every threshold the victim carries, and `loss` (the paper's J, per sample).
One forward pass per attack step therefore serves the decisions at all thresholds and the gradient.
A victim freezes its network's weights: attacks want gradients for the images only, and the
backward pass of a network whose weights ask for gradients computes theirs too.

Class indices follow the datasets: positives 0..K-1, None = K.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from mindseye.models.triple_staged import TripleStaged, decide

# Ratios are clamped this far from 0 and 1 before taking logs, so the loss stays finite.
RATIO_EPSILON = 1e-6
# An attack step with a bfloat16 gradient reads the decision off its bfloat16 ratios only where
# they are this far from every threshold and the top two this far apart; elsewhere it asks the
# float32 network. On the trained medium network, bfloat16 ratios differed from float32 ones by
# at most 0.0056 on 108 adversarials (benchmarks/attack_precision.py). A gap beyond the margin
# could delay a stop, or turn a late success into a failure, but never record a wrong success
# (every success is confirmed in float32); at 0.01 the float32
# network is asked on 11% of the image-steps (0.02: 19%, 0.05: 44%), and on 36 medium
# trajectories 0.01 and 0.02 stopped at the same steps.
DECISION_MARGIN = 0.01


@dataclass
class PassCounts:
    """Images a victim's network has been run on (forward) and differentiated for (backward):
    what an attack costs, whoever runs it (our attacks, or a library's through `scores`)."""

    forward: int = 0
    backward: int = 0

    def count(self, images: torch.Tensor) -> torch.Tensor:
        """Count a forward pass on `images`, and the backward pass if one reaches them."""
        self.forward += len(images)
        if images.requires_grad:
            images.register_hook(self._count_backward)
        return images

    def _count_backward(self, gradient: torch.Tensor) -> None:
        self.backward += len(gradient)


class DirectVictim:
    """A direct network: logits (B, K + 1), decision = argmax, J = cross-entropy to the target."""

    def __init__(self, name: str, model: nn.Module, num_classes: int):
        self.name = name
        self.model = model.eval().requires_grad_(False)
        self.num_classes = num_classes
        self.thresholds: tuple[float | None, ...] = (None,)
        self.passes = PassCounts()

    def outputs(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(self.passes.count(images))

    def outputs_and_clipped(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        """The outputs, and None: a direct network has no clip to engage."""
        return self.model(self.passes.count(images)), None

    def decisions(self, outputs: torch.Tensor) -> torch.Tensor:
        """(B, 1): one decision, as the direct networks have no threshold."""
        return outputs.argmax(dim=1, keepdim=True)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, targets, reduction="none")

    def scores(self, images: torch.Tensor, threshold: float | None) -> torch.Tensor:
        """Scores whose argmax is the decision, for library attacks: the logits."""
        return self.model(self.passes.count(images))


class TripleStagedVictim:
    """The triple-staged network: outputs are the K ratios; one decision per threshold.

    J does not depend on the threshold, so one attack trajectory serves every threshold.
    """

    def __init__(self, name: str, model: TripleStaged, thresholds: tuple[float, ...]):
        self.name = name
        self.model = model.eval().requires_grad_(False)
        self.num_classes = model.num_classes
        self.thresholds: tuple[float | None, ...] = tuple(thresholds)
        self.passes = PassCounts()

    def outputs(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.ratios(self.passes.count(images))

    def outputs_and_clipped(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The ratios, and (B,) bool: whether the estimator's clip engaged on any hypothesis."""
        ratios, clipped = self.model.ratios_and_clipped(self.passes.count(images))
        return ratios, clipped.any(dim=1)

    def decisions(self, outputs: torch.Tensor) -> torch.Tensor:
        """(B, T): the decision at each threshold."""
        return torch.stack([decide(outputs, threshold) for threshold in self.thresholds], dim=1)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return ratio_loss(outputs, targets)

    def certain(self, outputs: torch.Tensor, margin: float = DECISION_MARGIN) -> torch.Tensor:
        """(B,) bool: whether ratios known to within `margin` fix the decision at every
        threshold: the best ratio is more than `margin` below each threshold (None), or more
        than `margin` above it and more than twice `margin` above the second best."""
        top = outputs.topk(min(2, outputs.shape[1]), dim=1).values
        best = top[:, 0]
        gap = best - top[:, 1] if top.shape[1] > 1 else torch.full_like(best, float("inf"))
        sure = torch.ones_like(best, dtype=torch.bool)
        for threshold in self.thresholds:
            sure &= (best < threshold - margin) | ((best > threshold + margin) & (gap > 2 * margin))
        return sure

    def scores(self, images: torch.Tensor, threshold: float | None) -> torch.Tensor:
        """Log-odds of `model.scores`: the same argmax, and cross-entropy on them behaves like J
        (raw ratios in 0..1 make a flat softmax and a weak loss for library attacks)."""
        scores = self.model.scores(self.passes.count(images), threshold)
        return torch.logit(scores.clamp(RATIO_EPSILON, 1 - RATIO_EPSILON))


def ratio_loss(ratios: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The paper's J (docs/design.md) on ratios (B, K): to class t,
    -log r_t - sum_{c != t} log(1 - r_c); to None (t = K), -sum_c log(1 - r_c). Per sample (B,)."""
    ratios = ratios.clamp(RATIO_EPSILON, 1 - RATIO_EPSILON)
    num_classes = ratios.shape[1]
    # one_hot over K + 1 columns, dropping None's: a None target pulls every ratio down.
    wanted = F.one_hot(targets, num_classes + 1)[:, :num_classes].to(ratios.dtype)
    return -(wanted * ratios.log() + (1 - wanted) * (1 - ratios).log()).sum(dim=1)


def euclidean_ratio_loss(ratios: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The authors' attack loss on the triple-staged network (Caffe's EuclideanLoss between the
    K ratios and the target vector: one-hot for class t, zeros for None): 1/2 sum_c (r_c -
    y_c)^2, per sample (B,)."""
    num_classes = ratios.shape[1]
    wanted = F.one_hot(targets, num_classes + 1)[:, :num_classes].to(ratios.dtype)
    return 0.5 * ((ratios - wanted) ** 2).sum(dim=1)


Victim = DirectVictim | TripleStagedVictim


class ScoresModule(nn.Module):
    """`victim.scores(images, threshold)` as a module for attack libraries: images (B, 1, 64,
    64) on 0..255 -> (B, K + 1), the last column None's, argmax = the decision."""

    def __init__(self, victim: Victim, threshold: float | None):
        super().__init__()
        self.victim, self.threshold = victim, threshold
        self.network = victim.model  # registered: .to(device) and .parameters() reach it

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.victim.scores(images, self.threshold)


GREY_LEVELS = 255.0  # our networks see 0..255, attack libraries 0..1


def grey_level_roundings(sources: torch.Tensor, found: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """A library's adversarials `found` on whole grey levels, as an 8-bit image holds them, two
    ways: rounded to nearest, and away from the source (a library ends on the boundary, and
    nearest can step back across it). Both stay within an integer L-inf budget of `sources`."""
    change = found - sources
    nearest = (sources + change.round()).clamp(0, 255)
    away = (sources + change.sign() * (change.abs() - 0.01).clamp_min(0).ceil()).clamp(0, 255)
    return nearest, away


class UnitRangeClassifier(ScoresModule):
    """The same scores on images in [0, 1], as torchattacks, foolbox, AutoAttack and ART expect:
    (B, 1, 64, 64) -> (B, K + 1), the last column None's, whose argmax is the network's decision
    (at `threshold` for the triple-staged network). The triple-staged scores are the log-odds of
    its ratios, with the threshold's log-odds as the None column, so that cross-entropy and
    logit margins on them behave like the paper's loss."""

    def __init__(self, victim: Victim, threshold: float | None):
        super().__init__(victim, threshold)
        self.num_classes = victim.num_classes + 1

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return super().forward(images * GREY_LEVELS)
