"""The reduced AlexNet trunk shared by the direct networks and the estimator.

Sizes from the paper's original implementation (docs/design.md, "Networks"): three 3x3 convolutions
with local response normalisation and max pooling, then two fully connected layers of 1024 with
dropout. Every classifier in `models/` takes images on the 0..255 scale; `normalise_images` is
the one place that maps them to the range the networks work in.
"""

import torch
from torch import nn

# Images arrive on 0..255 (what attacks perturb); the networks see roughly zero-mean, unit-range
# values: (x - 128) / 64 maps 0..255 to -2..2.
PIXEL_CENTRE = 128.0
PIXEL_SCALE = 64.0


def normalise_images(images: torch.Tensor) -> torch.Tensor:
    """Map float images on 0..255 to the networks' input range, (x - 128) / 64."""
    return (images - PIXEL_CENTRE) / PIXEL_SCALE


class _BandedLRN(torch.autograd.Function):
    """y = x * s^-beta with s = k + alpha/n * (x^2 summed over a band of channels).

    Written for few passes over memory, which is what this op costs on CPU: alpha/n is folded
    into the band, s^-0.75 is rsqrt(s) * sqrt(rsqrt(s)) (far cheaper than `pow`), and the
    gradient is written out, reusing the output y, so the backward needs no power either:
    dL/dx = g * s^-beta - 2 beta * x * ((g * y / s) @ band^T).
    """

    @staticmethod
    def forward(ctx, x, scaled_band, beta, k):
        # (B,C,H,W) -> (B,H,W,C) @ (C,C): contiguous in channels_last, so no copy there.
        s = torch.matmul((x * x).permute(0, 2, 3, 1), scaled_band).permute(0, 3, 1, 2).add_(k)
        if beta == 0.75:
            power = s.rsqrt()
            power.mul_(power.sqrt())
        else:
            power = s.pow(-beta)
        y = x * power
        ctx.save_for_backward(x, scaled_band, s, power, y)
        ctx.beta = beta
        return y

    @staticmethod
    def backward(ctx, grad):
        x, scaled_band, s, power, y = ctx.saved_tensors
        through_s = (grad * y).div_(s).permute(0, 2, 3, 1)
        spread = torch.matmul(through_s, scaled_band.t()).permute(0, 3, 1, 2)
        return torch.addcmul(grad * power, x, spread, value=-2 * ctx.beta), None, None, None


class FastLocalResponseNorm(nn.Module):
    """Local response normalisation across channels as one banded matrix multiply.

    Same result as `torch.nn.LocalResponseNorm` (to about 2e-6) but several times faster on CPU:
    the stock module pads and average-pools a 5-D view, which dominates the training step of the
    small trunk, while the sum of squares over a window of neighbouring channels is a product
    with a constant band matrix (alpha/n on the band, 0 elsewhere). The band is a buffer, so it
    follows the module to any device.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        self.register_buffer("band", torch.empty(0), persistent=False)

    def _band(self, channels: int, like: torch.Tensor) -> torch.Tensor:
        if self.band.shape != (channels, channels) or self.band.dtype != like.dtype:
            # The stock module's window for channel c is c - size//2 .. c + (size-1)//2.
            index = torch.arange(channels, device=like.device)
            offset = index[None, :] - index[:, None]  # row: source channel, column: target
            inside = (offset >= -((self.size - 1) // 2)) & (offset <= self.size // 2)
            self.band = inside.to(like.dtype) * (self.alpha / self.size)
        return self.band

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        band = self._band(x.shape[1], x)
        return _BandedLRN.apply(x, band, self.beta, self.k)


def local_response_norm(fast: bool) -> nn.Module:
    """LRN(5, 1e-4, 0.75) as in the paper: the banded version, or PyTorch's for comparison."""
    if fast:
        return FastLocalResponseNorm(5, 1e-4, 0.75)
    return nn.LocalResponseNorm(5, 1e-4, 0.75)


class AlexNetTrunk(nn.Module):
    """Reduced AlexNet from normalised images (B, in_channels, 64, 64) to features (B, 1024).

    `ceil_pooling` rounds the pooled sizes up, as Caffe does in the authors' networks (31, 15
    and 7 instead of 30, 14 and 6; the first fully connected layer then sees 64x7x7 = 3136
    inputs): rounded down, the last row and column of the image never reach the output.
    """

    features_size = 1024

    def __init__(self, in_channels: int = 1, fast_lrn: bool = True, ceil_pooling: bool = False):
        super().__init__()
        pooled = 7 if ceil_pooling else 6
        self.convolutions = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3),  # 62x62
            nn.ReLU(inplace=True),
            local_response_norm(fast_lrn),
            nn.MaxPool2d(3, 2, ceil_mode=ceil_pooling),  # 30x30 (31x31)
            nn.Conv2d(16, 64, 3, padding=1),
            nn.ReLU(inplace=True),
            local_response_norm(fast_lrn),
            nn.MaxPool2d(3, 2, ceil_mode=ceil_pooling),  # 14x14 (15x15)
            nn.Conv2d(64, 96, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(96, 96, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(96, 64, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, ceil_mode=ceil_pooling),  # 6x6 (7x7)
        )
        self.fully_connected = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * pooled * pooled, 1024),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(1024, 1024),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fully_connected(self.convolutions(x))
