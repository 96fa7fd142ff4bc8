"""Attack test fixtures: a small synthetic dataset and a tiny direct network trained on it."""

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from mindseye.dataset.shards import load_split
from tests.fixtures.snapshots import unchanged
from tests.fixtures.synthetic_shapes import write_synthetic_dataset
from tests.fixtures.tiny_networks import TinyDirect, train_tiny_direct


@pytest.fixture(scope="session")
def shapes_dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """3 classes + none in the real shard layout (tests/fixtures/synthetic_shapes.py). Read it,
    never modify it (checked at the end of the session)."""
    data = write_synthetic_dataset(tmp_path_factory.mktemp("data") / "shapes")
    with unchanged(data):
        yield data


@pytest.fixture(scope="session")
def _shapes_test(shapes_dataset: Path) -> dict:
    return load_split(shapes_dataset, "test", ("image", "label"))


@pytest.fixture()
def shapes_test(_shapes_test: dict) -> dict:
    """The test split's images and labels: this test's own copy."""
    return {name: values.copy() for name, values in _shapes_test.items()}


@pytest.fixture(scope="session")
def _trained_direct(shapes_dataset: Path) -> TinyDirect:
    train = load_split(shapes_dataset, "train", ("image", "label"))
    images = torch.as_tensor(train["image"], dtype=torch.float32)[:, None]
    return train_tiny_direct(images, torch.as_tensor(train["label"]))


@pytest.fixture()
def trained_direct(_trained_direct: TinyDirect) -> TinyDirect:
    """The tiny direct network, trained once per session: this test's own copy."""
    return copy.deepcopy(_trained_direct)
