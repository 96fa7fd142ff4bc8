"""What other attacks take from the paper's attack's records: BPDA copies what it would
repeat, and FMN starts from the adversarials it found.

The hard and the straight-through clip give the same forward pass and differ in the gradient
only where the estimator's clip engages. So where the paper's attack (ifgsm) never stepped with
the clip engaged, BPDA would take the same path (bit for bit in float64;
tests/attacks/test_base.py), and ifgsm-bpda copies those records instead of spending hours to
repeat them (marked `copied_from: "ifgsm"`).
"""

import numpy as np
import torch

from mindseye.attacks.adaptive import AdaptiveMargin
from mindseye.attacks.base import AttackResult
from mindseye.attacks.ifgsm import IterativeFGSM
from mindseye.attacks.minimal_norm import MinimalNorm
from mindseye.attacks.pose_search import PoseSearch
from mindseye.attacks.records import RecordTable
from mindseye.attacks.settings import (
    MINIMAL_NORM_ATTACKS,
    OURS,
    POSE_SEARCH,
    AttackSettings,
    Variant,
    step_cap,
)
from mindseye.attacks.sources import as_tensor
from mindseye.attacks.victims import Victim

Trajectory = tuple[str, int, int]  # (unit, source, target)


def unclipped_trajectories(ifgsm: RecordTable) -> dict[Trajectory, list[dict]]:
    """The paper's attack's trajectories whose gradients never met the estimator's clip,
    by (unit, source, target), with their records (one per threshold)."""
    found: dict[Trajectory, list[dict]] = {}
    for record in ifgsm.read():
        if record.get("clipped_steps") is not None:  # absent: recorded before it was counted
            found.setdefault((record["unit"], record["source"], record["target"]), []).append(
                record)
    return {key: rows for key, rows in found.items() if all(r["clipped_steps"] == 0 for r in rows)}


def complete_copies(copies: dict[Trajectory, list[dict]], unit: str,
                    sources: np.ndarray, pairs: list[tuple[int, int]], correct: np.ndarray,
                    thresholds: tuple, max_steps: int) -> dict[tuple[int, int], list[dict]]:
    """The (row, target) pairs of this unit that `copies` covers completely: a row for exactly
    the thresholds attacked here (`correct`), with the same step cap. Anything less is
    attacked afresh."""
    found = {}
    for pair, ok in zip(pairs, correct, strict=True):
        rows = copies.get((unit, int(sources[pair[0]]), pair[1]), [])
        wanted = {t for t, attacked_here in zip(thresholds, ok, strict=True) if attacked_here}
        if (rows and len(rows) == len(wanted) and {row["threshold"] for row in rows} == wanted
                and all(row["max_steps"] == max_steps for row in rows)):
            found[pair] = rows
    return found


def run_or_copy(attack: str, victim: Victim, images: np.ndarray, labels: np.ndarray,
                sources: np.ndarray, attacked: list[tuple[int, int]],
                copied: dict[tuple[int, int], list[dict]], ifgsm: RecordTable,
                settings: AttackSettings, variant: Variant = OURS) -> AttackResult:
    """The attack's result for each (row, target) pair: run, or copied from the ifgsm
    records (`ifgsm`, the table the copies came from). `variant` says how ifgsm runs."""
    max_steps = step_cap(attack, settings, variant)
    if attack in MINIMAL_NORM_ATTACKS:
        method = MinimalNorm(victim, attack.removeprefix("fmn-"), settings.fmn_steps,
                             settings.batch_size)
    elif attack == POSE_SEARCH:
        method = PoseSearch(victim, max_steps=max_steps, batch_size=settings.batch_size,
                            gradient_precision=settings.gradient_precision)
    elif attack == "adaptive":
        method = AdaptiveMargin(victim, max_steps=max_steps, batch_size=settings.batch_size,
                                gradient_precision=settings.gradient_precision)
    else:
        method = IterativeFGSM(victim, max_steps=max_steps, batch_size=settings.batch_size,
                               stop_at=variant.stop_at, loss=variant.loss,
                               gradient_precision=settings.gradient_precision)
    to_run = [pair for pair in attacked if pair not in copied]
    thresholds = len(victim.thresholds)
    result = AttackResult(np.zeros((len(attacked), thresholds), np.int64),
                          np.zeros((len(attacked), thresholds), bool),
                          np.zeros((len(attacked), thresholds, *images.shape[1:]), np.float32),
                          np.zeros(len(attacked), np.int64),
                          np.full((len(attacked), thresholds), -1, np.int64))  # not copied
    if to_run:
        rows = np.array([row for row, _ in to_run], dtype=int)
        device = next(victim.model.parameters()).device
        targets = torch.tensor([target for _, target in to_run], dtype=torch.long)
        # FMN starts from the paper's attack's adversarial where there is one.
        starts = ({"starts": paper_adversarials(ifgsm, victim, sources[rows], targets.numpy(),
                                                images.shape[1:])}
                  if attack in MINIMAL_NORM_ATTACKS else {})
        ran = method.run(as_tensor(images[sources[rows]], victim), targets.to(device),
                         torch.as_tensor(labels[sources[rows]], dtype=torch.long).to(device),
                         **starts)
        where = [attacked.index(pair) for pair in to_run]
        for name in ("steps", "success", "images", "clipped_steps", "decisions"):
            getattr(result, name)[where] = getattr(ran, name)
    for pair, rows in copied.items():
        index = attacked.index(pair)
        by_threshold = {row["threshold"]: row for row in rows}
        for column, threshold in enumerate(victim.thresholds):
            row = by_threshold.get(threshold)
            if row is None:
                continue  # misclassified at this threshold: no result is written for it
            result.steps[index, column], result.success[index, column] = (row["steps"],
                                                                          row["success"])
            result.images[index, column] = ifgsm.load_image(row)
    return result


def paper_adversarials(ifgsm: RecordTable, victim: Victim, sources: np.ndarray,
                       targets: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The paper's attack's successful adversarial of each (source, target) at each of the
    victim's thresholds, (count, thresholds, *shape) in grey levels; NaN where it has none."""
    found = {(r["source"], r["target"], r["threshold"]): r for r in ifgsm.read()
             if r["network"] == victim.name and r["status"] == "attacked" and r["success"]}
    starts = np.full((len(sources), len(victim.thresholds), *shape), np.nan, np.float32)
    for row, (source, target) in enumerate(zip(sources, targets, strict=True)):
        for column, threshold in enumerate(victim.thresholds):
            record = found.get((int(source), int(target), threshold))
            if record is not None:
                starts[row, column] = ifgsm.load_image(record)
    return starts
