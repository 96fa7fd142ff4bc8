"""`train all`: the four networks that need nothing but the data trained side by side, then the
comparator, which learns from the trained estimator's and projector's drawings.

Why side by side: these networks are small and spread poorly over cores (measured on 2 cores:
1.5x from 1 to 2 threads for the reduced AlexNet and the projector alike), so two processes of
one thread each train 1.33x more samples per second than one process of two.
On CUDA, or with one core, the networks train one after another in this process.
"""

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

from mindseye.models.adversarial import AdversarialTraining
from mindseye.models.jobs import train_network
from mindseye.models.runs import resolve_device

# Longest first, so that the last one to start is a short one.
INDEPENDENT = ("estimator", "projector", "direct", "direct-param")


def default_processes() -> int:
    """One training process per core, at most one per independent network."""
    return max(1, min(len(INDEPENDENT), os.cpu_count() or 1))


def _start_worker(threads: int) -> None:
    if sys.platform == "linux":
        # Die with the parent: a killed `train all` must not leave networks training on, as its
        # re-run would train them a second time into the same folders.
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    torch.set_num_threads(threads)


def train_all(
    data_dir: Path,
    run_dir: Path,
    preset: str = "demo",
    steps: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    device: str = "auto",
    processes: int | None = None,
    adversarial: AdversarialTraining | None = None,
) -> Iterator[tuple[str, dict]]:
    """Train (resume, or skip) all five networks; yield (network, evaluation) as each finishes.
    `adversarial`: each network that reads an image trains on adversarial ones."""
    processes = processes or default_processes()
    arguments = (data_dir, run_dir, preset, steps, batch_size, seed, device)
    if processes > 1 and resolve_device(device).type == "cpu":
        threads = max(1, (os.cpu_count() or 1) // processes)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(processes, mp_context=context, initializer=_start_worker,
                                 initargs=(threads,)) as pool:
            # One progress bar row per network running at once.
            futures = {pool.submit(train_network, name, *arguments,
                                   progress_row=index % processes, adversarial=adversarial): name
                       for index, name in enumerate(INDEPENDENT)}
            for future in as_completed(futures):
                yield futures[future], future.result()
    else:
        for name in INDEPENDENT:
            yield name, train_network(name, *arguments, adversarial=adversarial)
    yield "comparator", train_network("comparator", *arguments, adversarial=adversarial)
