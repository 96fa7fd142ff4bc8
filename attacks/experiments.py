"""The attack experiments on a run folder: which images, which targets, which networks, and the
records each writes (attacks/records.py). Every experiment resumes, skipping finished units.

- ifgsm, ifgsm-bpda, adaptive: every correctly classified positive test image to each other
  positive class (false positives) and to None (false negatives); misclassified originals get a
  record with status "misclassified" and no attack. ifgsm-bpda is the triple-staged network only.
- pgd, square: every selected test image (None included), untargeted, at each L-inf budget.
- transfer: the successful ifgsm adversarials of the direct networks, shown to the others.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from attacks.adaptive import AdaptiveMargin
from attacks.base import AttackResult
from attacks.ifgsm import IterativeFGSM
from attacks.pgd import PGD
from attacks.records import RecordTable, perturbation
from attacks.settings import (
    ATTACKS,
    DIRECT_NETWORKS,
    EXTRA_ATTACKS,
    NETWORKS,
    RECORDED_SETTINGS,
    TRIPLE_STAGED,
    AttackSettings,
    check_attack_name,
)
from attacks.square import Square
from attacks.victims import DirectVictim, TripleStagedVictim, Victim
from core.errors import UserError
from core.files import write_json_atomic


def attacks_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "attacks"


def table(run_dir: Path, attack: str) -> RecordTable:
    return RecordTable(attacks_dir(run_dir) / f"{attack}.jsonl")


def run_attack(run_dir: Path, data_dir: Path, attack: str, settings: AttackSettings,
               networks: tuple[str, ...] = NETWORKS) -> None:
    """Run one experiment (or `all`, in an order where transfer finds its ifgsm images) on the
    given networks. Records are per network, so runs on different networks (on different
    machines, say) add up to one run. Transfer shows the direct networks' ifgsm adversarials to
    the given networks, making them first where the direct networks are among those."""
    if attack == "all":
        for name in ATTACKS:
            run_attack(run_dir, data_dir, name, settings, networks)
        return
    check_attack_name(attack)
    check_recorded_settings(run_dir, settings)
    if attack == "ifgsm-bpda":
        networks = tuple(name for name in networks if name == TRIPLE_STAGED)
    if not networks:
        return
    classes, test = load_test_images(data_dir)
    per_class = settings.extra_per_class if attack in EXTRA_ATTACKS else settings.per_class
    selected = select_per_class(test["label"], per_class, len(classes))
    if attack == "transfer":
        # The direct networks' adversarials: made here if they are attacked, else from records.
        origins = tuple(name for name in networks if name in DIRECT_NETWORKS)
        if origins:
            run_targeted(run_dir, "ifgsm", victims(run_dir, classes, settings, origins),
                         test, selected, settings)
        run_transfer(run_dir, victims(run_dir, classes, settings, networks), test, settings)
    elif attack in ("pgd", "square"):
        run_budgeted(run_dir, attack, victims(run_dir, classes, settings, networks), test,
                     selected, settings)
    else:
        # The adaptive attack takes every gradient there is: the clip's too, as BPDA does.
        clip = "straight_through" if attack in ("ifgsm-bpda", "adaptive") else "hard"
        run_targeted(run_dir, attack, victims(run_dir, classes, settings, networks, clip),
                     test, selected, settings)


def check_recorded_settings(run_dir: Path, settings: AttackSettings) -> None:
    """The first attack on a run writes RUN/attacks/settings.json; later ones must match it,
    because finished units are skipped by name and would silently mix two set-ups."""
    path = attacks_dir(run_dir) / "settings.json"
    wanted = {name: getattr(settings, name) for name in RECORDED_SETTINGS}
    wanted = json.loads(json.dumps(wanted))  # tuples as lists, as they come back from the file
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, wanted)
        return
    recorded = json.loads(path.read_text())
    changed = [f"{name} {recorded.get(name)} -> {value}" for name, value in wanted.items()
               if recorded.get(name) != value]
    if changed:
        raise UserError(f"{path}: the attacks in this run used other settings ("
                        f"{'; '.join(changed)}); attack with the recorded settings, or move "
                        f"{attacks_dir(run_dir)} away to start the attacks afresh")


def load_test_images(data_dir: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """The class list (None last) and the test split's images and labels."""
    from dataset.manifest import read_manifest
    from dataset.shards import load_split

    return read_manifest(data_dir).classes, load_split(data_dir, "test", ("image", "label"))


