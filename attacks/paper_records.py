"""What other attacks take from the paper's attack's records: BPDA copies what it would
repeat, and FMN starts from the adversarials it found.

The hard and the straight-through clip give the same forward pass and differ in the gradient
only where the estimator's clip engages. So where the paper's attack (ifgsm) never stepped with
the clip engaged, an attack that repeats it with the straight-through clip would take the same
path, and copies those records instead (marked `copied_from`).
"""

import numpy as np

from mindseye.attacks.records import RecordTable
from mindseye.attacks.victims import Victim

Trajectory = tuple[str, int, int]  # (unit, source, target)


def unclipped_trajectories(paper: RecordTable) -> dict[Trajectory, list[dict]]:
    """The paper's attack's trajectories whose gradients never met the estimator's clip,
    by (unit, source, target), with their records (one per threshold)."""
    found: dict[Trajectory, list[dict]] = {}
    for record in paper.read():
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


def paper_adversarials(paper: RecordTable, victim: Victim, sources: np.ndarray,
                       targets: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The paper's attack's successful adversarial of each (source, target) at each of the
    victim's thresholds, (count, thresholds, *shape) in grey levels; NaN where it has none."""
    found = {(r["source"], r["target"], r["threshold"]): r for r in paper.read()
             if r["network"] == victim.name and r["status"] == "attacked" and r["success"]}
    starts = np.full((len(sources), len(victim.thresholds), *shape), np.nan, np.float32)
    for row, (source, target) in enumerate(zip(sources, targets, strict=True)):
        for column, threshold in enumerate(victim.thresholds):
            record = found.get((int(source), int(target), threshold))
            if record is not None:
                starts[row, column] = paper.load_image(record)
    return starts
