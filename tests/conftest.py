"""Shared fixtures."""

from pathlib import Path

import pytest

from tests.tiny import render_tiny


@pytest.fixture(scope="session")
def rendered_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real rendered dataset, made once per session: 3 classes + none, 64 train and 16 test
    samples per class (tests/tiny.py). Read it, never modify it."""
    return render_tiny(tmp_path_factory.mktemp("data") / "tiny")
