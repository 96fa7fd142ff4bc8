"""The cascade runner: budgeted attacks one after another, each only on the cells that every
attack before it left robust (AutoAttack's economy: a point broken once is broken).

A cell is (network, threshold, budget, image). The cascade first records the float32
network's clean decision on every image (member `clean`), then runs its members in order, and
within a member the budgets from small to large (a descending member, Square, from large to
small: at each threshold it leaves an image once it failed on it at a larger budget). A member
attacks, at one threshold and budget, only the images whose cell there is still robust. Every
adversarial it finds is put on whole grey levels and decided by the float32 network at *every*
threshold the network carries; it then breaks each cell (threshold t, budget e) where that
decision is wrong and its L-inf distance is at most e. So a flip found within budget e counts
at every larger budget, and a flip found at one threshold counts at the others exactly where
the float32 network says so (a None image called a class @0.7 is a class @0.45 and @0.2 too; a
bfloat16 gradient's flip that float32 does not confirm breaks nothing).

Records (`RUN/attacks/<cascade>/`): one unit per member, network, threshold, budget and chunk
of images, each record one attacked image: where it was attacked, the adversarial's L-inf and L2
distances, the float32 decisions at every threshold, and the image itself where some decision
is wrong. Each unit also records its cost: the forward and backward passes of the network
(counted by the victim, whoever calls it) and the wall time. `cascade_cells` turns records into
cells: robust or broken, and by which member first.
"""

import time
from pathlib import Path

import joblib
import numpy as np
import torch
from tqdm import tqdm

from mindseye.attacks.apgd import APGD_CE_ATTACK, APGD_DLR_TARGETED_ATTACK
from mindseye.attacks.budgeted import numpy_seeded_by
from mindseye.attacks.hop_skip_jump import HSJ_ATTACK
from mindseye.attacks.records import RecordTable
from mindseye.attacks.registry import BUDGETED, CASCADE, AttackSpec, get_attack, register_attack
from mindseye.attacks.settings import AttackSettings, attack_batch_size, attacks_dir
from mindseye.attacks.sources import as_tensor, chunks, images_of, victim_decisions
from mindseye.attacks.square_search import LONG_SQUARE_ATTACK
from mindseye.attacks.victims import Victim
from mindseye.core.errors import UserError
from mindseye.core.parallel import parallel_backend

CLEAN = "clean"  # the member name of the clean decisions that open every cascade
# The empty unit written once every member has run on a network: until then its cells are
# partial (an image no member has reached yet looks robust).
FINISHED = "finished"
# The suite a robustness reviewer asks for, cheapest first: AutoAttack's (APGD-CE, targeted
# APGD-DLR, Square at 5000 queries) with HopSkipJump, a decision-only attack, last.
REVIEWER_MEMBERS = tuple(spec.name for spec in (APGD_CE_ATTACK, APGD_DLR_TARGETED_ATTACK,
                                                LONG_SQUARE_ATTACK, HSJ_ATTACK))