def select_per_class(labels: np.ndarray, per_class: int, num_labels: int) -> np.ndarray:
    """Indices of the first `per_class` test images of each label, in index order."""
    chosen = [np.flatnonzero(labels == label)[:per_class] for label in range(num_labels)]
    return np.sort(np.concatenate(chosen))


def victims(
    run_dir: Path,
    classes: list[str],
    settings: AttackSettings,
    networks: tuple[str, ...] = NETWORKS,
    clip: str = "hard",
) -> list[Victim]:
    """The run's networks, checked against the data's classes (models/runs.py raises UserError
    naming a missing network folder or a class mismatch)."""
    from models.runs import load_classifier, load_triple_staged, resolve_device

    device = str(resolve_device(settings.device))
    found = []
    for name in networks:
        if name == TRIPLE_STAGED:
            model = load_triple_staged(run_dir, classes, clip=clip, device=device)
            found.append(TripleStagedVictim(name, model, settings.thresholds))
        else:
            model = load_classifier(run_dir, name, classes, device=device)
            found.append(DirectVictim(name, model, len(classes) - 1))
    return found


def as_tensor(images: np.ndarray, victim: Victim) -> torch.Tensor:
    device = next(victim.model.parameters()).device
    return torch.as_tensor(images, dtype=torch.float32, device=device)[:, None]


