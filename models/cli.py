"""`mindseye train NETWORK DATA --out RUN`: train, resume or skip, then evaluate on test data."""

from pathlib import Path

import click

from mindseye.core.constants import MAX_SEED, PRESET_COSTS, PRESETS, TRAINED_NETWORKS
from mindseye.core.errors import UserError
from mindseye.core.files import make_writable_folder
from mindseye.models.adversarial import ADVERSARIAL_METHODS
from mindseye.models.settings import MAX_BATCH_SIZE, MAX_STEPS


@click.command()
@click.argument("network", metavar="{" + ",".join((*TRAINED_NETWORKS, "all")) + "}")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", "run_dir", required=True, type=click.Path(path_type=Path),
              help="Run folder; each network goes to RUN/<network>/.")
@click.option("--preset", default="demo", show_default=True, metavar="|".join(PRESETS),
              help="Training schedules (models/settings.py) of a preset, whose whole pipeline "
              "costs " + "; ".join(f"{name}: {cost}" for name, cost in PRESET_COSTS.items())
              + ".")
@click.option("--steps", type=int, help="Training steps (overrides the preset); at most "
              f"{MAX_STEPS:,}, 20 times the paper's longest schedule.")
@click.option("--batch-size", type=int, help="Batch size (overrides the preset); at most "
              f"{MAX_BATCH_SIZE}, past which a step needs more memory than a laptop has.")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
              help="Seed of the training's random numbers (initial weights, batches).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--processes", type=click.IntRange(min=1),
              help="With `all` on CPU: networks trained side by side [one per core, up to 4].")
@click.option("--adversarial", type=click.Choice(ADVERSARIAL_METHODS),
              help="Adversarial training: fgsm is fast adversarial training (Wong et al.: one "
              "FGSM step from a random start, stopped with its best weights if PGD accuracy on "
              "held-out training images collapses); pgd is Madry et al.'s PGD training. The "
              "direct networks, the estimator and the comparator train on adversarial images; "
              "the projector never sees one. [clean training]")
@click.option("--adv-epsilon", type=float, help="Adversarial training's L-inf budget in whole "
              "grey levels (0..255 scale), e.g. 8.")
@click.option("--adv-steps", type=int, help="PGD adversarial training's steps. [7]")
@click.option("--adv-step-size", type=float, help="Step size in grey levels. [fgsm: 1.25 eps; "
              "pgd: 2.5 eps / steps]")
def train(network: str, data: Path, run_dir: Path, preset: str, steps: int | None,
          batch_size: int | None, seed: int, device: str, processes: int | None,
          adversarial: str | None, adv_epsilon: float | None, adv_steps: int | None,
          adv_step_size: float | None) -> None:
    """Train NETWORK (or `all` of them) on the dataset DATA.

    `all` trains the direct networks, the estimator and the projector side by side, then the
    comparator (which learns from the estimator's and projector's drawings).

    A run that was interrupted resumes from its last checkpoint; a network already trained is
    skipped. After training, the network is evaluated on the test split and the results are
    printed and saved to RUN/<network>/eval.json (the comparator also evaluates the assembled
    triple-staged network at thresholds 0.2, 0.45 and 0.7).
    """
    from mindseye.models.adversarial import recipe
    from mindseye.models.jobs import check_data, describe, train_network
    from mindseye.models.parallel import train_all
    from mindseye.models.runs import resolve_device
    from mindseye.models.settings import schedule_for

    if network not in (*TRAINED_NETWORKS, "all"):
        raise UserError(f"unknown network {network!r}; choose one of "
                        f"{', '.join(TRAINED_NETWORKS)}, all")
    # Check every option before the first (long) step, so a typo fails at once.
    for name in TRAINED_NETWORKS if network == "all" else (network,):
        schedule_for(preset, name, steps, batch_size)
    resolve_device(device)
    training = recipe(adversarial, adv_epsilon, adv_steps, adv_step_size)
    check_data(data)
    make_writable_folder(run_dir, "--out")
    if network == "all":
        for name, results in train_all(data, run_dir, preset, steps, batch_size, seed, device,
                                       processes, adversarial=training):
            click.echo(describe(name, results))
    else:
        results = train_network(network, data, run_dir, preset, steps, batch_size, seed, device,
                                adversarial=training)
        click.echo(describe(network, results))
