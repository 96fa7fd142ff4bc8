"""The targeted attacks' runner: false positives and false negatives, and their records.

Every correctly classified positive test image is attacked towards each other positive class
(a false positive) and towards None (a false negative); an attack whose spec has
`none_sources` also attacks each correctly classified None image towards every positive class
(kind "none-to-class"). A source the network already gets wrong at a threshold gets a record
with status "misclassified" and no attack there. What differs
between attacks is in their specs (attacks/registry.py): how each is built, whether it runs
once per threshold, copies the paper's attack's unclipped paths or starts from its adversarials.
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mindseye.attacks.base import Attack, AttackResult
from mindseye.attacks.ifgsm import OURS, PAPER_ATTACK, Variant
from mindseye.attacks.paper_records import (
    complete_copies,
    paper_adversarials,
    unclipped_trajectories,
)
from mindseye.attacks.records import RecordTable, perturbation
from mindseye.attacks.registry import AttackSpec
from mindseye.attacks.settings import CLAIM_POLL_SECONDS, AttackSettings, attacks_dir
from mindseye.attacks.sources import as_tensor, chunks, victim_decisions
from mindseye.attacks.victims import TripleStagedVictim, Victim
from mindseye.core.constants import FALSE_NEGATIVE, FALSE_POSITIVE, NONE_TO_CLASS

NONE_UNITS = "none-"  # the prefix of the numbers of a targeted attack's None-source units


def run_targeted(
    run_dir: Path,
    spec: AttackSpec,
    victim_list: list[Victim],
    test: dict[str, np.ndarray],
    selected: np.ndarray,
    settings: AttackSettings,
    variant: Variant = OURS,
) -> None:
    """Attack the selected test images of every victim, unit by unit, skipping finished units
    and leaving a unit another process holds to it (attacks/records.py); then wait for those,
    taking over any whose process ends first, so that the table is whole when this returns and
    an attack that reads it (transfer, FMN's starts, BPDA's copies) reads all of it. The paper's
    attack run another way (`variant`) writes to its own table, `variant.table()`."""
    table = variant.table() if spec.variants else spec.name
    records = RecordTable(attacks_dir(run_dir) / table)
    paper = RecordTable(attacks_dir(run_dir) / PAPER_ATTACK.name)
    images, labels = test["image"], test["label"]
    copies = unclipped_trajectories(paper) if spec.copies_unclipped else {}

    def attack_if_free(unit: str, part: Victim, sources: np.ndarray) -> bool:
        """Attack `unit` unless it is done or another process holds it; False if held."""
        if records.is_done(unit):
            return True
        with records.claimed(unit) as mine:
            if not mine:
                return False
            if not records.is_done(unit):  # another process may have finished it meanwhile
                new = attack_unit(records, paper, spec, unit, part, images, labels, sources,
                                  settings, copies, variant)
                records.write_unit(unit, new)
        return True

    held = []  # (unit, victim, sources) that other processes are attacking
    for victim in victim_list:
        units = planned_units(spec, victim, selected, labels, settings)
        for unit, part, sources in tqdm(units, desc=f"{table} {victim.name}", unit="chunk",
                                        leave=False):
            if not attack_if_free(unit, part, sources):
                held.append((unit, part, sources))
    if held:
        print(f"{table}: waiting for {len(held)} units other processes are attacking "
              f"({', '.join(unit for unit, _, _ in held)})", file=sys.stderr)
    while held:
        time.sleep(CLAIM_POLL_SECONDS)
        held = [(unit, part, sources) for unit, part, sources in held
                if not attack_if_free(unit, part, sources)]


def planned_units(spec: AttackSpec, victim: Victim, selected: np.ndarray, labels: np.ndarray,
                  settings: AttackSettings) -> list[tuple[str, Victim, np.ndarray]]:
    """The units `run_targeted` attacks `victim` in, in order: (unit, the victim it attacks,
    its sources). Positive sources, then (`none_sources`) None sources in units of their own,
    named "none-NUMBER" so that they never clash with the positives' units of an earlier run.
    A loss that depends on the threshold attacks the triple-staged network one threshold at a
    time (one victim, and trajectory, per threshold)."""
    source_sets = {"": selected[labels[selected] < victim.num_classes]}
    if spec.none_sources:
        source_sets[NONE_UNITS] = selected[labels[selected] == victim.num_classes]
    parts: list[Victim] = [victim]
    if spec.per_threshold and isinstance(victim, TripleStagedVictim):
        parts = [TripleStagedVictim(victim.name, victim.model, (t,)) for t in victim.thresholds]
    return [(f"{part.name}-{'-'.join(map(str, part.thresholds))}-{prefix}{number:05d}", part,
             sources)
            for part in parts for prefix, found in source_sets.items()
            for number, sources in chunks(found, settings.chunk)]


def unfinished_units(spec: AttackSpec, records: RecordTable, victim_list: list[Victim],
                     selected: np.ndarray, labels: np.ndarray, settings: AttackSettings
                     ) -> dict[tuple[str, bool], tuple[int, int]]:
    """Where a targeted table is begun but not finished: (network, whether from None
    sources) -> (units done, units planned), for the source sets that have some units done
    and not all (a set with none done was not asked for: an attack may run on some networks,
    or have run before it took None sources)."""
    done = records.done_units()
    found: dict[tuple[str, bool], tuple[int, int]] = {}
    for victim in victim_list:
        if victim.name not in spec.networks:
            continue
        planned: dict[bool, list[str]] = {False: [], True: []}
        for unit, _, sources in planned_units(spec, victim, selected, labels, settings):
            planned[bool(labels[sources[0]] == victim.num_classes)].append(unit)
        for from_none, units in planned.items():
            have = sum(unit in done for unit in units)
            if 0 < have < len(units):
                found[(victim.name, from_none)] = (have, len(units))
    return found


def finished_only(records: list[dict], running, none_label: int) -> list[dict]:
    """`records` less those of a (network, whether from None sources) in `running` (the keys
    of `unfinished_units`): what a report or comparison may judge while an attack runs."""
    return [record for record in records
            if (record["network"], record["source_class"] == none_label) not in running]


def attack_unit(
    records: RecordTable,
    paper: RecordTable,
    spec: AttackSpec,
    unit: str,
    victim: Victim,
    images: np.ndarray,
    labels: np.ndarray,
    sources: np.ndarray,
    settings: AttackSettings,
    copies: dict | None = None,
    variant: Variant = OURS,
) -> list[dict]:
    """Attack one chunk of sources towards every other label, save the adversarial images and
    return the unit's records. A pair found in `copies` (the paper's attack's records of the
    same unit) is copied, marked `copied_from`."""
    num_classes = victim.num_classes
    method = spec.build(victim, settings, variant)
    method.progress_file = records.progress_file(unit)  # a kill mid-unit resumes there
    table = records.folder.name
    clean = victim_decisions(victim, images[sources], settings.batch_size)  # (S, T)
    pairs = [(row, target) for row, source in enumerate(sources)
             for target in range(num_classes + 1) if target != labels[source]]
    correct = np.array([clean[row] == labels[sources[row]] for row, _ in pairs]).reshape(
        len(pairs), len(victim.thresholds))
    attacked = [pair for pair, ok in zip(pairs, correct.any(axis=1), strict=True) if ok]
    copied = complete_copies(copies or {}, unit, sources, pairs, correct, victim.thresholds,
                             method.max_steps)
    result, image_file = None, None
    if attacked:
        result = run_or_copy(spec, method, images, labels, sources, attacked, copied, paper)
        image_file = records.save_images(unit, np.rint(result.images).astype(np.uint8).reshape(
            -1, *images.shape[1:]))
    position = {pair: index for index, pair in enumerate(attacked)}
    new = []
    for (row, target), ok in zip(pairs, correct, strict=True):
        source, source_class = int(sources[row]), int(labels[sources[row]])
        for column in range(len(victim.thresholds)):
            header = record_header(table, unit, victim, source, source_class, target, column,
                                   method.max_steps)
            if not ok[column]:
                new.append({**header, "status": "misclassified"})
                continue
            index = position[(row, target)]
            record = unit_record(header, victim, column, images, result, index, image_file,
                                 copied=(row, target) in copied)
            if variant != OURS:
                # Which way the attack ran, and where it stopped: with stop_at "any-other" a
                # false positive may end at another positive class than its target.
                record["variant"] = {"stop_at": variant.stop_at, "loss": variant.loss,
                                     "clip": variant.clip}
                record["decision"] = int(result.decisions[index, column])
            new.append(record)
    return new


def run_or_copy(spec: AttackSpec, method: Attack, images: np.ndarray, labels: np.ndarray,
                sources: np.ndarray, attacked: list[tuple[int, int]],
                copied: dict[tuple[int, int], list[dict]], paper: RecordTable) -> AttackResult:
    """The attack's result for each (row, target) pair: run, or copied from the paper's
    attack's records (`paper`, the table the copies came from)."""
    victim = method.victim
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
        starts = ({"starts": paper_adversarials(paper, victim, sources[rows], targets.numpy(),
                                                images.shape[1:])}
                  if spec.starts_from_paper else {})
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
            result.images[index, column] = paper.load_image(row)
    return result


