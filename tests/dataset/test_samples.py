"""`draw_sample`: sample i of a split, from its own random stream, rotation first, then the crop."""

from pathlib import Path

import numpy as np
import pytest

from mindseye.dataset.backgrounds import open_background_source
from mindseye.dataset.samples import SPLITS, draw_sample

N_LABELS = 4  # three classes and the None class


@pytest.fixture()
def source(npy_backgrounds: Path):
    return open_background_source(f"npy:{npy_backgrounds}", "train")


def test_sample_is_drawn_from_seed_split_index_rotation_first(source) -> None:
    # The documented stream (docs/interfaces.md), written out by hand.
    for index in range(12):
        rng = np.random.default_rng([5, SPLITS.index("train"), index])
        rotation = rng.uniform(-0.5, 0.5, 3)
        crop = source.crop(rng)
        sample = draw_sample(5, "train", index, N_LABELS, source)
        assert sample.index == index and sample.label == index % N_LABELS
        np.testing.assert_array_equal(sample.background, crop)
        if sample.label == N_LABELS - 1:
            assert np.isnan(sample.rotation).all()
        else:
            np.testing.assert_array_equal(sample.rotation, rotation)


def test_rotations_are_the_ones_every_existing_dataset_was_rendered_with(source) -> None:
    # Recorded with the code this function replaced (render.sampling): a change to the seeding
    # would silently make new datasets differ from old ones and break `recomposite` on them.
    recorded = {
        ("train", 0): [0.12509546660466697, 0.3972138009695755, 0.2756856902451935],
        ("train", 5): [0.1955181095952192, -0.22048430619472825, 0.28283173860332145],
        ("test", 0): [0.27014095100347413, -0.3880727556823157, -0.31090226670287247],
        ("test", 1000): [-0.3355974219829869, -0.17758451718449897, 0.022048614950301526],
    }
    for (split, index), rotation in recorded.items():
        assert draw_sample(7, split, index, N_LABELS, source).rotation.tolist() == rotation


def test_the_none_class_draws_its_unused_rotation_before_its_crop(source) -> None:
    # Sample 3 is the None class with 4 labels and a positive class with 5: same stream, same crop.
    none = draw_sample(2, "test", 3, N_LABELS, source)
    positive = draw_sample(2, "test", 3, N_LABELS + 1, source)
    assert none.label == N_LABELS - 1 and positive.label == 3
    np.testing.assert_array_equal(none.background, positive.background)
    assert np.isnan(none.rotation).all() and np.all(np.abs(positive.rotation) <= 0.5)


def test_splits_and_seeds_give_different_samples(source) -> None:
    train = draw_sample(0, "train", 1, N_LABELS, source)
    test = draw_sample(0, "test", 1, N_LABELS, source)
    other_seed = draw_sample(1, "train", 1, N_LABELS, source)
    again = draw_sample(0, "train", 1, N_LABELS, source)
    assert not np.array_equal(train.rotation, test.rotation)
    assert not np.array_equal(train.rotation, other_seed.rotation)
    np.testing.assert_array_equal(train.rotation, again.rotation)
    np.testing.assert_array_equal(train.background, again.background)
    with pytest.raises(ValueError):
        draw_sample(0, "validation", 1, N_LABELS, source)
