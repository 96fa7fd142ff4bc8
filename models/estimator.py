"""Stage 1 of the triple-staged network: image + wanted class -> Euler angles of that class.

The class enters as K extra constant input planes (one per class, the wanted one set to 1), so
the network need not work out by itself which object to look for (paper, section 2.1). The
output is clipped to the sampled range [-0.5, 0.5] rad. A hard clip has zero gradient outside
that range, which hides the estimator from gradient attacks; `clip="straight_through"` clips
in the forward pass but passes gradients as if it did not (BPDA), for the adaptive attacks.
"""

from typing import Literal

import torch
from torch import nn

from mindseye.core.constants import IMAGE_SIZE, ROTATION_LIMIT
from mindseye.models.alexnet import AlexNetTrunk, normalise_images

# hard: the paper's clip; straight_through: the same forward pass with the identity's gradient
# (BPDA); none: no clip at all, as in the authors' merged Caffe network, whose prototxt has no
# clip layer between the estimator and the projector.
ClipMode = Literal["hard", "straight_through", "none"]


def clip_rotations(params: torch.Tensor, mode: ClipMode = "hard") -> torch.Tensor:
    """Clip to [-0.5, 0.5]; with `straight_through` the gradient is the identity's; `none`
    leaves the angles as they are."""
    if mode == "none":
        return params
    clipped = params.clamp(-ROTATION_LIMIT, ROTATION_LIMIT)
    if mode == "straight_through":
        return params + (clipped - params).detach()
    return clipped


def engages_clip(params: torch.Tensor) -> torch.Tensor:
    """(N,) bool for unclipped angles (N, 3): whether the clip changes any of them."""
    return (params.detach().abs() > ROTATION_LIMIT).any(dim=1)


class Estimator(nn.Module):
    """Reduced AlexNet on 1 + K channels -> fc 3."""

    def __init__(self, num_classes: int, fast_lrn: bool = True, ceil_pooling: bool = False):
        super().__init__()
        self.num_classes = num_classes
        self.trunk = AlexNetTrunk(1 + num_classes, fast_lrn, ceil_pooling)
        self.estimate = nn.Linear(AlexNetTrunk.features_size, 3)

    def unclipped(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Angles (B, 3) before clipping, for images (B,1,64,64) on 0..255 and class ids (B,)."""
        planes = nn.functional.one_hot(classes, self.num_classes).to(images.dtype)
        planes = planes[:, :, None, None].expand(-1, -1, IMAGE_SIZE, IMAGE_SIZE)
        x = torch.cat([normalise_images(images), planes], dim=1)
        return self.estimate(self.trunk(x))

    def forward(
        self, images: torch.Tensor, classes: torch.Tensor, clip: ClipMode = "hard"
    ) -> torch.Tensor:
        return clip_rotations(self.unclipped(images, classes), clip)
