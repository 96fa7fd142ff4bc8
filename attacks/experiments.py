"""The attack experiments on a run folder: which attack runs on which networks and images.

Each attack declares itself in its own module (attacks/registry.py); its kind says which
runner takes it: attacks/targeted.py (false positives and false negatives), attacks/budgeted.py
(robust accuracy at each L-inf budget), attacks/cascade.py (budgeted attacks one after another,
each where the ones before failed) or attacks/transfer.py. Every runner resumes, skipping
finished units. Records are kept by attacks/records.py, settings locked by attacks/settings.py.
"""

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from mindseye.attacks.budgeted import run_budgeted
from mindseye.attacks.cascade import cascade_cells, finished_networks, run_cascade
from mindseye.attacks.ifgsm import OURS, PAPER_ATTACK, Variant, variant_of_table, without_clip
from mindseye.attacks.records import RecordTable
from mindseye.attacks.registry import (
    BUDGETED,
    CASCADE,
    PAPER_IMAGES,
    TARGETED,
    TRANSFER,
    AttackSpec,
    attack_specs,
    spec_of_table,
    suite,
)
from mindseye.attacks.settings import (
    SETTINGS_FILE,
    AttackSettings,
    attacks_dir,
    lock_settings,
    recorded_settings,
    records_made_on,
)
from mindseye.attacks.sources import load_test_images, load_victims, select_per_class
from mindseye.attacks.targeted import run_targeted, unfinished_units
from mindseye.attacks.transfer import run_transfer
from mindseye.attacks.victims import TripleStagedVictim, Victim
from mindseye.core.constants import CLASSIFIERS, DIRECT_NETWORKS
from mindseye.dataset.fingerprint import data_fingerprint
from mindseye.models.runs import weights_fingerprint


def record_table(run_dir: Path, attack: str) -> RecordTable:
    """The records of one attack on a run: RUN/attacks/<attack>/."""
    return RecordTable(attacks_dir(run_dir) / attack)


def robustness_tables(run_dir: Path, epsilons: tuple[float, ...]) -> dict[str, list[dict]]:
    """Every budgeted attack's records on a run and every cascade's cells (`cascade_cells`, at
    the run's budgets `epsilons`) on the networks it has finished, by attack name; those with
    no records are left out. The rows share network, threshold, epsilon, source, source_class
    and robust: the worst case per image is taken over all of them."""
    tables = {spec.name: record_table(run_dir, spec.name).read()
              for spec in attack_specs(BUDGETED)}
    for spec in attack_specs(CASCADE):
        table = record_table(run_dir, spec.name)
        finished = finished_networks(table)
        records = [record for record in table.read() if record["network"] in finished]
        tables[spec.name] = cascade_cells(records, spec.members, epsilons) if records else []
    return {name: rows for name, rows in tables.items() if rows}


def variant_tables(run_dir: Path) -> list[str]:
    """The tables of the paper's attack run other ways (`ifgsm+...`), in name order."""
    folder = attacks_dir(run_dir)
    if not folder.is_dir():
        return []
    return sorted(path.name for path in folder.iterdir()
                  if path.is_dir() and variant_of_table(path.name) not in (None, OURS))


def targeted_tables(run_dir: Path) -> list[str]:
    """Every targeted table a run may hold, in report order: the paper's attack, its
    variants, then the other targeted attacks."""
    others = [spec.name for spec in attack_specs(TARGETED) if spec != PAPER_ATTACK]
    return [PAPER_ATTACK.name, *variant_tables(run_dir), *others]


def unfinished_targeted(run_dir: Path, victim_list: list[Victim], labels: np.ndarray,
                        num_labels: int, settings: AttackSettings
                        ) -> dict[str, dict[tuple[str, bool], tuple]]:
    """Per targeted table begun but not finished somewhere: (network, whether from None
    sources) -> (units done, units planned) (`targeted.unfinished_units`), planned with the
    run's locked sizes and thresholds (not `settings`', which a report may take from elsewhere).
    A report leaves those records out until the attack has finished them, as it does a
    cascade's."""
    recorded = recorded_settings(run_dir)
    if recorded is None:  # nothing attacked yet
        return {}
    settings = replace(settings, **recorded)
    victim_list = [TripleStagedVictim(victim.name, victim.model, settings.thresholds)
                   if isinstance(victim, TripleStagedVictim) else victim
                   for victim in victim_list]
    found = {}
    for table in targeted_tables(run_dir):
        records = record_table(run_dir, table)
        if not records.done_units():
            continue
        spec = spec_of_table(table)
        per_class = (settings.per_class if spec.images == PAPER_IMAGES
                     else settings.extra_per_class)
        selected = select_per_class(labels, per_class, num_labels)
        running = unfinished_units(spec, records, victim_list, selected, labels, settings)
        if running:
            found[table] = running
    return found


