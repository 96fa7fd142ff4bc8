"""pgd, square and the converged attacks (pgd-ITERATIONSxRESTARTS, apgd-...): at each L-inf
budget; a sample is robust if its decision stays right. Every selected test image is attacked,
None images included (square-5000: only those the gradient attacks left robust)."""

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from attacks.apgd import APGD
from attacks.hop_skip_jump import DecisionOnly
from attacks.library import LibraryAttack
from attacks.pgd import PGD
from attacks.records import RecordTable
from attacks.settings import (
    APGD_ITERATIONS,
    CONVERGED_ATTACKS,
    LONG_SQUARE_QUERIES,
    AttackSettings,
    attacks_dir,
)
from attacks.sources import as_tensor, chunks
from attacks.square import Square
from attacks.victims import Victim


@contextmanager
def numpy_seeded_by(unit: str) -> Iterator[None]:
    """numpy's global generator seeded from the unit's name, and put back afterwards. ART's PGD
    and Square draw their random starts from it; seeded per unit, a unit gives the same
    records whether it runs first, after others, alone on another machine or after a kill."""
    state = np.random.get_state()
    np.random.seed(zlib.crc32(unit.encode()))
    try:
        yield
    finally:
        np.random.set_state(state)


def budgeted_attack(attack: str, victim: Victim, threshold: float | None, epsilon: float,
                    settings: AttackSettings) -> LibraryAttack:
    """The attack a budgeted table's name stands for: pgd, square, pgd-ITERATIONSxRESTARTS,
    apgd-LOSS or apgd-LOSS-targeted."""
    if attack == "pgd":
        return PGD(victim, threshold, epsilon, settings.pgd_iterations, settings.batch_size)
    if attack == "square":
        return Square(victim, threshold, epsilon, settings.square_queries, settings.batch_size)
    if attack == "square-5000":
        return Square(victim, threshold, epsilon, LONG_SQUARE_QUERIES, settings.batch_size)
    if attack == "hsj":
        return DecisionOnly(victim, threshold, settings.hsj_iterations,
                            settings.hsj_evaluations, settings.batch_size)
    if attack.startswith("apgd-"):
        loss, _, targeted = attack.removeprefix("apgd-").partition("-")
        return APGD(victim, threshold, epsilon, APGD_ITERATIONS, settings.batch_size, loss,
                    targeted=bool(targeted))
    iterations, _, restarts = attack.removeprefix("pgd-").partition("x")
    return PGD(victim, threshold, epsilon, int(iterations), settings.batch_size, int(restarts))


def run_budgeted(
    run_dir: Path,
    attack: str,
    victim_list: list[Victim],
    test: dict[str, np.ndarray],
    selected: np.ndarray,
    settings: AttackSettings,
) -> None:
    """Attack the selected images of every victim at each threshold and budget, unit by unit.
    HopSkipJump runs once per threshold and its distance decides every budget; square-5000
    takes only the images that every gradient attack run so far left robust at that budget
    (run it after them have finished: a unit, once written, is not redone). HopSkipJump's first
    adversarial comes from ART's own unseeded generator, so its units are not reproducible
    draw for draw."""
    records = RecordTable(attacks_dir(run_dir) / attack)
    images, labels = test["image"], test["label"]
    budgets = (None,) if attack == "hsj" else settings.epsilons
    jobs = [(victim, threshold, epsilon) for victim in victim_list
            for threshold in victim.thresholds for epsilon in budgets]
    for victim, threshold, epsilon in tqdm(jobs, desc=attack, unit="budget", leave=False):
        for number, sources in chunks(selected, settings.chunk):
            unit = f"{victim.name}-{threshold}-{'all' if epsilon is None else epsilon}-{number:05d}"
            if records.is_done(unit):
                continue
            if attack == "square-5000":
                sources = robust_so_far(run_dir, victim.name, threshold, epsilon, sources)
            method = budgeted_attack(attack, victim, threshold, epsilon, settings)
            source_images = as_tensor(images[sources], victim)
            truth = labels[sources]
            clean = (method.predict(source_images.cpu().numpy()) if len(sources)
                     else np.zeros(0, np.int64))
            if len(sources):
                with numpy_seeded_by(unit):
                    result = method.run(source_images, torch.as_tensor(truth))
                decided, adversarial = result.decisions[:, 0], result.images[:, 0]
            else:
                decided, adversarial = clean, np.zeros((0, *images.shape[1:]), np.float32)
            linf = np.abs(adversarial - source_images[:, 0].cpu().numpy()).reshape(
                len(sources), adversarial[0].size if len(sources) else 1).max(axis=1, initial=0)
            rows = []
            for budget in (settings.epsilons if epsilon is None else (epsilon,)):
                # Broken at this budget if the adversarial lies within it (HopSkipJump's found
                # distance may exceed a small budget); misclassified counts as not robust.
                within = linf <= budget + 1e-3
                decisions = np.where(clean != truth, clean,
                                     np.where(within, decided, truth))
                rows += [{"unit": unit, "attack": attack, "network": victim.name,
                          "threshold": threshold, "epsilon": float(budget),
                          "source": int(source), "source_class": int(truth[row]),
                          "clean_decision": int(clean[row]), "decision": int(decisions[row]),
                          "robust": bool(decisions[row] == truth[row]),
                          "linf": float(linf[row]) if within[row] else 0.0,
                          **({"found_linf": float(linf[row])} if epsilon is None else {})}
                         for row, source in enumerate(sources)]
            records.write_unit(unit, rows)


def robust_so_far(run_dir: Path, network: str, threshold: float | None, epsilon: float,
                  sources: np.ndarray) -> np.ndarray:
    """The sources that every gradient attack recorded so far (pgd and the converged ones)
    left robust at this budget; all of them if none has run."""
    broken = set()
    for attack in ("pgd", *CONVERGED_ATTACKS):
        for record in RecordTable(attacks_dir(run_dir) / attack).read():
            if (record["network"], record["threshold"], record["epsilon"]) == (
                    network, threshold, float(epsilon)) and not record["robust"]:
                broken.add(record["source"])
    return np.array([source for source in sources if int(source) not in broken], dtype=int)
