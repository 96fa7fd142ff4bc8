"""The `mindseye` command. Each subcommand is defined beside the code it drives, and imported
only when it runs: `mindseye render` need not load torch, nor `mindseye --help` the attacks."""

import importlib

import click

from mindseye.core import __version__

# Subcommand -> "module:attribute" of its click command, in the order of the help below.
SUBCOMMANDS = {
    "assets": "mindseye.render.assets_cli:assets",
    "render": "mindseye.render.cli:render",
    "dataset": "mindseye.dataset.cli:dataset",
    "train": "mindseye.models.cli:train",
    "attack": "mindseye.attacks.cli:attack",
    "eval": "mindseye.eval.cli:eval_command",
    "compare": "mindseye.eval.cli:compare_command",
    "pipeline": "mindseye.pipeline:pipeline",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported when one is invoked or asked for its help. The
    group's own help lists them itself (its docstring), so listing imports nothing."""

    def list_commands(self, context: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, context: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        module, _, attribute = SUBCOMMANDS[name].partition(":")
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, context: click.Context, formatter: click.HelpFormatter) -> None:
        pass  # the docstring lists the commands


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mindseye")
def main() -> None:
    """Turn 3D models into adversarial-robustness experiments.

    \b
    mindseye assets add NAME FILE             your own 3D model as a class (user assets folder)
    mindseye assets list|preview|build        the classes; their rotations; rebuild built-ins
    mindseye render DATA --preset demo        headless Blender -> HDF5 shards (train and test)
    mindseye dataset info|verify|preview DATA inspect a dataset
    mindseye dataset compare|copy|recomposite two renders side by side; splits; new backgrounds
    mindseye dataset fetch-photos             the photos background set (install.sh runs it)
    mindseye train all DATA --out RUN         the direct baselines and the triple-staged network
    mindseye attack RUN DATA                  adversarial effort per network and target
    mindseye eval RUN DATA --out DIR          Table 1, Figs 4-6: report.md, metrics.json, PNGs
    mindseye compare RUN... --out DIR         runs side by side: seeds, clean against trained
    mindseye pipeline --preset demo --out DIR all of the above, resumable

    Every command has --help.
    """
