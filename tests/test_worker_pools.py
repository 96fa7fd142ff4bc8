"""joblib's worker pool outlives a test unless ended, and its workers keep the environment they
started in; tests/conftest.py ends it before and after every test
(tests/fixtures/environment.py)."""

import os

import joblib

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