def record_header(table: str, unit: str, victim: Victim, source: int, source_class: int,
                  target: int, column: int, max_steps: int) -> dict:
    """The fields every targeted record has."""
    return {
        "unit": unit, "attack": table, "network": victim.name,
        "threshold": victim.thresholds[column], "source": source, "source_class": source_class,
        "target": target,
        "kind": (NONE_TO_CLASS if source_class == victim.num_classes
                 else FALSE_NEGATIVE if target == victim.num_classes else FALSE_POSITIVE),
        "max_steps": max_steps,
    }


def unit_record(header: dict, victim: Victim, column: int, images: np.ndarray,
                result: AttackResult, index: int, image_file: str, copied: bool) -> dict:
    """An attacked pair's record at one threshold: success, steps and the perturbation."""
    adversarial = result.images[index, column]
    return {
        **header,
        "status": "attacked",
        "success": bool(result.success[index, column]),
        "steps": int(result.steps[index, column]),
        **perturbation(images[header["source"]], adversarial),
        "image_file": image_file,
        "image_index": index * len(victim.thresholds) + column,
        **({"clipped_steps": int(result.clipped_steps[index])}
           if isinstance(victim, TripleStagedVictim) else {}),
        **({"copied_from": PAPER_ATTACK.name} if copied else {}),
    }