def run_attack(run_dir: Path, data_dir: Path, attack: str, settings: AttackSettings,
               networks: tuple[str, ...] = CLASSIFIERS, variant: Variant = OURS,
               scheduler: str | None = None, jobs: int = 1) -> None:
    """Run one attack (or `all`, in the registry's order, where transfer finds the images it
    shows) on the given networks. Records are per network, so runs on different networks (on
    different machines, say) add up to one run. Transfer shows the direct networks' adversarials
    to the given networks, making them first where the direct networks are among those.
    `variant` runs the paper's attack another way, into its own table (attacks/ifgsm.py).
    `scheduler` (a Dask scheduler's address) runs a cascade's units on that cluster, `jobs` in
    that many processes here.
    The data's shards are checked against their manifest first, and the records are tied to
    the data and the weights they are made on (RUN/attacks/settings.json)."""
    specs = suite(attack)
    if variant != OURS and not all(spec.variants for spec in specs):
        raise ValueError(f"a variant applies to {PAPER_ATTACK.name} alone")
    data = data_fingerprint(data_dir)
    classes, test = load_test_images(data_dir)
    agreeing = sources_agreeing(run_dir, data, test["image"])
    # said once for the whole suite, over every image one of its attacks takes here
    taken = [attacked_sources(spec, test["label"], settings, len(classes)) for spec in specs
             if set(networks) & set(spec.networks)]
    if taken:
        warn_unshown_sources(run_dir, np.unique(np.concatenate(taken)), agreeing)
    weights: dict[str, str] = {}
    for spec in specs:
        run_one(run_dir, spec, classes, test, data, weights, settings, networks, variant,
                scheduler, agreeing, jobs)


def sources_agreeing(run_dir: Path, data: str, images: np.ndarray) -> frozenset[int] | None:
    """Where the run's records were made on other data than `data` (`records_made_on`): the
    test images the records agree with here. The same render can differ across machines in
    samples no record touches, so a re-rendered dataset may have another digest. Every stored
    adversarial must lie at its recorded distances from the test image it was made from
    (`at_recorded_distances`); the images it returns are those with one at least, none
    where any one does not (or its image file is gone). None where the records were made on
    `data`, or where that is not known."""
    made_on = records_made_on(run_dir)
    if made_on in (None, data):
        return None
    agreeing: set[int] = set()
    checked = 0
    loaded: dict[str, np.ndarray] = {}
    for folder in sorted(path for path in attacks_dir(run_dir).iterdir() if path.is_dir()):
        for record in RecordTable(folder).read():
            if not {"image_file", "image_index", "linf", "source"} <= record.keys():
                continue
            file = record["image_file"]
            try:
                if file not in loaded:
                    loaded[file] = np.load(attacks_dir(run_dir) / file, mmap_mode="r")
                difference = (loaded[file][record["image_index"]].astype(np.float64)
                              - images[record["source"]])
            except (OSError, ValueError, IndexError):  # gone, damaged, or not this split's
                return frozenset()
            if not at_recorded_distances(difference, record):
                return frozenset()
            agreeing.add(int(record["source"]))
            checked += 1
    if checked:
        print(f"{attacks_dir(run_dir) / SETTINGS_FILE}: the records were made on data "
              f"{made_on[:12]}, this is {data[:12]}; the {checked} stored adversarials all lie "
              f"at their recorded distances from this data's test images, so the "
              f"{len(agreeing)} images they were made from agree here", file=sys.stderr)
    return frozenset(agreeing)


# How far a measured distance may be from the recorded one. Sums of squared whole grey levels
# are exact in float64, so one pixel a grey level off moves L2 by 3e-5 at least and the
# distortion (its RMS / 255) by 1.9e-9 at least; the checks are well inside both.
DISTANCE_TOLERANCES = {"linf": 1e-6, "l2": 1e-8, "distortion": 1e-11}


