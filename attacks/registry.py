"""The attack registry: each attack declares itself once, in its own module, and everything else
asks here.

An attack's module ends with `register_attack(AttackSpec(...))`: its name, its kind, how it is
built, which images and networks it takes, its clip, and how the report reads its records. The
command line (choices and `--help`), the settings lock, the runners (attacks/experiments.py),
the pipeline and the report all read these specs, so adding an attack is one new file in
attacks/ (or, in a test, one `register_attack` call). The modules of this package are imported
on the first question, which is what registers the built-in attacks.
"""

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from mindseye.core.constants import CLASSIFIERS
from mindseye.core.errors import UserError

# What an attack's records are:
# - targeted: each correctly decided positive source towards every other label (false positives
#   and false negatives; with `none_sources`, each None source towards every positive class too),
#   per threshold: success, steps, distortion (attacks/targeted.py);
# - budgeted: every selected source at each L-inf budget and threshold: robust or not
#   (attacks/budgeted.py);
# - transfer: adversarials made on one network, shown to another (attacks/transfer.py);
# - cascade: budgeted attacks run one after another, each only where the ones before it left an
#   image robust (attacks/cascade.py); its `members` name them, in order.
TARGETED, BUDGETED, TRANSFER, CASCADE = "targeted", "budgeted", "transfer", "cascade"
KINDS = (TARGETED, BUDGETED, TRANSFER, CASCADE)
# Which test images: the paper's attack's (--per-class) or the attacks beyond it
# (--extra-per-class, the first of the same images).
PAPER_IMAGES, EXTRA_IMAGES = "per_class", "extra_per_class"
# How the report pairs a targeted attack with the paper's, source by source and target by
# target: by steps to the flip, or (a minimal-norm attack, whose steps are fixed) by distortion.
PAIRINGS = ("steps", "distortion")
MINIMIZED_FIELDS = ("distortion", "linf")  # what a minimal-norm attack's records minimise
CLIP_MODES = ("hard", "none", "straight_through")  # models/estimator.py's ClipMode
ALL = "all"  # `--attack all`: every attack with `in_all`, in `order`


@dataclass(frozen=True)
class AttackSpec:
    """One attack, as the runners, the command line and the report see it.

    `build` makes the attack for one victim: a targeted attack's `build(victim, settings,
    variant)`, a budgeted one's `build(victim, threshold, epsilon, settings)`; it returns a
    `mindseye.attacks.base.Attack`. A transfer experiment builds nothing."""

    name: str
    kind: str
    summary: str  # one line for `mindseye attack --help` and docs/design.md
    order: int  # where it runs in `all`, is listed in --help and appears in the report
    build: Callable | None = None
    in_all: bool = False  # part of `--attack all` and of the pipeline
    images: str = EXTRA_IMAGES
    networks: tuple[str, ...] = CLASSIFIERS
    # The estimator's clip when it attacks the triple-staged network; `variants` lets the
    # paper's attack choose it per run (attacks/ifgsm.py, Variant).
    clip: str = "hard"
    variants: bool = False
    # Targeted: how the report pairs it with the paper's attack (None: it is the paper's), and
    # the words the report's claim uses for it where it must need no fewer steps (None: no
    # claim; a variant of the paper's attack is a way to run it, not a test of the defence).
    paired_by: str | None = "steps"
    claim: str | None = None
    # Targeted, minimal-norm: the record field it makes as small as it can ("distortion", the
    # paper's L2 measure, or "linf"). The report judges the paper's distortion claims by it
    # too: the attack-independent counterpart of Figs. 4 and 6.
    minimizes: str | None = None
    # Targeted: whether it also attacks the selected None images towards every positive class
    # (records of kind "none-to-class"): how far a None image is from becoming a class, which
    # the paper, attacking positives only, never measured. Their units are named
    # `NETWORK-THRESHOLDS-none-NUMBER`, so a run made before gains them by running again.
    none_sources: bool = False
    per_threshold: bool = False  # its loss depends on the threshold: one run per threshold
    copies_unclipped: bool = False  # copies the paper's attack's paths that never met the clip
    starts_from_paper: bool = False  # also starts from the paper's attack's adversarials
    counts_clip: bool = False  # the report counts how often the clip engages on its images
    # Budgeted: whether it follows a gradient (a gradient-free attack that breaks an image every
    # gradient attack left robust is a sign of masking); whether one run decides every budget
    # (its adversarial's distance does); whether it takes only the images every gradient attack
    # left robust (then its own rate is conditional: it counts in the worst case alone).
    gradient: bool = True
    one_run_for_all_budgets: bool = False
    after_gradient_attacks: bool = False
    # Budgeted, gradient-free: whether it runs its budgets from the largest down and leaves an
    # image at a threshold once it failed on it there. A random search that fails within a
    # budget is not expected to succeed within a smaller one (results/README.md counts how
    # often it did when run at every budget: never); the small budgets every image survives
    # are most of its cost. A gradient attack runs every budget: the headline rests on it.
    descending: bool = False
    # Budgeted: the AttackSettings field (an int, or None for all) that takes only the first
    # that many of the selected images of each label (HopSkipJump's `hsj_per_class`).
    per_class_setting: str | None = None
    # The AttackSettings fields that shape its run beyond images, steps and budgets (the
    # report's attacks line says them where it ran, alone or in a cascade).
    settings: tuple[str, ...] = ()
    curve_style: str = ":."  # matplotlib style of its robust-accuracy curve
    # Cascade: its budgeted members, cheapest first.
    members: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = [
            f"kind {self.kind!r} is not one of {KINDS}" if self.kind not in KINDS else "",
            f"images {self.images!r}" if self.images not in (PAPER_IMAGES, EXTRA_IMAGES) else "",
            f"clip {self.clip!r}" if self.clip not in CLIP_MODES else "",
            f"paired_by {self.paired_by!r}"
            if self.paired_by is not None and self.paired_by not in PAIRINGS else "",
            f"minimizes {self.minimizes!r}"
            if self.minimizes not in (None, *MINIMIZED_FIELDS) else "",
            f"networks {self.networks!r}"
            if not self.networks or set(self.networks) - set(CLASSIFIERS) else "",
            "build is missing" if self.build is None and self.kind not in (TRANSFER, CASCADE)
            else "",
            "a cascade names its members" if (self.kind == CASCADE) != bool(self.members)
            else "",
            f"the name {self.name!r} is reserved" if self.name == ALL or "+" in self.name else "",
            "only a gradient-free attack descends" if self.descending and self.gradient else "",
            "only a targeted attack takes None sources"
            if self.none_sources and self.kind != TARGETED else "",
        ]
        problems = [problem for problem in problems if problem]
        if problems:
            raise ValueError(f"attack {self.name!r}: {'; '.join(problems)}")


