"""Fixtures for the dataset tests: background files and small synthetic datasets."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.snapshots import unchanged
from tests.fixtures.synthetic_discs import make_dataset


@pytest.fixture(scope="session")
def npy_backgrounds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Ten 80x90 uint8 images of smooth random patterns, as one .npy file. Read it, never
    modify it (checked at the end of the session)."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (10, 10, 9)).astype(np.uint8)
    images = np.kron(coarse, np.ones((8, 10), np.uint8))
    path = tmp_path_factory.mktemp("npy") / "backgrounds.npy"
    np.save(path, images)
    with unchanged(path.parent):
        yield path


@pytest.fixture()
def dataset_dir(tmp_path: Path, npy_backgrounds: Path) -> Path:
    """A fresh synthetic dataset (train 24 + test 12 samples in shards of 12) over npy crops."""
    return make_dataset(tmp_path / "data", f"npy:{npy_backgrounds}")
