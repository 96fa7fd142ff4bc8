"""What `mindseye attack` does by default: the experiments, the networks and their sizes.

Kept free of torch so that the command line starts quickly.
"""

from dataclasses import dataclass, replace

from core.errors import UserError

ATTACKS = ("ifgsm", "ifgsm-bpda", "pgd", "square", "adaptive", "transfer")
# Sized by --extra-per-class: the attacks the paper did not run.
EXTRA_ATTACKS = ("pgd", "square", "adaptive")
DIRECT_NETWORKS = ("direct", "direct-param")
TRIPLE_STAGED = "triple-staged"
NETWORKS = (*DIRECT_NETWORKS, TRIPLE_STAGED)


@dataclass(frozen=True)
class AttackSettings:
    """Every default of `mindseye attack` lives here."""

    max_steps: int = 1000
    per_class: int = 20  # test images per class for the paper's attacks (ifgsm, ifgsm-bpda)
    # For the attacks beyond the paper (pgd, square, adaptive); the first of the same images, so
    # that adaptive pairs with ifgsm source by source.
    extra_per_class: int = 20
    thresholds: tuple[float, ...] = (0.2, 0.45, 0.7)
    epsilons: tuple[float, ...] = (1, 2, 4, 8, 16, 32)  # L-inf budgets on 0..255
    pgd_iterations: int = 20
    square_queries: int = 300
    chunk: int = 32  # source images per resumable unit
    batch_size: int = 128
    device: str = "auto"  # auto: CUDA when present


# What the records depend on: a run folder's attacks must all use the same values.
RECORDED_SETTINGS = ("max_steps", "per_class", "extra_per_class", "thresholds", "epsilons",
                     "pgd_iterations", "square_queries", "chunk")


def check_attack_name(name: str) -> None:
    """`--attack` must name one experiment or `all`."""
    if name != "all" and name not in ATTACKS:
        raise UserError(f"--attack {name!r}: unknown; choose one of {', '.join(ATTACKS)} or all")


def parse_networks(text: str) -> tuple[str, ...]:
    """'direct,triple-staged' -> ('direct', 'triple-staged'), in NETWORKS order."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in NETWORKS]
    if unknown or not names:
        raise UserError(f"--networks {text!r}: {unknown[0] if unknown else 'empty'}; choose "
                        f"from {', '.join(NETWORKS)}, separated by commas")
    return tuple(name for name in NETWORKS if name in names)


def with_overrides(settings: AttackSettings, **values: object) -> AttackSettings:
    """Settings with the options the user gave (None = keep the default)."""
    return replace(settings, **{key: value for key, value in values.items() if value is not None})