def run_cascade(run_dir: Path, spec: AttackSpec, victim_list: list[Victim],
                test: dict[str, np.ndarray], selected: np.ndarray, settings: AttackSettings,
                skip_broken: bool = True, scheduler: str | None = None, jobs: int = 1) -> None:
    """Run the cascade `spec` on the selected images of each victim, unit by unit (a unit
    already on disk is read, not redone). The chunks of one member at one threshold and budget
    run side by side in `jobs` processes on this machine, each keeping its unit's place as one
    process does, or on a Dask cluster when `scheduler` is given (each image's attack does not
    depend on its neighbours, and each unit is seeded by its name, so the records are those of
    one process); this process writes every unit. `skip_broken=False` runs every member on
    every cell, every budget of a descending member too: the full grid a cascade saves, for
    `benchmarks/reviewer_cascade.py`."""
    check_members(spec)
    records = RecordTable(attacks_dir(run_dir) / spec.name)
    budgets = tuple(sorted(settings.epsilons))
    with parallel_backend(scheduler):
        # Units come back as each finishes, in any order, and are written at once: a kill
        # loses only the units still running.
        parallel = joblib.Parallel(n_jobs=-1 if scheduler else jobs,
                                   return_as="generator_unordered")
        for victim in victim_list:
            breaks = Breaks()
            unit = f"{CLEAN}-{victim.name}"
            breaks.add(records.read_unit(unit) if records.is_done(unit) else _write(
                records, unit, *_clean_rows(unit, victim, test, selected, settings)))
            for member in spec.members:
                member_spec = get_attack(member)
                descends = member_spec.descending and skip_broken
                member_budgets = ((None,) if member_spec.one_run_for_all_budgets
                                  else budgets[::-1] if descends else budgets)
                cells = [(threshold, epsilon) for threshold in victim.thresholds
                         for epsilon in member_budgets]
                failed: set[tuple] = set()  # (threshold, source) a descending member failed on
                member_selected = images_of(member_spec, selected, test["label"], settings)
                bar = tqdm(cells, unit="cell", leave=False,
                           desc=f"{spec.name}: {member} on {victim.name}")
                for threshold, epsilon in bar:
                    todo = (breaks.still_robust(threshold, member_selected, budgets, epsilon)
                            if skip_broken else member_selected)
                    if descends:
                        todo = np.array([source for source in todo
                                         if (threshold, int(source)) not in failed], int)
                    budget = "all" if epsilon is None else f"{epsilon:g}"
                    units = {f"{member}-{victim.name}-{threshold}-{budget}-{number:05d}": sources
                             for number, sources in chunks(todo, settings.chunk)}
                    missing = [unit for unit in units if not records.is_done(unit)]
                    _show_cell(bar, threshold, epsilon, len(missing), len(units))
                    made = parallel(joblib.delayed(attack_unit)(
                        unit, member, victim, threshold, epsilon, test["image"][units[unit]],
                        test["label"][units[unit]], units[unit], settings,
                        # a place kept on this machine (a cluster's workers may not see it)
                        None if scheduler else records.progress_file(unit))
                        for unit in missing)
                    for done, (unit, (rows, found, cost)) in enumerate(made, 1):
                        _write(records, unit, _with_images(records, unit, rows, found), cost)
                        _show_cell(bar, threshold, epsilon, len(missing) - done, len(units))
                    for unit in units:
                        rows = records.read_unit(unit)
                        missing = set(map(int, units[unit])) - {row["source"] for row in rows}
                        if missing:  # made by another plan: its images would go unattacked
                            raise UserError(
                                f"{records.folder / unit}.json holds other images than this "
                                f"cascade attacks there (not {sorted(missing)}): it was made "
                                f"with other settings or an earlier mindseye; move "
                                f"{records.folder} away and run the cascade again")
                        breaks.add(rows)
                        if descends:
                            failed |= {(threshold, row["source"]) for row in rows
                                       if not breaks.broken(threshold, row["source"], epsilon)}
            if not records.is_done(f"{FINISHED}-{victim.name}"):
                records.write_unit(f"{FINISHED}-{victim.name}", [], meta={
                    "cost": {"forward": 0, "backward": 0, "wall_s": 0.0}})


def finished_networks(records: RecordTable) -> set[str]:
    """The networks every member of the cascade has run on (their `finished-<network>` unit):
    until then a network's cells are partial (an image no member has reached looks robust)."""
    return {unit.removeprefix(f"{FINISHED}-") for unit in records.done_units()
            if unit.startswith(f"{FINISHED}-")}


def copy_units_on_grid_images(cascade_run: Path, grid_run: Path, spec: AttackSpec,
                              selected: np.ndarray, chunk: int) -> int:
    """Give the grid (`run_cascade(..., skip_broken=False)` into `grid_run`) every unit the
    cascade in `cascade_run` already ran on exactly the grid's images: same member, network,
    threshold, budget and the same images in the same batch, so the same computation (each
    unit is seeded by its name; a resumed unit equals an uninterrupted one). Costs travel
    with the unit. Returns the number of units copied; a unit the grid has is left alone."""
    grid_sources = {number: [int(source) for source in sources]
                    for number, sources in chunks(selected, chunk)}
    cascade = RecordTable(attacks_dir(cascade_run) / spec.name)
    grid = RecordTable(attacks_dir(grid_run) / spec.name)
    metas = cascade.read_meta()
    copied = 0
    for unit in sorted(cascade.done_units() - grid.done_units()):
        if unit.startswith(f"{FINISHED}-"):  # the grid says for itself when it has finished
            continue
        rows = cascade.read_unit(unit)
        sources = [row["source"] for row in rows]
        # clean-<network> covers every selected image; a member's unit ends in its chunk number
        same = (sources == [int(s) for s in selected] if unit.startswith(f"{CLEAN}-")
                else sources == grid_sources.get(int(unit.rsplit("-", 1)[1])))
        if not same:
            continue
        images = [row for row in rows if "image_file" in row]
        if images:
            grid.save_images(unit, np.stack([cascade.load_image(row) for row in images]))
        grid.write_unit(unit, rows, meta=metas[unit])
        copied += 1
    return copied


