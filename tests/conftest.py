"""Shared fixtures, and the session's settings: every piece of global state the tests rely on is
set here, by fixtures and hooks, never when a module is imported.

- Threads and environment (tests/fixtures/environment.py): one torch thread in this process and
  in every child, a Blender user folder, user assets folder and model cache of the session's
  own; restored at the end.
- Random generators (tests/fixtures/rng.py): each test starts from its own seed (its node id and
  pytest-randomly's seed), and each shared fixture is built under a fixed seed of its own without
  disturbing the generators, so neither depends on the order tests run in.
- Blender (tests/fixtures/blender.py): a test without `@pytest.mark.blender` fails if it uses
  Blender.
- Worker processes: joblib's pool is ended before and after every test, so no test's workers
  carry an earlier test's environment.
"""

import os
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest

from tests.fixtures.blender import BlenderGuard
from tests.fixtures.environment import end_process_pool, session_settings
from tests.fixtures.rendered import render_tiny
from tests.fixtures.rng import isolated_rng, seed_all, stable_seed
from tests.fixtures.snapshots import unchanged

_blender_guard = pytest.StashKey[BlenderGuard]()


@pytest.fixture(scope="session", autouse=True)
def _session_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with session_settings(tmp_path_factory.mktemp("blender-user"),
                          tmp_path_factory.mktemp("mindseye-home")):
        yield


@pytest.fixture(autouse=True)
def _seed_each_test(request: pytest.FixtureRequest) -> None:
    """Python's, numpy's and torch's generators seeded from the test's id (and the run's
    --randomly-seed). pytest-randomly reseeds python's and numpy's again before the call."""
    seed_all(stable_seed(request.node.nodeid,
                         request.config.getoption("randomly_seed", default=None)))


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest):
    """A shared fixture is built under its own fixed seed, whichever test asks for it first, and
    leaves the generators as it found them."""
    if fixturedef.scope == "function":
        return (yield)
    with isolated_rng(stable_seed(fixturedef.baseid, fixturedef.argname)):
        return (yield)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_blender_guard] = BlenderGuard()


def _guard(item: pytest.Item):
    if item.get_closest_marker("blender") is not None:
        return nullcontext()
    return item.config.stash[_blender_guard].guarding(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    end_process_pool()  # a test's workers start in its own environment, not an earlier test's
    with _guard(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    try:
        with _guard(item):
            return (yield)
    finally:
        end_process_pool()


@pytest.fixture(scope="session")
def rendered_dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real rendered dataset, made once per session: 3 classes + none, 64 train and 16 test
    samples per class (tests/fixtures/rendered.py). Read it, never modify it (checked at the
    end of the session)."""
    data = render_tiny(tmp_path_factory.mktemp("data") / "tiny")
    with unchanged(data):
        yield data


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
    guard = config.stash.get(_blender_guard, None)
    if guard is not None:
        guard.close()
    if "bpy" in sys.modules and _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
