import numpy as np

from mindseye.dataset.composite import composite
from mindseye.dataset.shards import load_split


def test_formula_on_single_pixels() -> None:
    obj = np.array([[0, 100, 200, 0]], np.uint8)
    alpha = np.array([[0, 255, 255, 128]], np.uint8)
    background = np.array([[50, 50, 50, 200]], np.uint8)
    # 0 + 200 * 127/255 = 99.6 -> 100
    np.testing.assert_array_equal(composite(obj, alpha, background), [[50, 100, 200, 100]])


def test_batch_and_broadcast_background() -> None:
    rng = np.random.default_rng(0)
    alpha = rng.integers(0, 256, (5, 64, 64)).astype(np.uint8)
    obj = np.rint(alpha * rng.random((5, 64, 64))).astype(np.uint8)
    background = rng.integers(0, 256, (64, 64)).astype(np.uint8)
    batch = composite(obj, alpha, background)
    assert batch.dtype == np.uint8 and batch.shape == (5, 64, 64)
    for k in range(5):
        np.testing.assert_array_equal(batch[k], composite(obj[k], alpha[k], background))
    exact = obj + background * (1 - alpha / 255)
    assert np.abs(batch - exact).max() <= 0.5 + 1e-3


def test_recompositing_reproduces_stored_images(dataset_dir, npy_backgrounds) -> None:
    from mindseye.dataset.backgrounds import open_background_source
    from mindseye.dataset.samples import draw_sample
    from tests.fixtures.synthetic_discs import CLASSES, SEED

    arrays = load_split(dataset_dir, "test")
    source = open_background_source(f"npy:{npy_backgrounds}", "test")
    for i in range(len(arrays["label"])):
        background = draw_sample(SEED, "test", i, len(CLASSES), source).background
        again = composite(arrays["object"][i], arrays["alpha"][i], background)
        np.testing.assert_array_equal(again, arrays["image"][i])