def outputs_and_decisions(victim: Victim, images: np.ndarray,
                          batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The victim's outputs (N, ...) and decisions (N, T) for uint8 images (N, 64, 64)."""
    outputs, decisions = [], []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = victim.outputs(as_tensor(images[start : start + batch_size], victim))
            outputs.append(batch.cpu())
            decisions.append(victim.decisions(batch).cpu())
    if not outputs:
        return np.zeros((0, 0), np.float32), np.zeros((0, len(victim.thresholds)), np.int64)
    return torch.cat(outputs).numpy(), torch.cat(decisions).numpy()


def decide(victim: Victim, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Decisions (N, T) at each of the victim's thresholds for uint8 images (N, 64, 64)."""
    return outputs_and_decisions(victim, images, batch_size)[1]


def chunks(indices: np.ndarray, size: int) -> Iterator[tuple[int, np.ndarray]]:
    for number, start in enumerate(range(0, len(indices), size)):
        yield number, indices[start : start + size]


def run_targeted(
    run_dir: Path,
    attack: str,
    victim_list: list[Victim],
    test: dict[str, np.ndarray],
    selected: np.ndarray,
    settings: AttackSettings,
) -> None:
    """ifgsm / ifgsm-bpda / adaptive: false positives and false negatives of every victim."""
    records = table(run_dir, attack)
    done = records.done_units()
    images, labels = test["image"], test["label"]
    copies = unclipped_trajectories(table(run_dir, "ifgsm")) if attack == "ifgsm-bpda" else {}
    for victim in victim_list:
        num_classes = victim.num_classes
        positives = selected[labels[selected] < num_classes]
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
                if unit not in done:
                    attack_unit(records, attack, unit, part, images, labels, sources, settings,
                                copies)


def unclipped_trajectories(ifgsm: RecordTable) -> dict[tuple[str, int, int], list[dict]]:
    """The paper's attack's trajectories whose gradients never met the estimator's clip,
    by (unit, source, target), with their records (one per threshold). BPDA differs from the
    paper's attack only in the clip's gradient, so on these it would take the same path
    (bit for bit in float64; tests/attacks/test_base.py) and copies them instead of spending
    hours to repeat them."""
    found: dict[tuple[str, int, int], list[dict]] = {}
    for record in ifgsm.read():
        if record.get("clipped_steps") is not None:  # absent: recorded before it was counted
            found.setdefault((record["unit"], record["source"], record["target"]), []).append(
                record)
    return {key: rows for key, rows in found.items() if all(r["clipped_steps"] == 0 for r in rows)}


def attack_unit(
    records: RecordTable,
    attack: str,
    unit: str,
    victim: Victim,
    images: np.ndarray,
    labels: np.ndarray,
    sources: np.ndarray,
    settings: AttackSettings,
    copies: dict[tuple[str, int, int], list[dict]] | None = None,
) -> None:
    """Attack one chunk of sources towards every other label and append its records. A pair
    found in `copies` (ifgsm records of the same unit) is copied, marked `copied_from`."""
    num_classes = victim.num_classes
    clean = decide(victim, images[sources], settings.batch_size)  # (S, T)
    pairs = [(row, target) for row, source in enumerate(sources)
             for target in range(num_classes + 1) if target != labels[source]]
    correct = np.array([clean[row] == labels[sources[row]] for row, _ in pairs]).reshape(
        len(pairs), len(victim.thresholds))
    attacked = [pair for pair, ok in zip(pairs, correct.any(axis=1), strict=True) if ok]
    copied = complete_copies(copies or {}, unit, sources, pairs, correct, victim.thresholds,
                             settings.max_steps)
    if attacked:
        result = run_or_copy(attack, victim, images, sources, attacked, copied, records,
                             settings)
        image_file = records.save_images(unit, np.rint(result.images).astype(np.uint8).reshape(
            -1, *images.shape[1:]))
    new = []
    position = {pair: index for index, pair in enumerate(attacked)}
    for (row, target), ok in zip(pairs, correct, strict=True):
        source = int(sources[row])
        for column, threshold in enumerate(victim.thresholds):
            record = {
                "unit": unit, "attack": attack, "network": victim.name, "threshold": threshold,
                "source": source, "source_class": int(labels[source]), "target": target,
                "kind": "false-negative" if target == num_classes else "false-positive",
                "max_steps": settings.max_steps,
            }
            if not ok[column]:
                new.append({**record, "status": "misclassified"})
                continue
            index = position[(row, target)]
            adversarial = result.images[index, column]
            new.append({
                **record, "status": "attacked",
                "success": bool(result.success[index, column]),
                "steps": int(result.steps[index, column]),
                **perturbation(images[source], adversarial),
                "image_file": image_file,
                "image_index": index * len(victim.thresholds) + column,
                **({"clipped_steps": int(result.clipped_steps[index])}
                   if isinstance(victim, TripleStagedVictim) else {}),
                **({"copied_from": "ifgsm"} if (row, target) in copied else {}),
            })
    records.append(new)


def complete_copies(copies: dict[tuple[str, int, int], list[dict]], unit: str,
                    sources: np.ndarray, pairs: list[tuple[int, int]], correct: np.ndarray,
                    thresholds: tuple, max_steps: int) -> dict[tuple[int, int], list[dict]]:
    """The (row, target) pairs of this unit that `copies` covers completely: a row for exactly
    the thresholds attacked here (`correct`), with the same step cap. Anything less (a table
    cut short, say) is attacked afresh."""
    found = {}
    for pair, ok in zip(pairs, correct, strict=True):
        rows = copies.get((unit, int(sources[pair[0]]), pair[1]), [])
        wanted = {t for t, attacked_here in zip(thresholds, ok, strict=True) if attacked_here}
        if (rows and len(rows) == len(wanted) and {row["threshold"] for row in rows} == wanted
                and all(row["max_steps"] == max_steps for row in rows)):
            found[pair] = rows
    return found


def run_or_copy(attack: str, victim: Victim, images: np.ndarray, sources: np.ndarray,
                attacked: list[tuple[int, int]], copied: dict[tuple[int, int], list[dict]],
                records: RecordTable, settings: AttackSettings) -> AttackResult:
    """The attack's result for each (row, target) pair: run, or copied from ifgsm records."""
    maker = AdaptiveMargin if attack == "adaptive" else IterativeFGSM
    method = maker(victim, max_steps=settings.max_steps, batch_size=settings.batch_size)
    to_run = [pair for pair in attacked if pair not in copied]
    thresholds = len(victim.thresholds)
    result = AttackResult(np.zeros((len(attacked), thresholds), np.int64),
                          np.zeros((len(attacked), thresholds), bool),
                          np.zeros((len(attacked), thresholds, *images.shape[1:]), np.float32),
                          np.zeros(len(attacked), np.int64))
    if to_run:
        rows = np.array([row for row, _ in to_run], dtype=int)
        targets = torch.tensor([target for _, target in to_run], dtype=torch.long)
        ran = method.run(as_tensor(images[sources[rows]], victim),
                         targets.to(next(victim.model.parameters()).device))
        where = [attacked.index(pair) for pair in to_run]
        for name in ("steps", "success", "images", "clipped_steps"):
            getattr(result, name)[where] = getattr(ran, name)
    ifgsm = RecordTable(records.path.with_name("ifgsm.jsonl"))  # beside ours, in RUN/attacks
    for pair, rows in copied.items():
        index = attacked.index(pair)
        by_threshold = {row["threshold"]: row for row in rows}
        for column, threshold in enumerate(victim.thresholds):
            row = by_threshold.get(threshold)
            if row is None:
                continue  # misclassified at this threshold: attack_unit writes no result
            result.steps[index, column], result.success[index, column] = (row["steps"],
                                                                          row["success"])
            result.images[index, column] = ifgsm.load_image(row)
    return result


def run_budgeted(
    run_dir: Path,
    attack: str,
    victim_list: list[Victim],
    test: dict[str, np.ndarray],
    selected: np.ndarray,
    settings: AttackSettings,
) -> None:
    """pgd / square: untargeted at each budget; a sample is robust if its decision stays right."""
    records = table(run_dir, attack)
    done = records.done_units()
    images, labels = test["image"], test["label"]
    jobs = [(victim, threshold, epsilon) for victim in victim_list
            for threshold in victim.thresholds for epsilon in settings.epsilons]
    for victim, threshold, epsilon in tqdm(jobs, desc=attack, unit="budget", leave=False):
        for number, sources in chunks(selected, settings.chunk):
            unit = f"{victim.name}-{threshold}-{epsilon}-{number:05d}"
            if unit in done:
                continue
            if attack == "pgd":
                method = PGD(victim, threshold, epsilon, settings.pgd_iterations,
                             settings.batch_size)
            else:
                method = Square(victim, threshold, epsilon, settings.square_queries,
                                settings.batch_size)
            source_images = images[sources][:, None].astype(np.float32)
            clean = method.classifier.predict(source_images).argmax(axis=1)
            adversarials, decisions = method.run(source_images, labels[sources])
            # An image already misclassified counts as not robust whatever the attack did.
            decisions = np.where(clean == labels[sources], decisions, clean)
            linf = np.abs(adversarials - source_images).reshape(len(sources), -1).max(axis=1)
            records.append([
                {"unit": unit, "attack": attack, "network": victim.name, "threshold": threshold,
                 "epsilon": float(epsilon), "source": int(source),
                 "source_class": int(labels[source]), "clean_decision": int(clean[row]),
                 "decision": int(decisions[row]), "robust": bool(decisions[row] == labels[source]),
                 "linf": float(linf[row])}
                for row, source in enumerate(sources)
            ])


def run_transfer(
    run_dir: Path, victim_list: list[Victim], test: dict[str, np.ndarray], settings: AttackSettings
) -> None:
    """Show the direct networks' successful ifgsm adversarials to every other network."""
    made = [record for record in table(run_dir, "ifgsm").read()
            if record["network"] in DIRECT_NETWORKS and record.get("success")]
    records = table(run_dir, "transfer")
    done = records.done_units()
    ifgsm = table(run_dir, "ifgsm")
    for origin in DIRECT_NETWORKS:
        adversarials = [record for record in made if record["network"] == origin]
        if not adversarials:
            continue
        stack = np.stack([ifgsm.load_image(record) for record in adversarials])
        for victim in victim_list:
            unit = f"{origin}-to-{victim.name}"
            if victim.name == origin or unit in done:
                continue
            decisions = decide(victim, stack, settings.batch_size)
            records.append([
                {"unit": unit, "attack": "transfer", "origin": origin, "network": victim.name,
                 "threshold": threshold, "source": made_record["source"],
                 "source_class": made_record["source_class"], "target": made_record["target"],
                 "kind": made_record["kind"], "decision": int(decisions[row, column]),
                 "fooled": bool(decisions[row, column] == made_record["target"]),
                 "still_correct": bool(decisions[row, column] == made_record["source_class"])}
                for row, made_record in enumerate(adversarials)
                for column, threshold in enumerate(victim.thresholds)
            ])
