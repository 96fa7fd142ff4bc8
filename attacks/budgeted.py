"""The budgeted attacks' runner (pgd, square and the converged attacks, HopSkipJump): at each
L-inf budget, a sample is robust if its decision stays right. Every selected test image is
attacked, None images included, except by an attack that takes only what the gradient attacks
left robust (its spec's `after_gradient_attacks`)."""

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mindseye.attacks.records import RecordTable
from mindseye.attacks.registry import BUDGETED, AttackSpec, attack_specs
from mindseye.attacks.settings import AttackSettings, attacks_dir
from mindseye.attacks.sources import as_tensor, chunks, images_of
from mindseye.attacks.victims import Victim

# numpy's global generator is one per process: units on the threads of one Dask worker take
# turns with it, so that none draws from another's sequence.
_GLOBAL_GENERATOR = threading.RLock()


@contextmanager
def numpy_seeded_by(unit: str) -> Iterator[None]:
    """numpy's global generator seeded from the unit's name, and put back afterwards. ART's PGD
    and Square draw their random starts from it; seeded per unit, a unit gives the same
    records whether it runs first, after others, alone on another machine, on a thread of a
    Dask worker or after a kill. Held by one unit at a time per process."""
    with _GLOBAL_GENERATOR:
        state = np.random.get_state()
        np.random.seed(zlib.crc32(unit.encode()))
        try:
            yield
        finally:
            np.random.set_state(state)


def run_budgeted(
    run_dir: Path,
    spec: AttackSpec,
    victim_list: list[Victim],
    test: dict[str, np.ndarray],
    selected: np.ndarray,
    settings: AttackSettings,
) -> None:
    """Attack the selected images of every victim at each threshold and budget, unit by unit.
    An attack whose one run decides every budget (HopSkipJump) runs once per threshold; one
    that comes after the gradient attacks takes only the images that every gradient attack run
    so far left robust at that budget (run it after them have finished: a unit, once written,
    is not redone); one that descends (its spec's `descending`) takes the budgets from the
    largest down and, at each threshold, leaves the images it failed on at a larger budget.
    Each unit draws from numpy's generator seeded by its name, so it repeats exactly."""
    records = RecordTable(attacks_dir(run_dir) / spec.name)
    images, labels = test["image"], test["label"]
    selected = images_of(spec, selected, labels, settings)
    budgets = (None,) if spec.one_run_for_all_budgets else tuple(
        sorted(settings.epsilons, reverse=spec.descending))
    broken = broken_by_gradients(run_dir) if spec.after_gradient_attacks else set()
    failed: set[tuple] = set()  # (network, threshold, source) a descending attack failed on
    jobs = [(victim, threshold, epsilon) for victim in victim_list
            for threshold in victim.thresholds for epsilon in budgets]
    for victim, threshold, epsilon in tqdm(jobs, desc=spec.name, unit="budget", leave=False):
        for number, sources in chunks(selected, settings.chunk):
            unit = f"{victim.name}-{threshold}-{'all' if epsilon is None else epsilon}-{number:05d}"
            if records.is_done(unit):
                if spec.descending:
                    failed |= failures(records.read_unit(unit))
                continue
            if spec.after_gradient_attacks:
                sources = np.array([source for source in sources if (
                    victim.name, threshold, float(epsilon), int(source)) not in broken], int)
            if spec.descending:
                sources = np.array([source for source in sources if (
                    victim.name, threshold, int(source)) not in failed], int)
            if not len(sources):  # every source broken or given up: nothing left to attack
                records.write_unit(unit, [])
                continue
            method = spec.build(victim, threshold, epsilon, settings)
            method.progress_file = records.progress_file(unit)  # for those that keep a place
            source_images = as_tensor(images[sources], victim)
            truth = labels[sources]
            clean = method.predict(source_images.cpu().numpy())
            with numpy_seeded_by(unit):
                result = method.run(source_images, torch.as_tensor(truth))
            decided, adversarial = result.decisions[:, 0], result.images[:, 0]
            linf = np.abs(adversarial - source_images[:, 0].cpu().numpy()).reshape(
                len(sources), -1).max(axis=1)
            rows = []
            for budget in (settings.epsilons if epsilon is None else (epsilon,)):
                # Broken at this budget if the adversarial lies within it (HopSkipJump's found
                # distance may exceed a small budget); misclassified counts as not robust.
                within = linf <= budget + 1e-3
                decisions = np.where(clean != truth, clean,
                                     np.where(within, decided, truth))
                rows += [{"unit": unit, "attack": spec.name, "network": victim.name,
                          "threshold": threshold, "epsilon": float(budget),
                          "source": int(source), "source_class": int(truth[row]),
                          "clean_decision": int(clean[row]), "decision": int(decisions[row]),
                          "robust": bool(decisions[row] == truth[row]),
                          "linf": float(linf[row]) if within[row] else 0.0,
                          **({"found_linf": float(linf[row])} if epsilon is None else {})}
                         for row, source in enumerate(sources)]
            records.write_unit(unit, rows)
            if spec.descending:
                failed |= failures(rows)


def failures(rows: list[dict]) -> set[tuple]:
    """(network, threshold, source) of every image a budgeted unit's attack left robust."""
    return {(row["network"], row["threshold"], row["source"]) for row in rows if row["robust"]}


def broken_by_gradients(run_dir: Path) -> set[tuple]:
    """(network, threshold, epsilon, source) of every image a budgeted gradient attack recorded
    so far broke."""
    return {(record["network"], record["threshold"], record["epsilon"], record["source"])
            for spec in attack_specs(BUDGETED) if spec.gradient
            for record in RecordTable(attacks_dir(run_dir) / spec.name).read()
            if not record["robust"]}
