"""Small real networks for the attack tests: fast on 2 CPU cores, same interfaces as models/.

`TinyDirect` maps images (B,1,64,64) on 0..255 to logits (B, K+1). `tiny_triple_staged` is the
real `models.triple_staged.TripleStaged` assembled from small stages: an estimator that uses the
real `clip_rotations` (so the BPDA option is the real one), a small projector, and a comparator
with the real alpha-weighted ratio.
"""

import torch
from torch import nn
from torch.nn import functional as F

from models.comparator import alpha_weighted_ratio
from models.estimator import ClipMode, clip_rotations
from models.triple_staged import TripleStaged


class TinyDirect(nn.Module):
    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 4, stride=4), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        )
        self.classify = nn.Linear(256, num_classes + 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features((images - 128) / 64))


class TinyEstimator(nn.Module):
    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(1 + num_classes, 8, 5, stride=4), nn.ReLU(), nn.Flatten(),
        )
        self.estimate = nn.Linear(8 * 15 * 15, 3)

    def unclipped(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        planes = F.one_hot(classes, self.num_classes).to(images.dtype)[:, :, None, None]
        x = torch.cat([(images - 128) / 64, planes.expand(-1, -1, 64, 64)], dim=1)
        return self.estimate(self.features(x))

    def forward(self, images, classes, clip: ClipMode = "hard") -> torch.Tensor:
        return clip_rotations(self.unclipped(images, classes), clip)


class TinyProjector(nn.Module):
    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.num_classes = num_classes
        self.draw_layer = nn.Linear(3 + num_classes, 2 * 16 * 16)

    def draw(self, params: torch.Tensor, classes: torch.Tensor):
        one_hot = F.one_hot(classes, self.num_classes).to(params.dtype)
        x = self.draw_layer(torch.cat([4 * params, one_hot], dim=1)).view(-1, 2, 16, 16)
        x = F.interpolate(x, size=64, mode="bilinear", align_corners=False)
        return 255 * torch.sigmoid(x[:, :1]), torch.sigmoid(x[:, 1:])


class TinyComparator(nn.Module):
    def __init__(self):
        super().__init__()
        self.compare = nn.Conv2d(3, 1, 1)

    def ratio(self, query, drawing, alpha) -> torch.Tensor:
        pixels = self.compare(torch.cat([(query - drawing) / 64, drawing / 255, alpha], dim=1))
        logits = F.avg_pool2d(pixels, 10, stride=1)  # one score per 10x10 patch, like models/
        return alpha_weighted_ratio(torch.sigmoid(logits), alpha)


def tiny_triple_staged(num_classes: int = 3, seed: int = 0) -> TripleStaged:
    torch.manual_seed(seed)
    return TripleStaged(
        TinyEstimator(num_classes), TinyProjector(num_classes), TinyComparator()
    ).eval()


def train_tiny_direct(images: torch.Tensor, labels: torch.Tensor, steps: int = 80) -> TinyDirect:
    """A few real SGD steps: enough to classify the synthetic shapes mostly right."""
    torch.manual_seed(0)
    model = TinyDirect(int(labels.max()))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(steps):
        batch = torch.randint(0, len(images), (64,), generator=torch.Generator().manual_seed(step))
        loss = F.cross_entropy(model(images[batch]), labels[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()
