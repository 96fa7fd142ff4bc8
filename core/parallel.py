"""Where parallel work runs: local processes, or a Dask cluster through joblib's dask backend."""

import contextlib
from collections.abc import Iterator

import joblib

from mindseye.core.errors import UserError


def check_scheduler_address(scheduler: str | None) -> None:
    """A `--scheduler` that cannot be an address is refused before any work (None: no cluster);
    whether a scheduler answers there is known only on connecting."""
    if scheduler is None:
        return
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        protocol, location = parse_address(scheduler)
        if protocol in ("tcp", "tls"):
            parse_host_port(location)
    except (ValueError, TypeError) as error:
        raise UserError(f"--scheduler {scheduler}: not a scheduler's address ({error}); give "
                        "tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786") from None


@contextlib.contextmanager
def parallel_backend(scheduler: str | None, scatter: list | None = None) -> Iterator[None]:
    """joblib's default (local processes) without a scheduler; a Dask cluster when given its
    scheduler's address (`--scheduler tcp://HOST:8786`), with `scatter` sent to every worker
    once (joblib passes it to each task by reference)."""
    if scheduler is None:
        yield
        return
    from dask.distributed import Client

    check_scheduler_address(scheduler)
    try:
        client = Client(scheduler, timeout="10s")
    except OSError as error:
        raise UserError(f"cannot reach Dask scheduler --scheduler {scheduler}: {error}") from None
    with client, joblib.parallel_config(backend="dask", scatter=scatter or None):
        yield
