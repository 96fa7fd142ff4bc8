"""The attack experiments on a run folder: which experiment runs on which networks.

Each experiment lives in its own module and resumes, skipping finished units:
- ifgsm, ifgsm-bpda, adaptive, fmn-l2, fmn-linf (attacks/targeted.py): false positives and
  false negatives;
  ifgsm-bpda is the triple-staged network only, and copies what it would repeat
  (attacks/bpda_copy.py);
- pgd, square (attacks/budgeted.py): robust accuracy at each L-inf budget;
- transfer (attacks/transfer.py): the direct networks' ifgsm adversarials, shown to the others,
  and the triple-staged network's false positives (every targeted table), shown to the direct
  networks.
Their records are kept by attacks/records.py, their settings locked by attacks/settings.py.
"""

from pathlib import Path

from mindseye.attacks.budgeted import run_budgeted
from mindseye.attacks.records import RecordTable
from mindseye.attacks.settings import (
    ATTACKS,
    BUDGETED_TABLES,
    EXTRA_ATTACKS,
    MINIMAL_NORM_ATTACKS,
    OURS,
    POSE_SEARCH,
    AttackSettings,
    Variant,
    attacks_dir,
    check_attack_name,
    lock_settings,
    variant_of_table,
)
from mindseye.attacks.sources import load_test_images, load_victims, select_per_class
from mindseye.attacks.targeted import run_targeted
from mindseye.attacks.transfer import run_transfer
from mindseye.core.constants import CLASSIFIERS, DIRECT_NETWORKS, TRIPLE_STAGED


def record_table(run_dir: Path, attack: str) -> RecordTable:
    """The records of one attack on a run: RUN/attacks/<attack>/."""
    return RecordTable(attacks_dir(run_dir) / attack)


def variant_tables(run_dir: Path) -> list[str]:
    """The tables of ifgsm variants on a run (`ifgsm+...`), in name order."""
    folder = attacks_dir(run_dir)
    if not folder.is_dir():
        return []
    return sorted(path.name for path in folder.iterdir()
                  if path.is_dir() and variant_of_table(path.name) not in (None, OURS))


def run_attack(run_dir: Path, data_dir: Path, attack: str, settings: AttackSettings,
               networks: tuple[str, ...] = CLASSIFIERS, variant: Variant = OURS) -> None:
    """Run one experiment (or `all`, in an order where transfer finds its ifgsm images) on the
    given networks. Records are per network, so runs on different networks (on different
    machines, say) add up to one run. Transfer shows the direct networks' ifgsm adversarials to
    the given networks, making them first where the direct networks are among those.
    `variant` runs ifgsm another way, into its own table (attacks/settings.py)."""
    if variant != OURS and attack != "ifgsm":
        raise ValueError("a variant applies to ifgsm alone")
    if attack == "all":
        for name in ATTACKS:
            run_attack(run_dir, data_dir, name, settings, networks)
        return
    check_attack_name(attack)
    lock_settings(run_dir, settings)
    if attack in ("ifgsm-bpda", POSE_SEARCH):
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
            run_targeted(run_dir, "ifgsm", load_victims(run_dir, classes, settings, origins),
                         test, selected, settings)
        # The triple-staged network's own false positives: not a variant that removes its clip.
        reverse = ("ifgsm", *(table for table in variant_tables(run_dir)
                              if variant_of_table(table).clip != "none"),
                   "ifgsm-bpda", "adaptive", POSE_SEARCH, *MINIMAL_NORM_ATTACKS)
        run_transfer(run_dir, load_victims(run_dir, classes, settings, networks), settings,
                     reverse_tables=reverse)
    elif attack in BUDGETED_TABLES:
        run_budgeted(run_dir, attack, load_victims(run_dir, classes, settings, networks), test,
                     selected, settings)
    else:
        # The adaptive and minimal-norm attacks take every gradient there is: the clip's too,
        # as BPDA does.
        clip = ("straight_through"
                if attack in ("ifgsm-bpda", "adaptive", POSE_SEARCH, *MINIMAL_NORM_ATTACKS)
                else variant.clip)
        run_targeted(run_dir, attack, load_victims(run_dir, classes, settings, networks, clip),
                     test, selected, settings, variant)
