"""Attack test fixtures: a small synthetic dataset and a tiny direct network trained on it."""

from pathlib import Path

import pytest
import torch

from dataset.shards import load_split
from tests.attacks.tiny_networks import train_tiny_direct
from tests.models.synthetic import write_synthetic_dataset

# Other suites share the 2 cores; two torch threads under contention run ~20x slower than one.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shapes_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes + none in the real shard layout (tests/models/synthetic.py)."""
    return write_synthetic_dataset(tmp_path_factory.mktemp("data") / "shapes")


@pytest.fixture(scope="session")
def shapes_test(shapes_dataset: Path) -> dict:
    return load_split(shapes_dataset, "test", ("image", "label"))


@pytest.fixture(scope="session")
def trained_direct(shapes_dataset: Path) -> torch.nn.Module:
    train = load_split(shapes_dataset, "train", ("image", "label"))
    images = torch.as_tensor(train["image"], dtype=torch.float32)[:, None]
    return train_tiny_direct(images, torch.as_tensor(train["label"]))
