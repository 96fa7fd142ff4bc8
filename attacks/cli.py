"""`mindseye attack RUN DATA`: adversarial effort per network and target, resumable."""

from pathlib import Path

import click

from attacks.settings import (
    ATTACKS,
    NETWORKS,
    AttackSettings,
    check_attack_name,
    parse_networks,
    with_overrides,
)
from core.errors import UserError


def parse_thresholds(text: str) -> tuple[float, ...]:
    """'0.2,0.45,0.7' -> (0.2, 0.45, 0.7); each must lie strictly between 0 and 1."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"--thresholds {text!r}: give numbers separated by commas, "
                        "e.g. 0.2,0.45,0.7") from None
    outside = [value for value in values if not 0 < value < 1]
    if outside:
        raise UserError(f"--thresholds {text!r}: {outside[0]} is outside (0, 1); "
                        "a ratio threshold must lie strictly between 0 and 1")
    return values


def check_folders(run_dir: Path, data_dir: Path) -> None:
    if not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} not found; train first with `mindseye train all`")
    if not (data_dir / "manifest.json").is_file():
        raise UserError(f"{data_dir}/manifest.json not found; render the data first with "
                        "`mindseye render`")


@click.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.argument("data_dir", metavar="DATA", type=click.Path(path_type=Path))
@click.option("--attack", "attack_name", default="ifgsm", show_default=True,
              help=f"{'|'.join(ATTACKS)}|all")
@click.option("--max-steps", type=int, help="Step cap of the iterative attacks "
              f"[default: {AttackSettings.max_steps}].")
@click.option("--per-class", type=int, help="Test images per class for the paper's attacks "
              "(ifgsm, ifgsm-bpda; transfer uses their images) "
              f"[default: {AttackSettings.per_class}].")
@click.option("--extra-per-class", type=int, help="Test images per class for the attacks "
              "beyond the paper (pgd, square, adaptive), taken in test-split order as "
              "--per-class takes them, so the smaller set is part of the larger "
              f"[default: {AttackSettings.extra_per_class}].")
@click.option("--thresholds", default=",".join(map(str, AttackSettings.thresholds)),
              show_default=True, help="Triple-staged thresholds, each in (0, 1).")
@click.option("--networks", "network_names", default=",".join(NETWORKS), show_default=True,
              help="Which networks to attack. Records are per network, so runs on different "
              "machines can split the networks and share one RUN/attacks/.")
@click.option("--chunk", type=int, help="Source images per resumable unit: a kill loses at most "
              "one; larger keeps a GPU's batches full as images flip and leave. Fixed for a "
              f"run by its first attack, like the sizes [default: {AttackSettings.chunk}].")
@click.option("--device", default=AttackSettings.device, show_default=True,
              help="auto|cpu|cuda")
def attack(run_dir: Path, data_dir: Path, attack_name: str, max_steps: int | None,
           per_class: int | None, extra_per_class: int | None, thresholds: str,
           network_names: str, chunk: int | None, device: str) -> None:
    """Attack the networks of RUN on the test images of DATA; records go to RUN/attacks/.

    \b
    ifgsm       the paper's attack: unit signed steps until the decision is the target
    ifgsm-bpda  the same on the triple-staged network with a straight-through clip
                (copies ifgsm's paths that never met the clip: they would be the same)
    pgd         L-inf PGD at budgets 1..32 -> robust accuracy against epsilon
    square      gradient-free Square attack at the same budgets (reveals gradient masking)
    adaptive    margin loss on the threshold itself, with the straight-through clip
    transfer    the direct networks' ifgsm adversarials shown to the other networks
    """
    check_attack_name(attack_name)
    for option, value in (("--max-steps", max_steps), ("--per-class", per_class),
                          ("--extra-per-class", extra_per_class), ("--chunk", chunk)):
        if value is not None and value < 1:
            raise UserError(f"{option} {value}: must be at least 1")
    parsed_thresholds = parse_thresholds(thresholds)
    networks = parse_networks(network_names)
    check_folders(run_dir, data_dir)
    settings = with_overrides(AttackSettings(), max_steps=max_steps, per_class=per_class,
                              extra_per_class=extra_per_class, chunk=chunk,
                              thresholds=parsed_thresholds, device=device)
    from attacks.experiments import run_attack

    run_attack(run_dir, data_dir, attack_name, settings, networks)
    click.echo(f"records in {run_dir / 'attacks'}", err=True)
