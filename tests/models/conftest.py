"""Fixtures for the model tests."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def model_dataset(rendered_dataset: Path) -> Path:
    """The session's tiny real rendered dataset (tests/conftest.py): 3 classes + none. It is
    rendered by Blender: a test that uses it carries @pytest.mark.blender."""
    return rendered_dataset