_REGISTRY: dict[str, AttackSpec] = {}
_discovered = False


def register_attack(spec: AttackSpec) -> AttackSpec:
    """Declare an attack; returns the spec, so that its module can name it. A name belongs to
    one attack."""
    if _REGISTRY.get(spec.name, spec) != spec:
        raise ValueError(f"attack {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_attack(name: str) -> None:
    """Forget an attack (a test's toy attack, when the test ends)."""
    _REGISTRY.pop(name, None)


def _discover() -> None:
    """Import every module of this package once: each attack module registers itself."""
    global _discovered
    if _discovered:
        return
    _discovered = True  # before the imports: a module that asks the registry must not recurse
    registered = dict(_REGISTRY)
    try:
        package = importlib.import_module(__package__)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{__package__}.{module.name}")
    except BaseException:
        # A failed import leaves the registry partial: forget what this try registered (a
        # module that registered before failing registers again) and try again next time.
        _REGISTRY.clear()
        _REGISTRY.update(registered)
        _discovered = False
        raise


def attack_specs(kind: str | None = None) -> list[AttackSpec]:
    """Every registered attack (of one kind), in `order`, then name."""
    _discover()
    return sorted((spec for spec in _REGISTRY.values() if kind in (None, spec.kind)),
                  key=lambda spec: (spec.order, spec.name))


def attack_names(kind: str | None = None) -> tuple[str, ...]:
    return tuple(spec.name for spec in attack_specs(kind))


def get_attack(name: str) -> AttackSpec:
    """The spec of `name`; a UserError naming the choices if there is none."""
    _discover()
    if name not in _REGISTRY:
        raise UserError(f"--attack {name!r}: unknown; choose one of "
                        f"{', '.join(attack_names())} or {ALL}")
    return _REGISTRY[name]


def spec_of_table(table: str) -> AttackSpec:
    """The attack whose records a table holds: `NAME`, or `NAME+...` for NAME run another way
    (a variant of the paper's attack)."""
    return get_attack(table.partition("+")[0])


def suite(name: str) -> tuple[AttackSpec, ...]:
    """The attacks `--attack NAME` runs, in order: `all`, or the one attack."""
    if name == ALL:
        return tuple(spec for spec in attack_specs() if spec.in_all)
    return (get_attack(name),)
