"""`mindseye render DATA`: headless Blender -> HDF5 shards (train and test splits)."""

import contextlib
from pathlib import Path

import click

from mindseye.core.constants import (
    BACKGROUND_SPECS,
    DEFAULT_BACKGROUNDS,
    MANIFEST_FILE,
    NONE_CLASS,
    PRESET_COSTS,
    PRESETS,
)
from mindseye.core.errors import UserError
from mindseye.core.parallel import check_scheduler_address
from mindseye.render.settings import MAX_PER_CLASS


@click.command()
@click.argument("data_dir", metavar="DATA", type=click.Path(path_type=Path, file_okay=False))
@click.option("--preset", type=click.Choice(PRESETS), default="demo", show_default=True,
              help="Dataset size, one of the pipeline's presets: " + "; ".join(
                  f"{name}: {cost}" for name, cost in PRESET_COSTS.items()) + ".")
@click.option("--per-class", type=click.IntRange(min=1, max=MAX_PER_CLASS),
              help="Train samples per class, the None class included; at most "
              f"{MAX_PER_CLASS:,} (about 5 KB a sample: 21 GB with four labels). [preset]")
@click.option("--test-per-class", type=click.IntRange(min=1, max=MAX_PER_CLASS),
              help=f"Test samples per class, the None class included; at most {MAX_PER_CLASS:,}. "
              "[preset]")
@click.option("--classes", metavar="NAME,...",
              help="Comma-separated classes, built-in or your own, in label order (see "
              "`mindseye assets list`). [the built-in classes]")
@click.option("--backgrounds", metavar="SPEC",
              help=f"{BACKGROUND_SPECS}. [the one DATA was rendered with, else "
              f"{DEFAULT_BACKGROUNDS}]")
@click.option("--seed", type=click.IntRange(min=0),
              help="Seed of every sample's rotation and background; same seed, same dataset. [0]")
@click.option("--shard-size", type=click.IntRange(min=1, max=MAX_PER_CLASS),
              help="Samples per shard file. [preset]")
@click.option("--contrast-stretch/--no-contrast-stretch", default=None,
              help="Stretch each model's grey levels so that its 15th..85th percentiles span "
              "0..255, as the authors' code did (on in the paper preset). [preset]")
@click.option("--workers", type=click.IntRange(min=1),
              help="Local worker processes, one Blender each. [all cores]")
@click.option("--scheduler", metavar="ADDRESS",
              help="Render on a Dask cluster (e.g. tcp://host:8786) instead of local processes.")
@click.option("--overwrite", is_flag=True,
              help="Replace a dataset made with other settings in DATA.")
@click.option("--assets-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Folder of your own classes, beside the built-in ones (see `mindseye assets "
              "--help`). [$MINDSEYE_ASSETS, else ~/.local/share/mindseye/assets]")
def render(
    data_dir: Path,
    preset: str,
    per_class: int | None,
    test_per_class: int | None,
    classes: str | None,
    backgrounds: str | None,
    seed: int | None,
    shard_size: int | None,
    contrast_stretch: bool | None,
    workers: int | None,
    scheduler: str | None,
    overwrite: bool,
    assets_dir: Path | None,
) -> None:
    """Render the train and test splits of a dataset into DATA.

    Each sample is a function of (seed, split, index) only: the result does not depend on the
    number of workers, and a killed render resumes where it stopped when run again with the same
    options. Re-running a finished render does nothing. DATA/manifest.json records each
    class's model: sha256, built-in or user, and the file it was rendered from.
    """
    from mindseye.render.driver import default_workers, render_dataset
    from mindseye.render.settings import render_settings

    check_scheduler_address(scheduler)
    class_names = tuple(name.strip() for name in classes.split(",")) if classes else None
    if class_names is not None and not all(class_names):
        raise UserError(f"--classes {classes!r}: an empty name between commas; give names "
                        "separated by single commas, e.g. --classes monkey,penguin")
    if class_names is not None and NONE_CLASS in class_names:
        raise UserError(f"--classes {classes!r}: {NONE_CLASS!r} is the background class every "
                        "dataset has as its last label; leave it out")
    if backgrounds is None and not overwrite:
        backgrounds = recorded_backgrounds(data_dir)
    settings = render_settings(
        preset, per_class=per_class, test_per_class=test_per_class, classes=class_names,
        backgrounds=backgrounds, seed=seed, shard_size=shard_size,
        contrast_stretch=contrast_stretch,
    )
    manifest = render_dataset(
        data_dir, settings, workers=workers or default_workers(), scheduler=scheduler,
        overwrite=overwrite, assets_dir=assets_dir,
    )
    counts = ", ".join(f"{name} {split.samples}" for name, split in manifest.splits.items())
    click.echo(f"{data_dir}: {counts} samples of {', '.join(manifest.classes)}")


def recorded_backgrounds(data_dir: Path) -> str | None:
    """The backgrounds a dataset already in DATA was rendered over: what a command without
    --backgrounds resumes or checks it with, so that a dataset made before `photos` became the
    default (over `builtin`) resumes with the command line that made it."""
    import json

    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return json.loads((Path(data_dir) / MANIFEST_FILE).read_text())["config"]["render"][
            "backgrounds"]
    return None
