"""The attack experiments on a run folder: which attack runs on which networks and images.

Each attack declares itself in its own module (attacks/registry.py); its kind says which
runner takes it: attacks/targeted.py (false positives and false negatives), attacks/budgeted.py
(robust accuracy at each L-inf budget), attacks/cascade.py (budgeted attacks one after another,
each where the ones before failed) or attacks/transfer.py. Every runner resumes, skipping
finished units. Records are kept by attacks/records.py, settings locked by attacks/settings.py.
"""

from pathlib import Path

from mindseye.attacks.budgeted import run_budgeted
from mindseye.attacks.cascade import run_cascade
from mindseye.attacks.ifgsm import OURS, PAPER_ATTACK, Variant, variant_of_table
from mindseye.attacks.records import RecordTable
from mindseye.attacks.registry import (
    BUDGETED,
    CASCADE,
    PAPER_IMAGES,
    TARGETED,
    TRANSFER,
    AttackSpec,
    attack_specs,
    suite,
)
from mindseye.attacks.settings import AttackSettings, attacks_dir, lock_settings
from mindseye.attacks.sources import load_test_images, load_victims, select_per_class
from mindseye.attacks.targeted import run_targeted
from mindseye.attacks.transfer import run_transfer
from mindseye.core.constants import CLASSIFIERS, DIRECT_NETWORKS
from mindseye.dataset.fingerprint import data_fingerprint
from mindseye.models.runs import weights_fingerprint


def record_table(run_dir: Path, attack: str) -> RecordTable:
    """The records of one attack on a run: RUN/attacks/<attack>/."""
    return RecordTable(attacks_dir(run_dir) / attack)


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


def run_attack(run_dir: Path, data_dir: Path, attack: str, settings: AttackSettings,
               networks: tuple[str, ...] = CLASSIFIERS, variant: Variant = OURS,
               scheduler: str | None = None) -> None:
    """Run one attack (or `all`, in the registry's order, where transfer finds the images it
    shows) on the given networks. Records are per network, so runs on different networks (on
    different machines, say) add up to one run. Transfer shows the direct networks' adversarials
    to the given networks, making them first where the direct networks are among those.
    `variant` runs the paper's attack another way, into its own table (attacks/ifgsm.py).
    `scheduler` (a Dask scheduler's address) runs a cascade's units on that cluster.
    The data's shards are checked against their manifest first, and the records are tied to
    the data and the weights they are made on (RUN/attacks/settings.json)."""
    specs = suite(attack)
    if variant != OURS and not all(spec.variants for spec in specs):
        raise ValueError(f"a variant applies to {PAPER_ATTACK.name} alone")
    data = data_fingerprint(data_dir)
    classes, test = load_test_images(data_dir)
    weights: dict[str, str] = {}
    for spec in specs:
        run_one(run_dir, spec, classes, test, data, weights, settings, networks, variant,
                scheduler)


def run_one(run_dir: Path, spec: AttackSpec, classes: list[str], test: dict, data: str,
            weights: dict[str, str], settings: AttackSettings, networks: tuple[str, ...],
            variant: Variant, scheduler: str | None = None) -> None:
    """One attack; `weights` holds the networks' digests computed so far (each once)."""
    networks = tuple(name for name in networks if name in spec.networks)
    if not networks:
        return
    per_class = settings.per_class if spec.images == PAPER_IMAGES else settings.extra_per_class
    selected = select_per_class(test["label"], per_class, len(classes))
    clip = variant.clip if spec.variants else spec.clip
    # Every input is checked (device, weights, classes) before the lock is written.
    victims = load_victims(run_dir, classes, settings, networks,
                           clip if spec.kind == TARGETED else "hard")
    for name in networks:
        weights.setdefault(name, weights_fingerprint(run_dir, name))
    lock_settings(run_dir, settings, data=data,
                  weights={name: weights[name] for name in networks})
    if spec.kind == TRANSFER:
        # The direct networks' adversarials: made here if they are attacked, else from records.
        origins = [victim for victim in victims if victim.name in DIRECT_NETWORKS]
        if origins:
            run_targeted(run_dir, PAPER_ATTACK, origins, test, selected, settings)
        # The triple-staged network's own false positives: not a variant that removes its clip.
        reverse = tuple(table for table in targeted_tables(run_dir)
                        if (variant_of_table(table) or OURS).clip != "none")
        run_transfer(run_dir, victims, settings, reverse_tables=reverse)
    elif spec.kind == BUDGETED:
        run_budgeted(run_dir, spec, victims, test, selected, settings)
    elif spec.kind == CASCADE:
        run_cascade(run_dir, spec, victims, test, selected, settings, scheduler=scheduler)
    else:
        run_targeted(run_dir, spec, victims, test, selected, settings, variant)
