"""Stage 2 of the triple-staged network: (Euler angles, class) -> the object's image and alpha.

A down-scaled variant of the "1s-S" generator of Dosovitskiy et al. (paper, section 2.1): five
fully connected layers, reshape to 96x8x8, then transposed convolutions up to 64x64 with one
head for the grey image and one for the alpha. The drawing is premultiplied, image x alpha, the
same "object over black" that the shards store as the target.
"""

import torch
from torch import nn


def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.1, inplace=True)


class Projector(nn.Module):
    """Returns (drawing on 0..255, alpha logits), both (B, 1, 64, 64)."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        sizes = [3 + num_classes, 512, 512, 384, 384, 96 * 8 * 8]
        layers: list[nn.Module] = []
        for size_in, size_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(size_in, size_out), _leaky()]
        self.fully_connected = nn.Sequential(*layers)
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(96, 96, 4, 2, 1),  # 16x16
            _leaky(),
            nn.ConvTranspose2d(96, 32, 4, 2, 1),  # 32x32
            _leaky(),
        )
        self.image_head = nn.ConvTranspose2d(32, 1, 4, 2, 1)  # 64x64
        self.alpha_head = nn.ConvTranspose2d(32, 1, 4, 2, 1)

    def forward(
        self, params: torch.Tensor, classes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        one_hot = nn.functional.one_hot(classes, self.num_classes).to(params.dtype)
        x = self.fully_connected(torch.cat([params, one_hot], dim=1)).view(-1, 96, 8, 8)
        x = self.upsample(x)
        alpha_logits = self.alpha_head(x)
        image = 255.0 * torch.sigmoid(self.image_head(x))
        return image * torch.sigmoid(alpha_logits), alpha_logits

    def draw(
        self, params: torch.Tensor, classes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(drawing on 0..255, alpha on 0..1): what the comparator consumes."""
        drawing, alpha_logits = self(params, classes)
        return drawing, torch.sigmoid(alpha_logits)
