"""What keeps one test from leaning on another (tests/conftest.py): joblib's worker pool, which
outlives a test unless ended and whose workers keep the environment they started in
(tests/fixtures/environment.py), and the Blender guard, which must catch an unmarked test even
after a marked one has loaded Blender (tests/fixtures/blender.py)."""

import importlib
import os
import sys
from collections.abc import Callable
from types import SimpleNamespace

import joblib
import numpy as np
import pytest

from mindseye.blender_assets.registry import builtin_classes
from mindseye.render.blender import EngineSettings
from mindseye.render.worker import shared_blender_process
from tests.fixtures.blender import BlenderGuard, BlenderImportBlocked
from tests.fixtures.environment import end_process_pool, environment

VARIABLE = "MINDSEYE_TEST_POOL_MARK"


def read_mark(_: int) -> str | None:
    # A function of this module: `os.environ.get` itself would be pickled with this process's
    # environment, not read in the worker's.
    return os.environ.get(VARIABLE)


def workers_see() -> list[str | None]:
    return joblib.Parallel(n_jobs=2)(joblib.delayed(read_mark)(index) for index in range(4))


def test_an_ended_pool_gives_its_next_workers_the_environment_of_now() -> None:
    with environment({VARIABLE: "earlier"}):
        assert workers_see() == ["earlier"] * 4
    with environment({VARIABLE: "now"}):
        # The hazard: the reused pool still answers with the environment it started in.
        assert workers_see() == ["earlier"] * 4
        end_process_pool()
        assert workers_see() == ["now"] * 4
    end_process_pool()
    end_process_pool()  # ending twice, or with no pool, is harmless


AN_UNMARKED_TEST = SimpleNamespace(nodeid="an unmarked test", fixturenames=())


@pytest.mark.blender
def test_the_guard_leaves_no_blender_child_of_an_earlier_test_running() -> None:
    fast, monkey = EngineSettings(samples=2), builtin_classes()["monkey"]
    earlier = shared_blender_process(fast)
    earlier.render(monkey.blend_file, monkey.object_name, np.zeros((1, 3)))
    assert earlier.pid is not None
    guard = BlenderGuard()
    try:
        with guard.guarding(AN_UNMARKED_TEST):
            assert earlier.pid is None  # closed: it would have rendered for this test unguarded
            assert shared_blender_process(fast) is not earlier
    finally:
        guard.close()


def _import_by_name() -> None:
    importlib.import_module("mindseye.blender_assets.build")


def _import_from_package() -> None:
    # `from package import module` finds the package's attribute first, not sys.modules.
    from mindseye.blender_assets import build  # noqa: F401


@pytest.mark.blender
@pytest.mark.parametrize("import_it", [_import_by_name, _import_from_package])
def test_the_guard_catches_a_module_that_an_earlier_test_loaded_with_blender(
        import_it: Callable[[], None]) -> None:
    # mindseye.blender_assets.build imports bpy at its top; loaded here, as a marked test would.
    module = importlib.import_module("mindseye.blender_assets.build")
    guard = BlenderGuard()
    try:
        with pytest.raises(pytest.fail.Exception, match="this process imported bpy"), \
                guard.guarding(AN_UNMARKED_TEST), \
                pytest.raises(BlenderImportBlocked):
            import_it()
    finally:
        guard.close()
    # Put back for marked tests, both where `import` and `from ... import` look.
    assert sys.modules["mindseye.blender_assets.build"] is module
    assert importlib.import_module("mindseye.blender_assets").build is module