def _show_cell(bar: tqdm, threshold: float | None, epsilon: float | None, left: int,
               planned: int) -> None:
    """Say on the bar which cell is running and how many of its units are left (a member's
    cell can take hours on a CPU); nothing once none is."""
    if not left:
        bar.set_postfix_str("", refresh=False)
        return
    where = "" if threshold is None else f"@{threshold:g}, "
    within = "every budget" if epsilon is None else f"{epsilon:g} grey levels"
    bar.set_postfix_str(f"{where}{within}: {left} of {planned} units to run", refresh=True)


def _write(records: RecordTable, unit: str, rows: list[dict], cost: dict) -> list[dict]:
    checks = cost.pop("checks", None)
    records.write_unit(unit, rows, meta={"cost": cost, **({"checks": checks} if checks else {})})
    return rows


def _with_images(records: RecordTable, unit: str, rows: list[dict],
                 found: np.ndarray) -> list[dict]:
    """The rows, the adversarials that some threshold decides wrongly saved beside them."""
    if not len(found):
        return rows
    image_file = records.save_images(unit, found)
    stored = 0
    for row in rows:
        if row["wrong"]:
            row.update(image_file=image_file, image_index=stored)
            stored += 1
    return rows


class Breaks:
    """What the records so far break: per (threshold, source), the smallest L-inf distance of
    an adversarial the float32 network decides wrongly there."""

    def __init__(self) -> None:
        self.linf: dict[tuple, float] = {}

    def add(self, rows: list[dict]) -> None:
        for row in rows:
            for threshold, decision in zip(row["thresholds"], row["decisions"], strict=True):
                key = (threshold, row["source"])
                if decision != row["source_class"] and row["linf"] < self.linf.get(key, np.inf):
                    self.linf[key] = row["linf"]

    def broken(self, threshold: float | None, source: int, epsilon: float) -> bool:
        return self.linf.get((threshold, source), np.inf) <= epsilon

    def still_robust(self, threshold: float | None, sources: np.ndarray,
                     budgets: tuple[float, ...], epsilon: float | None) -> np.ndarray:
        """The sources a member still attacks at `threshold`: those robust at budget
        `epsilon`; for a member whose one run decides every budget (epsilon None), those
        robust at the smallest budget (one broken only at larger budgets still has cells to
        break)."""
        reach = budgets[0] if epsilon is None else epsilon
        return np.array([source for source in sources
                         if not self.broken(threshold, int(source), reach)], int)


class Cost:
    """The passes a victim counts and the wall time between `start` and `stop`."""

    def __init__(self, victim: Victim) -> None:
        self.victim = victim
        self.forward, self.backward = victim.passes.forward, victim.passes.backward
        self.started = time.perf_counter()

    def stop(self) -> dict:
        return {"forward": self.victim.passes.forward - self.forward,
                "backward": self.victim.passes.backward - self.backward,
                "wall_s": round(time.perf_counter() - self.started, 3)}


def _clean_rows(unit: str, victim: Victim, test: dict, selected: np.ndarray,
                settings: AttackSettings) -> tuple[list[dict], dict]:
    cost = Cost(victim)
    images = as_tensor(test["image"][selected], victim)
    decisions = victim_decisions(victim, test["image"][selected], settings.batch_size)
    rows = [_row(unit, CLEAN, victim, None, 0.0, int(source), int(test["label"][source]),
                 decisions[row], 0.0, 0.0) for row, source in enumerate(selected)]
    checks = sanity_checks(victim, images, torch.as_tensor(test["label"][selected]),
                           settings.batch_size)
    return rows, {**cost.stop(), "checks": checks}


def sanity_checks(victim: Victim, images: torch.Tensor, labels: torch.Tensor,
                  batch_size: int | None) -> dict:
    """AutoAttack's own checks on the clean images, per threshold: the share of images whose
    cross-entropy gradient is zero everywhere (a gradient attack cannot move them), and whether
    two forward passes of the same images give the same scores (randomness in the network
    would make every attack's numbers a draw)."""
    checks = {}
    labels = labels.to(images.device)
    batch_size = attack_batch_size(victim.model, batch_size)
    for threshold in victim.thresholds:
        zero, largest = 0, 0.0
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].clone().requires_grad_(True)
            scores = victim.scores(batch, threshold)
            loss = torch.nn.functional.cross_entropy(scores, labels[start:start + batch_size],
                                                     reduction="sum")
            (gradient,) = torch.autograd.grad(loss, batch)
            zero += int((gradient.flatten(1).abs().amax(dim=1) == 0).sum())
            with torch.no_grad():
                again = victim.scores(batch.detach(), threshold)
            largest = max(largest, float((again - scores.detach()).abs().max()))
        checks[str(threshold)] = {"zero_gradient_share": zero / len(images),
                                  "repeat_max_difference": largest}
    return checks


def attack_unit(unit: str, *args: object) -> tuple[str, tuple[list[dict], np.ndarray, dict]]:
    """`attack_chunk` named by its unit: results come back from a cluster in any order."""
    return unit, attack_chunk(unit, *args)