def at_recorded_distances(difference: np.ndarray, record: dict) -> bool:
    """Whether an adversarial minus its source (`difference`, float64) has the record's L-inf
    distance, and its L2 (`l2`) and distortion where the record has them; a value that is
    missing where required, not a number, or NaN disagrees. Several pixels changed together
    can keep every distance, so agreement is evidence, not proof, of the same source."""
    measured = {"linf": np.abs(difference).max(), "l2": np.sqrt(np.sum(difference**2)),
                "distortion": np.sqrt(np.mean(difference**2)) / 255}
    for name, tolerance in DISTANCE_TOLERANCES.items():
        if name != "linf" and name not in record:
            continue
        recorded = record.get(name)
        if not isinstance(recorded, int | float) or not abs(measured[name] - recorded) <= tolerance:
            return False
    return True


def attacked_sources(spec: AttackSpec, labels: np.ndarray, settings: AttackSettings,
                     num_labels: int) -> np.ndarray:
    """The test images `spec` takes: the first `per_class` of each label for the paper's
    images, `extra_per_class` for the attacks beyond the paper."""
    per_class = settings.per_class if spec.images == PAPER_IMAGES else settings.extra_per_class
    return select_per_class(labels, per_class, num_labels)


def warn_unshown_sources(run_dir: Path, selected: np.ndarray,
                         agreeing: frozenset[int] | None) -> None:
    """On other data than the records' (`agreeing` not empty), the test images the attacks
    take that no record shows are the same here: a unit still to run on one of them is made
    on this data's image, which may differ from the one the records' data holds. Finished
    units are skipped, so this is said, not refused (a run's remaining units may all be
    on images shown to be the same)."""
    if not agreeing:
        return
    unshown = sorted(set(selected.tolist()) - agreeing)
    if unshown:
        print(f"{attacks_dir(run_dir) / SETTINGS_FILE}: {len(unshown)} of the {len(selected)} "
              f"test images the attacks take have no stored adversarial to show they are the "
              f"same as in the data the records were made on (test images "
              f"{', '.join(map(str, unshown[:5]))}{'...' if len(unshown) > 5 else ''}); a unit "
              "still to run on them is made on this data's images", file=sys.stderr)


def run_one(run_dir: Path, spec: AttackSpec, classes: list[str], test: dict, data: str,
            weights: dict[str, str], settings: AttackSettings, networks: tuple[str, ...],
            variant: Variant, scheduler: str | None = None,
            agreeing: frozenset[int] | None = None, jobs: int = 1) -> None:
    """One attack; `weights` holds the networks' digests computed so far (each once);
    `agreeing` as `sources_agreeing` returns it."""
    networks = tuple(name for name in networks if name in spec.networks)
    if not networks:
        return
    selected = attacked_sources(spec, test["label"], settings, len(classes))
    clip = variant.clip if spec.variants else spec.clip
    # Every input is checked (device, weights, classes) before the lock is written.
    victims = load_victims(run_dir, classes, settings, networks,
                           clip if spec.kind == TARGETED else "hard")
    for name in networks:
        weights.setdefault(name, weights_fingerprint(run_dir, name))
    lock_settings(run_dir, settings, data=data,
                  weights={name: weights[name] for name in networks},
                  records_agree=bool(agreeing))
    if spec.kind == TRANSFER:
        # The direct networks' adversarials: made here if they are attacked, else from records.
        origins = [victim for victim in victims if victim.name in DIRECT_NETWORKS]
        if origins:
            run_targeted(run_dir, PAPER_ATTACK, origins, test, selected, settings)
        # The triple-staged network's own false positives: not a variant that removes its clip.
        reverse = tuple(table for table in targeted_tables(run_dir) if not without_clip(table))
        run_transfer(run_dir, victims, settings, reverse_tables=reverse)
    elif spec.kind == BUDGETED:
        run_budgeted(run_dir, spec, victims, test, selected, settings)
    elif spec.kind == CASCADE:
        run_cascade(run_dir, spec, victims, test, selected, settings, scheduler=scheduler,
                    jobs=jobs)
    else:
        run_targeted(run_dir, spec, victims, test, selected, settings, variant)
