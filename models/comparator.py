"""Stage 3 of the triple-staged network: how much of the drawing is in the query image?

A 2-channel-style patch comparison net (Zagoruyko & Komodakis) that sees one 10x10 patch of
(query, drawing, alpha) and says "same" or "different". Written as a 10x10 convolution followed
by 1x1 convolutions, running it over a whole 64x64 image compares every patch with stride 1 in
one pass (55x55 similarities). The image-level ratio weights each patch's similarity by how much
of the drawing's alpha falls in it (a 10x10 average pool), so patches without object count for
nothing (paper, Fig. 2).
"""

import torch
from torch import nn

from mindseye.models.alexnet import normalise_images

PATCH = 10
# Patches whose drawn alpha covers less than this fraction are left out of training (paper 3.1).
MIN_PATCH_COVERAGE = 0.01


def patch_alpha(alpha: torch.Tensor) -> torch.Tensor:
    """Mean alpha in every 10x10 patch, stride 1: (B,1,64,64) on 0..1 -> (B,1,55,55)."""
    return nn.functional.avg_pool2d(alpha, PATCH, stride=1)


def alpha_weighted_ratio(similarity: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """sum(similarity x avgpool10(alpha)) / sum(avgpool10(alpha)) per image -> (B,).

    `similarity` (B,1,55,55) in 0..1 and `alpha` (B,1,64,64) on 0..1. An empty drawing gives 0:
    nothing drawn is nothing recognised.
    """
    weights = patch_alpha(alpha)
    mass = weights.sum(dim=(1, 2, 3))
    return (similarity * weights).sum(dim=(1, 2, 3)) / mass.clamp_min(1e-6)


class Comparator(nn.Module):
    """(query, drawing, alpha) -> per-patch similarity logits (B, 1, 55, 55)."""

    def __init__(self):
        super().__init__()
        self.patch_net = nn.Sequential(
            nn.Conv2d(3, 64, PATCH),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 1, 1),
        )

    def forward(
        self, query: torch.Tensor, drawing: torch.Tensor, alpha: torch.Tensor
    ) -> torch.Tensor:
        """Query and drawing on 0..255, alpha on 0..1, all (B,1,64,64)."""
        x = torch.cat([normalise_images(query), normalise_images(drawing), alpha], dim=1)
        return self.patch_net(x)

    def ratio(
        self, query: torch.Tensor, drawing: torch.Tensor, alpha: torch.Tensor
    ) -> torch.Tensor:
        """The alpha-weighted share of matching patches, (B,) in 0..1."""
        return alpha_weighted_ratio(torch.sigmoid(self(query, drawing, alpha)), alpha)


def masked_patch_loss(
    logits: torch.Tensor, alpha: torch.Tensor, same: torch.Tensor
) -> torch.Tensor:
    """Sigmoid cross-entropy over the patches whose drawn alpha covers >= 1%, on whole images.

    Equal to the mean loss over those patches cut out one by one (tests/models prove it), but
    computed with one convolution pass per image. `same` (B,) is 1 for same, 0 for different.
    """
    keep = (patch_alpha(alpha) >= MIN_PATCH_COVERAGE).to(logits.dtype)
    targets = same.to(logits.dtype)[:, None, None, None].expand_as(logits)
    losses = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (losses * keep).sum() / keep.sum().clamp_min(1.0)
