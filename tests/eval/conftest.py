"""The eval tests' run: real (freshly initialised) networks, attacked and reported on once per
session (tests/fixtures/reported.py)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.reported import make_reported
from tests.fixtures.snapshots import unchanged


@pytest.fixture(scope="session")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """{"data", "run", "report"}. Read them, never modify them (checked at the end of the
    session)."""
    root = tmp_path_factory.mktemp("reported")
    folders = make_reported(root)
    with unchanged(root):
        yield folders
