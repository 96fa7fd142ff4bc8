"""The `mindseye` command. Each subcommand is defined beside the code it drives."""

import click

from mindseye.attacks.cli import attack
from mindseye.core import __version__
from mindseye.dataset.cli import dataset
from mindseye.eval.cli import compare_command, eval_command
from mindseye.models.cli import train
from mindseye.pipeline import pipeline
from mindseye.render.assets_cli import assets
from mindseye.render.cli import render


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mindseye")
def main() -> None:
    """Turn 3D models into adversarial-robustness experiments.

    \b
    mindseye assets add NAME FILE             your own 3D model as a class (user assets folder)
    mindseye assets list                      every class: built-in or yours, sha256, file
    mindseye render DATA --preset demo        headless Blender -> HDF5 shards (train and test)
    mindseye dataset info|verify|preview DATA inspect a dataset
    mindseye train all DATA --out RUN         the direct baselines and the triple-staged network
    mindseye attack RUN DATA                  adversarial effort per network and target
    mindseye eval RUN DATA --out DIR          Table 1, Figs 4-6: report.md, metrics.json, PNGs
    mindseye compare RUN... --out DIR         runs trained with different seeds, side by side
    mindseye pipeline --preset demo --out DIR all of the above, resumable
    """


for command in (assets, render, dataset, train, attack, eval_command, compare_command,
                pipeline):
    main.add_command(command)
