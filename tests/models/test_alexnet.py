import pytest
import torch

from mindseye.models.alexnet import AlexNetTrunk, FastLocalResponseNorm


@pytest.mark.parametrize(("channels", "beta"), [(16, 0.75), (64, 0.75), (7, 0.75), (16, 0.5)])
def test_fast_lrn_equals_torch_lrn_in_value_and_gradient(channels: int, beta: float) -> None:
    torch.manual_seed(0)
    # ReLU outputs of the size the trunk produces (values up to ~30 make the norm matter).
    x = (torch.randn(4, channels, 9, 9) * 10).relu().requires_grad_()
    stock, fast = torch.nn.LocalResponseNorm(5, 1e-4, beta), FastLocalResponseNorm(5, 1e-4, beta)
    expected, got = stock(x), fast(x)
    torch.testing.assert_close(got, expected, rtol=2e-6, atol=1e-6)
    assert (expected / x.clamp_min(1e-6) - 1).abs().max() > 1e-4  # the norm did something
    (grad_expected,) = torch.autograd.grad(expected.square().sum(), x)
    (grad_got,) = torch.autograd.grad(got.square().sum(), x)
    torch.testing.assert_close(grad_got, grad_expected, rtol=1e-5, atol=1e-5)


def test_fast_lrn_accepts_channels_last() -> None:
    x = (torch.randn(2, 16, 8, 8) * 10).relu()
    expected = torch.nn.LocalResponseNorm(5, 1e-4, 0.75)(x)
    got = FastLocalResponseNorm(5)(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=2e-6, atol=1e-6)


def test_trunk_maps_images_to_1024_features() -> None:
    trunk = AlexNetTrunk(in_channels=4).eval()
    assert trunk(torch.zeros(3, 4, 64, 64)).shape == (3, 1024)


def test_ceil_pooling_lets_the_last_row_and_column_reach_the_features() -> None:
    """Rounded down, pooling never looks at the image's last row and column: their gradient is
    exactly zero, for any weights. Caffe rounds up (the authors' 64x7x7 = 3136 inputs)."""
    torch.manual_seed(0)
    for ceil_pooling, inputs in ((False, 64 * 6 * 6), (True, 64 * 7 * 7)):
        trunk = AlexNetTrunk(1, ceil_pooling=ceil_pooling).eval()
        assert trunk.fully_connected[1].in_features == inputs
        images = torch.rand(2, 1, 64, 64, requires_grad=True)
        (gradient,) = torch.autograd.grad(trunk(images).sum(), images)
        edge = gradient[:, :, -1, :].abs().sum() + gradient[:, :, :, -1].abs().sum()
        assert (edge > 0) == ceil_pooling
