"""The two baselines: direct classification, and direct classification + parameter estimation.

Both map an image straight to K + 1 class scores (the last is None). The second also predicts
the object's Euler angles; that output only guides training (its loss is masked to the positive
samples, whose angles exist) and is ignored when classifying.
"""

import torch
from torch import nn

from mindseye.models.alexnet import AlexNetTrunk, normalise_images


class Direct(nn.Module):
    """Reduced AlexNet -> fc (K + 1). Input float (B, 1, 64, 64) on 0..255; output logits."""

    def __init__(self, num_classes: int, fast_lrn: bool = True, ceil_pooling: bool = False):
        super().__init__()
        self.num_classes = num_classes  # positive classes; the output has one more, None
        self.trunk = AlexNetTrunk(1, fast_lrn, ceil_pooling)
        self.classify = nn.Linear(AlexNetTrunk.features_size, num_classes + 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classify(self.trunk(normalise_images(images)))


class DirectParam(nn.Module):
    """Direct, plus an fc 3 head for the Euler angles used as an auxiliary training target."""

    def __init__(self, num_classes: int, fast_lrn: bool = True, ceil_pooling: bool = False):
        super().__init__()
        self.num_classes = num_classes
        self.trunk = AlexNetTrunk(1, fast_lrn, ceil_pooling)
        self.classify = nn.Linear(AlexNetTrunk.features_size, num_classes + 1)
        self.estimate = nn.Linear(AlexNetTrunk.features_size, 3)

    def logits_and_params(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk(normalise_images(images))
        return self.classify(features), self.estimate(features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits_and_params(images)[0]
