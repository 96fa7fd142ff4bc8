import pytest
import torch

from models.alexnet import AlexNetTrunk, FastLocalResponseNorm


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
