"""Fixtures for the model tests: a tiny dataset in the real shard layout, made once a session."""

from pathlib import Path

import pytest

from tests.models.synthetic import write_synthetic_dataset


@pytest.fixture(scope="session")
def model_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes + none, 192 train and 64 test samples (synthetic shapes until the rendered
    fixture works for every test)."""
    return write_synthetic_dataset(tmp_path_factory.mktemp("data") / "synthetic")
