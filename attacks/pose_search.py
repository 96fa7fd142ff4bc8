"""An attack built for analysis by synthesis: show the network the pose at which the target fits.

The triple-staged network accepts class t when its drawing of t, at the pose its estimator reads
from the image, matches the image patch by patch. So a false positive needs two things: a pose
at which t's drawing already resembles the source image, and an image from which the estimator
reads that pose. The attack first searches the pose (`best_poses`: a grid over the three angles,
then gradient ascent on the ratio, both through the projector and comparator alone), then takes
the paper's unit signed steps on a loss with both parts: the paper's J on the ratios (with the
straight-through clip) plus POSE_WEIGHT times the squared distance between the estimator's
angles for t and the searched pose. A false negative has no pose to aim at: its steps are
BPDA's. Steps, distortion and success pair with the paper's attack source by source.
"""

import itertools

import torch

from mindseye.attacks.ifgsm import IterativeFGSM
from mindseye.attacks.registry import TARGETED, AttackSpec, register_attack
from mindseye.attacks.settings import AttackSettings
from mindseye.attacks.victims import DECISION_MARGIN, TripleStagedVictim, ratio_loss
from mindseye.core.constants import ROTATION_LIMIT, TRIPLE_STAGED
from mindseye.models.estimator import engages_clip
from mindseye.models.triple_staged import TripleStaged

# Angles per axis in the grid (5^3 = 125 drawings per image), and gradient steps after it.
POSE_GRID = 5
POSE_REFINE_STEPS = 30
POSE_REFINE_RATE = 0.02  # radians per Adam step
# The pose term's weight against J: a 0.3 rad miss on every angle costs about what a ratio of
# 0.07 costs in J's -log r_t.
POSE_WEIGHT = 10.0


def best_poses(model: TripleStaged, images: torch.Tensor, classes: torch.Tensor,
               grid: int = POSE_GRID, refine_steps: int = POSE_REFINE_STEPS
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """For images (N,1,64,64) on 0..255 and classes (N,): the angles (N, 3) within the sampled
    range at which class c's drawing has the highest ratio in the image, and that ratio (N,)."""
    values = torch.linspace(-ROTATION_LIMIT, ROTATION_LIMIT, grid, device=images.device)
    candidates = torch.tensor(list(itertools.product(values.tolist(), repeat=3)),
                              device=images.device)
    poses, ratios = [], []
    with torch.no_grad():
        for image, wanted in zip(images, classes, strict=True):
            many = image[None].expand(len(candidates), -1, -1, -1)
            found = model.ratio_at(many, candidates, wanted.expand(len(candidates)))
            poses.append(candidates[found.argmax()])
            ratios.append(found.max())
    start, start_ratio = torch.stack(poses), torch.stack(ratios)
    # Refine every image's pose at once; keep the refined one only where it fits better.
    angles = start.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([angles], lr=POSE_REFINE_RATE)
    for _ in range(refine_steps):
        optimiser.zero_grad()
        (-model.ratio_at(images, angles, classes).sum()).backward()
        optimiser.step()
        with torch.no_grad():
            angles.clamp_(-ROTATION_LIMIT, ROTATION_LIMIT)
    with torch.no_grad():
        refined_ratio = model.ratio_at(images, angles, classes)
    better = refined_ratio > start_ratio
    return (torch.where(better[:, None], angles.detach(), start),
            torch.where(better, refined_ratio, start_ratio))


class _AnglesToo(TripleStagedVictim):
    """The victim with the estimator's angles (before the clip) after the K ratios in its
    outputs, (B, K + 3K), so that the pose term needs no second pass; decisions, certainty and
    J read the ratios."""

    def outputs_and_clipped(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ratios, angles = self.model.ratios_and_angles(images)
        clipped = engages_clip(angles.flatten(0, 1)).view(angles.shape[:2]).any(dim=1)
        return torch.cat([ratios, angles.flatten(1)], dim=1), clipped

    def outputs(self, images: torch.Tensor) -> torch.Tensor:
        return self.outputs_and_clipped(images)[0]

    def decisions(self, outputs: torch.Tensor) -> torch.Tensor:
        return super().decisions(outputs[:, : self.num_classes])

    def certain(self, outputs: torch.Tensor, margin: float = DECISION_MARGIN) -> torch.Tensor:
        return super().certain(outputs[:, : self.num_classes], margin)


class PoseSearch(IterativeFGSM):
    """`PoseSearch(victim, max_steps).run(images, targets)` on a triple-staged victim whose
    network has the straight-through clip."""

    def __init__(self, victim: TripleStagedVictim, max_steps: int,
                 batch_size: int | None = None, pose_weight: float = POSE_WEIGHT,
                 gradient_precision: str = "float32"):
        super().__init__(_AnglesToo(victim.name, victim.model, victim.thresholds), max_steps,
                         batch_size, gradient_precision=gradient_precision)
        self.pose_weight = pose_weight
        self.all_poses = torch.zeros(0, 3)  # (N, 3): the searched pose of each image of `run`

    def run(self, images: torch.Tensor, targets: torch.Tensor,
            labels: torch.Tensor | None = None):
        positive = targets < self.victim.num_classes
        poses = torch.zeros(len(images), 3, device=images.device)
        if positive.any():
            poses[positive] = best_poses(self.victim.model, images[positive],
                                         targets[positive])[0]
        self.all_poses = poses
        return super().run(images, targets, labels)

    def batch_loss(self, outputs: torch.Tensor, targets: torch.Tensor,
                   rows: torch.Tensor) -> torch.Tensor:
        """J plus the pose term for the false positives among `rows` (indices into `run`'s
        images)."""
        k = self.victim.num_classes
        loss = ratio_loss(outputs[:, :k], targets)
        positive = targets < k
        if not positive.any():
            return loss
        classes = targets.clamp(max=k - 1)
        angles = outputs[:, k:].view(len(outputs), k, 3)[torch.arange(len(outputs)), classes]
        miss = ((angles - self.all_poses[rows.to(angles.device)]) ** 2).sum(dim=1)
        return loss + self.pose_weight * miss * positive


def build(victim: TripleStagedVictim, settings: AttackSettings, variant: object = None
          ) -> PoseSearch:
    return PoseSearch(victim, max_steps=settings.max_steps, batch_size=settings.batch_size,
                      gradient_precision=settings.gradient_precision)


register_attack(AttackSpec(
    name="pose-search", kind=TARGETED, build=build, order=50, networks=(TRIPLE_STAGED,),
    clip="straight_through", settings=("gradient_precision",),
    claim="pose-search attack (the pose where the target fits, then the estimator aimed at it)",
    summary="the triple-staged network: search the pose where the target fits, then aim the "
            "estimator at it"))
