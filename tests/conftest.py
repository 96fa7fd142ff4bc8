"""Shared fixtures."""

import os
import sys
from pathlib import Path

import pytest

from tests.tiny import render_tiny


@pytest.fixture(scope="session")
def rendered_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real rendered dataset, made once per session: 3 classes + none, 64 train and 16 test
    samples per class (tests/tiny.py). Read it, never modify it."""
    return render_tiny(tmp_path_factory.mktemp("data") / "tiny")


# Blender imported into the test process itself (the in-process renderer and asset tests) can
# hang interpreter shutdown in its exit handlers after a full run (seen: all tests passed, then
# the process waited on a futex forever; each test folder alone exits cleanly). By the time
# pytest unconfigures, every result is reported, so skip those handlers and exit with pytest's
# own status.
_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if "bpy" in sys.modules and _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
