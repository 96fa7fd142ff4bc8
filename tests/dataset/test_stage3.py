from pathlib import Path

import numpy as np
import torch

from mindseye.dataset.stage3 import choose_pairs, comparator_pairs, load_pairs, save_pairs
from mindseye.models.estimator import Estimator
from mindseye.models.projector import Projector


def test_pairs_are_balanced_and_labelled_by_whether_the_class_is_right() -> None:
    k = 3
    labels = np.arange(40) % (k + 1)  # 30 positives, 10 None images
    sample, classes, same = choose_pairs(labels, k, seed=0)
    assert same.sum() == 30 and (same == 0).sum() == 30
    assert np.all((labels[sample] == classes) == (same == 1))
    assert np.all(classes < k)
    different = sample[same == 0]
    assert np.any(labels[different] == k) and np.any(labels[different] < k)  # both kinds
    again = choose_pairs(labels, k, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((sample, classes, same), again, strict=True))


def test_pairs_hold_drawings_of_the_first_two_stages(tmp_path: Path) -> None:
    torch.manual_seed(0)
    k = 3
    images = np.random.default_rng(0).integers(0, 256, (8, 64, 64), dtype=np.uint8)
    labels = np.arange(8) % (k + 1)
    pairs = comparator_pairs(Estimator(k), Projector(k), images, labels, k, 0,
                             torch.device("cpu"))
    assert {name: array.shape for name, array in pairs.items()} == {
        "query": (12, 64, 64), "drawing": (12, 64, 64), "alpha": (12, 64, 64), "same": (12,)}
    assert pairs["drawing"].dtype == np.uint8 and pairs["alpha"].max() > 0
    save_pairs(tmp_path / "pairs.h5", pairs)
    loaded = load_pairs(tmp_path / "pairs.h5")
    assert all(np.array_equal(loaded[name], pairs[name]) for name in pairs)
