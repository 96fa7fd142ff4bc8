"""ifgsm, ifgsm-bpda and adaptive: false positives and false negatives, and their records.

Every correctly classified positive test image is attacked towards each other positive class
(a false positive) and towards None (a false negative); a source the network already gets wrong
at a threshold gets a record with status "misclassified" and no attack there.
"""

from pathlib import Path

import numpy as np
from tqdm import tqdm

from mindseye.attacks.base import AttackResult
from mindseye.attacks.bpda_copy import complete_copies, run_or_copy, unclipped_trajectories
from mindseye.attacks.records import RecordTable, perturbation
from mindseye.attacks.settings import OURS, AttackSettings, Variant, attacks_dir, step_cap
from mindseye.attacks.sources import chunks, victim_decisions
from mindseye.attacks.victims import TripleStagedVictim, Victim


def run_targeted(
    run_dir: Path,
    attack: str,
    victim_list: list[Victim],
    test: dict[str, np.ndarray],
    selected: np.ndarray,
    settings: AttackSettings,
    variant: Variant = OURS,
) -> None:
    """Attack the selected test images of every victim, unit by unit, skipping finished units.
    ifgsm run another way (`variant`) writes to its own table, `variant.table()`."""
    if attack == "ifgsm":
        attack = variant.table()
    records = RecordTable(attacks_dir(run_dir) / attack)
    ifgsm = RecordTable(attacks_dir(run_dir) / "ifgsm")
    images, labels = test["image"], test["label"]
    copies = unclipped_trajectories(ifgsm) if attack == "ifgsm-bpda" else {}
    for victim in victim_list:
        positives = selected[labels[selected] < victim.num_classes]
        # The adaptive loss depends on the threshold: one victim (and trajectory) per threshold.
        if attack == "adaptive" and isinstance(victim, TripleStagedVictim):
            parts = [TripleStagedVictim(victim.name, victim.model, (t,)) for t in victim.thresholds]
        else:
            parts = [victim]
        for part in parts:
            units = list(chunks(positives, settings.chunk))
            label = f"{attack} {part.name}" + (f" @{part.thresholds[0]}" if len(parts) > 1 else "")
            for number, sources in tqdm(units, desc=label, unit="chunk", leave=False):
                unit = f"{part.name}-{'-'.join(map(str, part.thresholds))}-{number:05d}"
                if records.is_done(unit):  # also when another process finished it meanwhile
                    continue
                new = attack_unit(records, ifgsm, attack, unit, part, images, labels, sources,
                                  settings, copies, variant)
                records.write_unit(unit, new)


def attack_unit(
    records: RecordTable,
    ifgsm: RecordTable,
    attack: str,
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
    return the unit's records. A pair found in `copies` (ifgsm records of the same unit) is
    copied, marked `copied_from`."""
    num_classes = victim.num_classes
    clean = victim_decisions(victim, images[sources], settings.batch_size)  # (S, T)
    pairs = [(row, target) for row, source in enumerate(sources)
             for target in range(num_classes + 1) if target != labels[source]]
    correct = np.array([clean[row] == labels[sources[row]] for row, _ in pairs]).reshape(
        len(pairs), len(victim.thresholds))
    attacked = [pair for pair, ok in zip(pairs, correct.any(axis=1), strict=True) if ok]
    max_steps = step_cap(attack, settings, variant)
    copied = complete_copies(copies or {}, unit, sources, pairs, correct, victim.thresholds,
                             max_steps)
    result, image_file = None, None
    if attacked:
        result = run_or_copy(attack, victim, images, labels, sources, attacked, copied, ifgsm,
                             settings, variant)
        image_file = records.save_images(unit, np.rint(result.images).astype(np.uint8).reshape(
            -1, *images.shape[1:]))
    position = {pair: index for index, pair in enumerate(attacked)}
    new = []
    for (row, target), ok in zip(pairs, correct, strict=True):
        source, source_class = int(sources[row]), int(labels[sources[row]])
        for column in range(len(victim.thresholds)):
            if not ok[column]:
                new.append({**record_header(attack, unit, victim, source, source_class,
                                                target, column, max_steps),
                                "status": "misclassified"})
                continue
            index = position[(row, target)]
            record = unit_record(attack, unit, victim, source, source_class, target, column,
                                 max_steps, images, result, index, image_file,
                                 copied=(row, target) in copied)
            if variant != OURS:
                # Which way the attack ran, and where it stopped: with stop_at "any-other" a
                # false positive may end at another positive class than its target.
                record["variant"] = {"stop_at": variant.stop_at, "loss": variant.loss,
                                     "clip": variant.clip}
                record["decision"] = int(result.decisions[index, column])
            new.append(record)
    return new


def record_header(attack: str, unit: str, victim: Victim, source: int, source_class: int,
                  target: int, column: int, max_steps: int) -> dict:
    """The fields every targeted record has."""
    return {
        "unit": unit, "attack": attack, "network": victim.name,
        "threshold": victim.thresholds[column], "source": source, "source_class": source_class,
        "target": target,
        "kind": "false-negative" if target == victim.num_classes else "false-positive",
        "max_steps": max_steps,
    }


def unit_record(attack: str, unit: str, victim: Victim, source: int, source_class: int,
                target: int, column: int, max_steps: int, images: np.ndarray,
                result: AttackResult, index: int, image_file: str, copied: bool) -> dict:
    """An attacked pair's record at one threshold: success, steps and the perturbation."""
    adversarial = result.images[index, column]
    return {
        **record_header(attack, unit, victim, source, source_class, target, column, max_steps),
        "status": "attacked",
        "success": bool(result.success[index, column]),
        "steps": int(result.steps[index, column]),
        **perturbation(images[source], adversarial),
        "image_file": image_file,
        "image_index": index * len(victim.thresholds) + column,
        **({"clipped_steps": int(result.clipped_steps[index])}
           if isinstance(victim, TripleStagedVictim) else {}),
        **({"copied_from": "ifgsm"} if copied else {}),
    }
