"""The triple-staged network: estimate, project and compare, once per class.

For a query image and each positive class c: the estimator guesses the angles at which c would
appear, the projector draws c at those angles, and the comparator measures how much of that
drawing is in the query (a ratio in 0..1). The decision is the class with the highest ratio if
that ratio reaches the threshold, else None; `scores` encodes that rule as an argmax by appending
a constant None column equal to the threshold (docs/interfaces.md).
"""

import torch
from torch import nn

from mindseye.models.comparator import Comparator
from mindseye.models.estimator import ClipMode, Estimator, clip_rotations, engages_clip
from mindseye.models.projector import Projector


class TripleStaged(nn.Module):
    """Assembles three separately trained stages; the stages share one class list."""

    def __init__(
        self,
        estimator: Estimator,
        projector: Projector,
        comparator: Comparator,
        clip: ClipMode = "hard",
    ):
        super().__init__()
        if estimator.num_classes != projector.num_classes:
            raise ValueError("estimator and projector were built for different class counts")
        self.num_classes = estimator.num_classes
        self.estimator, self.projector, self.comparator = estimator, projector, comparator
        self.clip = clip  # "straight_through" lets attack gradients pass the estimator's clip

    def ratios(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B,1,64,64) on 0..255 -> ratio per positive class (B, K)."""
        return self.ratios_and_clipped(images)[0]

    def ratios_and_clipped(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The ratios (B, K), and (B, K) bool: whether the estimator's clip changed an angle of
        class c's hypothesis (where the hard clip passes no gradient)."""
        ratios, unclipped = self.ratios_and_angles(images)
        return ratios, engages_clip(unclipped.flatten(0, 1)).view(unclipped.shape[:2])

    def ratios_and_angles(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The ratios (B, K), and the estimator's angles for each class before the clip
        (B, K, 3)."""
        batch, k = images.shape[0], self.num_classes
        queries, classes = hypotheses(images, k)
        unclipped = self.estimator.unclipped(queries, classes)
        params = clip_rotations(unclipped, self.clip)
        drawing, alpha = self.projector.draw(params, classes)
        ratios = self.comparator.ratio(queries, drawing, alpha).view(batch, k)
        return ratios, unclipped.view(batch, k, 3)

    def ratio_at(self, images: torch.Tensor, angles: torch.Tensor,
                 classes: torch.Tensor) -> torch.Tensor:
        """(N,): how much of class c's drawing at the given angles (N, 3) is in each image."""
        drawing, alpha = self.projector.draw(angles, classes)
        return self.comparator.ratio(images, drawing, alpha)

    def scores(self, images: torch.Tensor, threshold: float) -> torch.Tensor:
        """(B, K + 1): the ratios then a None column equal to `threshold`."""
        ratios = self.ratios(images)
        return torch.cat([ratios, torch.full_like(ratios[:, :1], threshold)], dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.ratios(images)


def hypotheses(images: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All K hypotheses of a batch in one: image i with class c sits at row i * K + c.
    Returns the repeated images (B*K, 1, 64, 64) and their classes (B*K,)."""
    queries = images.repeat_interleave(num_classes, dim=0)
    classes = torch.arange(num_classes, device=images.device).repeat(images.shape[0])
    return queries, classes


def decide(ratios: torch.Tensor, threshold: float) -> torch.Tensor:
    """The decision rule on ratios (B, K): argmax class if its ratio >= threshold, else None (K)."""
    best_ratio, best_class = ratios.max(dim=1)
    none = torch.full_like(best_class, ratios.shape[1])
    return torch.where(best_ratio >= threshold, best_class, none)