def attack_chunk(unit: str, member: str, victim: Victim, threshold: float | None,
                 epsilon: float | None, images: np.ndarray, labels: np.ndarray,
                 sources: np.ndarray, settings: AttackSettings, progress_file: Path | None = None
                 ) -> tuple[list[dict], np.ndarray, dict]:
    """One unit's attack, wherever it runs: its rows, the uint8 adversarials that some threshold
    decides wrongly (in row order), and its cost (with what a kept place had spent before, for
    a member that keeps one in `progress_file`)."""
    cost = Cost(victim)
    originals = as_tensor(images, victim)
    method = get_attack(member).build(victim, threshold, epsilon, settings)
    method.progress_file = progress_file
    with numpy_seeded_by(unit):  # for library attacks that draw from numpy's generator
        result = method.run(originals, torch.as_tensor(labels))
    adversarials = np.clip(np.rint(result.images[:, 0]), 0, 255)
    decisions = victim_decisions(victim, adversarials, settings.batch_size)
    difference = adversarials - images.astype(np.float64)
    linf = np.abs(difference).reshape(len(images), -1).max(axis=1)
    l2 = np.sqrt((difference ** 2).reshape(len(images), -1).sum(axis=1))
    wrong = (decisions != labels[:, None]).any(axis=1)
    rows = [_row(unit, member, victim, threshold, epsilon, int(source), int(labels[row]),
                 decisions[row], float(linf[row]), float(l2[row]))
            for row, source in enumerate(sources)]
    spent = cost.stop()
    spent = {name: spent[name] + method.carried_cost[name] for name in spent}
    spent["wall_s"] = round(spent["wall_s"], 3)
    return rows, adversarials[wrong].astype(np.uint8), spent


def _row(unit: str, member: str, victim: Victim, threshold: float | None,
         epsilon: float | None, source: int, source_class: int, decisions: np.ndarray,
         linf: float, l2: float) -> dict:
    decisions = [int(decision) for decision in decisions]
    return {"unit": unit, "member": member, "network": victim.name,
            "attacked_threshold": threshold, "attacked_epsilon": epsilon, "source": source,
            "source_class": source_class, "thresholds": list(victim.thresholds),
            "decisions": decisions, "wrong": any(d != source_class for d in decisions),
            "linf": linf, "l2": l2}


def cascade_cells(records: list[dict], members: tuple[str, ...],
                  epsilons: tuple[float, ...]) -> list[dict]:
    """Every cell (network, threshold, budget, source) of a cascade's records: robust, or
    broken first by which member (in the cascade's order, the clean decision first), with the
    decision, L-inf and L2 distances of that member's closest adversarial there."""
    order = {name: position for position, name in enumerate((CLEAN, *members))}
    sources: dict[str, dict[int, int]] = {}
    best: dict[tuple, tuple] = {}
    for record in records:
        sources.setdefault(record["network"], {})[record["source"]] = record["source_class"]
        for threshold, decision in zip(record["thresholds"], record["decisions"], strict=True):
            if decision == record["source_class"]:
                continue
            for epsilon in epsilons:
                if record["linf"] <= epsilon:
                    key = (record["network"], threshold, epsilon, record["source"])
                    rank = (order[record["member"]], record["linf"])
                    if key not in best or rank < best[key][0]:
                        best[key] = (rank, record, decision)
    thresholds = {record["network"]: record["thresholds"] for record in records}
    cells = []
    for network, classes in sources.items():
        for threshold in thresholds[network]:
            for epsilon in epsilons:
                for source, source_class in sorted(classes.items()):
                    _, record, decision = best.get((network, threshold, epsilon, source),
                                                   (None, None, None))
                    cells.append({
                        "network": network, "threshold": threshold, "epsilon": epsilon,
                        "source": source, "source_class": source_class,
                        "robust": record is None,
                        "broken_by": record["member"] if record else None,
                        "decision": decision,
                        "linf": record["linf"] if record else None,
                        "l2": record["l2"] if record else None})
    return cells


REVIEWER_CASCADE = register_attack(AttackSpec(
    name="reviewer", kind=CASCADE, members=REVIEWER_MEMBERS, order=110,
    summary="the reviewer's suite as one cascade: "
            + ", ".join(REVIEWER_MEMBERS) + "; each only where those before it failed"))


def check_members(spec: AttackSpec) -> None:
    """Every member is a budgeted attack (raises ValueError naming the first that is not)."""
    for member in spec.members:
        if get_attack(member).kind != BUDGETED:
            raise ValueError(f"cascade {spec.name!r}: member {member!r} is not budgeted")
