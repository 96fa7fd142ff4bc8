"""The authors' contrast stretch (their lib/range_extend.py)."""

import numpy as np

from mindseye.dataset.composite import contrast_stretch, stretch_range
from mindseye.render.settings import RENDER_PRESETS


def test_the_15th_and_85th_percentiles_become_0_and_255():
    rng = np.random.default_rng(0)
    straight = rng.integers(40, 200, (20, 64, 64)).astype(np.float64)
    alphas = np.where(rng.random((20, 64, 64)) < 0.3, 255, 0).astype(np.uint8)
    alphas[:, :4, :4] = 128  # some edge pixels, half covered
    objects = np.rint(straight * alphas / 255).astype(np.uint8)
    low, high = stretch_range(objects, alphas)
    levels = np.sort((objects[alphas > 0] / (alphas[alphas > 0] / 255)).ravel())
    assert (low, high) == (levels[int(len(levels) * 0.15)], levels[int(len(levels) * 0.85)])
    stretched = contrast_stretch(objects, alphas, low, high)
    full = alphas == 255
    assert stretched[full & (objects <= low)].max() == 0
    assert stretched[full & (objects >= high)].min() == 255
    # In between, a straight line from 0 to 255, truncated; over black where nothing covers.
    middle = full & (objects > low) & (objects < high)
    expected = np.floor((objects[middle] - low) * 255 / (high - low))
    np.testing.assert_array_equal(stretched[middle], expected)
    assert not stretched[alphas == 0].any()
    # A half-covered pixel: the stretched level times the alpha, clipped only after that (so,
    # as in the authors' code, an edge above the range can come out brighter than 128).
    edge = alphas == 128
    a = 128 / 255
    expected = np.clip((objects[edge] / a - low) * a * 255 / (high - low), 0, 255)
    np.testing.assert_array_equal(stretched[edge], expected.astype(np.uint8))


def test_the_paper_preset_stretches_and_the_others_do_not():
    assert RENDER_PRESETS["paper"].contrast_stretch
    assert not RENDER_PRESETS["demo"].contrast_stretch
    assert not RENDER_PRESETS["medium"].contrast_stretch
