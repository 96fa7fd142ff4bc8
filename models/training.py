"""The one training loop, with checkpoints that make a killed run resume bit-exactly on CPU.

A `Job` is what differs between the networks: the network, where batches come from and the
loss on a batch. `train` does the rest: optimiser and lr schedule from the `Schedule`, progress
bar, metrics.jsonl, and every `checkpoint_every` steps an atomic checkpoint of the weights,
optimiser, scheduler, the batch order and every RNG (torch, CUDA, numpy, python). Restarting
after any kill continues from the last checkpoint and reproduces the uninterrupted run.
"""

import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mindseye.core.files import write_text_atomic
from mindseye.models.runs import CHECKPOINT, METRICS, WEIGHTS, read_tensors, save_atomically
from mindseye.models.settings import Schedule


class Batches(Protocol):
    def next(self) -> dict[str, torch.Tensor]: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


@dataclass
class Job:
    name: str
    network: nn.Module
    batches: Batches
    loss: Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor]
    schedule: Schedule
    # Optimiser groups with their own lr and weight decay (models/initialisation.py); None:
    # every parameter at the schedule's.
    parameter_groups: list[dict] | None = None
    # Fast adversarial training's guard (models/adversarial.py): a score of the network, taken
    # at every checkpoint; a drop of more than `collapse` below the best stops the training
    # with the best weights.
    watch: Callable[[nn.Module], float] | None = None
    collapse: float = 0.0


def seed_everything(seed: int) -> None:
    """Seed every RNG a run touches, before the network is built (its initial weights)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_optimiser(network: nn.Module, schedule: Schedule,
                   groups: list[dict] | None = None) -> torch.optim.Optimizer:
    """The schedule's optimiser over `groups` (each with its own lr and weight decay), or over
    every parameter at the schedule's lr and decay."""
    parameters = groups if groups is not None else network.parameters()
    if schedule.optimiser == "sgd":
        return torch.optim.SGD(parameters, lr=schedule.lr, momentum=schedule.momentum,
                               weight_decay=schedule.weight_decay)
    if schedule.optimiser == "adam":
        return torch.optim.Adam(parameters, lr=schedule.lr, betas=schedule.betas,
                                weight_decay=schedule.weight_decay)
    raise ValueError(f"unknown optimiser {schedule.optimiser!r}")


def make_scheduler(optimiser: torch.optim.Optimizer,
                   schedule: Schedule) -> torch.optim.lr_scheduler.LRScheduler:
    """lr x lr_gamma at each milestone, or every lr_decay_every steps (constant without)."""
    if schedule.lr_milestones:
        return torch.optim.lr_scheduler.MultiStepLR(
            optimiser, milestones=list(schedule.lr_milestones), gamma=schedule.lr_gamma)
    return torch.optim.lr_scheduler.StepLR(
        optimiser, step_size=schedule.lr_decay_every or schedule.steps + 1,
        gamma=schedule.lr_gamma)


def _rng_states() -> dict:
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (numpy_state[0], torch.from_numpy(numpy_state[1].copy()), *numpy_state[2:]),
        "python": random.getstate(),
    }


def _restore_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    kind, keys, *rest = states["numpy"]
    np.random.set_state((kind, keys.numpy(), *rest))
    random.setstate(states["python"])


def _keep_metrics_until(path: Path, step: int) -> None:
    """After a resume, drop the lines logged after the checkpoint (they are logged again)."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines()
             if line.strip() and json.loads(line)["step"] <= step]
    write_text_atomic(path, "".join(line + "\n" for line in lines))


def _collapsed(job: Job, network: nn.Module, step: int, watched: dict, metrics) -> bool:
    """Score the network (job.watch), log it, keep the best weights; whether the score fell
    more than job.collapse below the best (then the caller goes back to the best weights)."""
    score = job.watch(network)
    collapsed = score < watched["best"] - job.collapse
    metrics.write(json.dumps({"step": step, "watch": score, "collapsed": collapsed}) + "\n")
    metrics.flush()
    if score > watched["best"]:
        watched["best"] = score
        watched["weights"] = {name: value.detach().clone()
                              for name, value in network.state_dict().items()}
    return collapsed


def train(job: Job, folder: Path, show_progress: bool = True, progress_row: int = 0) -> None:
    """Train `job.network` for `job.schedule.steps`, resuming from `folder/checkpoint.pt`.
    `progress_row`: the terminal row of the progress bar (networks trained side by side by
    `models.parallel` each take their own)."""
    schedule, network = job.schedule, job.network
    optimiser = make_optimiser(network, schedule, job.parameter_groups)
    scheduler = make_scheduler(optimiser, schedule)
    checkpoint_path, metrics_path = folder / CHECKPOINT, folder / METRICS
    step = 0
    watched = {"best": -1.0, "weights": None}
    if checkpoint_path.is_file():
        state = read_tensors(checkpoint_path, remedy=(
            f"delete it to restart {folder.name}'s training from its first step"))
        network.load_state_dict(state["network"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        job.batches.load_state_dict(state["batches"])
        _restore_rng_states(state["rng"])
        step = state["step"]
        watched = state.get("watched", watched)
    _keep_metrics_until(metrics_path, step)

    def save_checkpoint() -> None:
        save_atomically({"step": step, "network": network.state_dict(),
                         "optimiser": optimiser.state_dict(),
                         "scheduler": scheduler.state_dict(),
                         "batches": job.batches.state_dict(), "rng": _rng_states(),
                         **({"watched": watched} if job.watch else {})},
                        checkpoint_path)

    network.train()
    window_loss, window_steps, window_start = 0.0, 0, time.perf_counter()
    with open(metrics_path, "a") as metrics, tqdm(
        total=schedule.steps, initial=step, desc=job.name, file=sys.stderr,
        disable=not show_progress, dynamic_ncols=True, position=progress_row,
    ) as progress:
        while step < schedule.steps:
            loss = job.loss(network, job.batches.next())
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            step += 1
            window_loss += loss.item()
            window_steps += 1
            progress.update(1)
            if step % schedule.log_every == 0 or step == schedule.steps:
                seconds = time.perf_counter() - window_start
                record = {"step": step, "loss": window_loss / window_steps,
                          "lr": optimiser.param_groups[0]["lr"],
                          "samples_per_s": window_steps * schedule.batch_size / seconds}
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
                progress.set_postfix(loss=f"{record['loss']:.4g}")
                window_loss, window_steps, window_start = 0.0, 0, time.perf_counter()
            if step % schedule.checkpoint_every == 0 and step < schedule.steps:
                if job.watch and _collapsed(job, network, step, watched, metrics):
                    network.load_state_dict(watched["weights"])
                    break
                save_checkpoint()
    save_atomically(network.state_dict(), folder / WEIGHTS)
    checkpoint_path.unlink(missing_ok=True)
