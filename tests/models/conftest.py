"""Fixtures for the model tests."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def model_dataset(rendered_dataset: Path) -> Path:
    """The session's tiny real rendered dataset (tests/conftest.py): 3 classes + none."""
    return rendered_dataset
