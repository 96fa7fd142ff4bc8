"""`mindseye assets`: build the built-in 3D models and register your own as classes.

It lives in `render` rather than `blender_assets` because `assets preview` renders with the
dataset's renderer (`render.blender`), and `blender_assets` sits below `render`.
bpy is imported inside the commands that need it, so `mindseye --help` stays fast.
"""

from pathlib import Path

import click
from tqdm import tqdm

from blender_assets.registry import (
    CLASSES_FILE,
    PACKAGE_DIR,
    load_classes,
    read_classes_file,
    resolve_assets_dir,
    write_classes,
)
from core.files import atomic_path, make_writable_folder

assets_dir_option = click.option(
    "--assets-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Folder holding classes.toml and the .blend files [default: {PACKAGE_DIR}].",
)


@click.group()
def assets() -> None:
    """Build the built-in 3D models and register your own as classes."""


@assets.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Folder to write the .blend files and classes.toml to [default: {PACKAGE_DIR}].",
)
def build(out_dir: Path | None) -> None:
    """(Re)create the Monkey, Penguin and Aeroplane .blend files and register them.

    Classes added with `assets add` stay registered, after the built-in ones.
    """
    from blender_assets.build import BUILT_IN, build_class

    directory = resolve_assets_dir(out_dir)
    make_writable_folder(directory, "--out")
    added = {}
    if (directory / CLASSES_FILE).is_file():
        added = {
            name: asset
            for name, asset in read_classes_file(directory).items()
            if name not in BUILT_IN and asset.blend_file.is_file()
        }
    built = [build_class(name, directory) for name in tqdm(BUILT_IN, desc="building assets")]
    write_classes([*built, *added.values()], directory)
    for asset in built:
        size_kb = asset.blend_file.stat().st_size / 1024
        click.echo(f"{asset.name}: {asset.blend_file} ({size_kb:.0f} KB)")


@assets.command(name="list")
@assets_dir_option
def list_classes(assets_dir: Path | None) -> None:
    """List the registered classes in label order (the None class comes last)."""
    classes = load_classes(assets_dir)
    for label, asset in enumerate(classes.values()):
        click.echo(f"{label}\t{asset.name}\t{asset.blend_file.name}\t{asset.source}")
    click.echo(f"{len(classes)}\tnone\t(backgrounds only)")


@assets.command()
@click.argument("name")
@click.argument("model_file", metavar="FILE", type=click.Path(path_type=Path))
@assets_dir_option
@click.option("--overwrite", is_flag=True, help="Replace a class of the same name.")
def add(name: str, model_file: Path, assets_dir: Path | None, overwrite: bool) -> None:
    """Register the 3D model FILE (.blend/.obj/.glb/.gltf/.stl/.fbx/.ply) as class NAME."""
    from blender_assets.importer import add_model

    asset = add_model(name, model_file, assets_dir, overwrite=overwrite)
    click.echo(f"{asset.name}: {asset.blend_file} (scale {asset.scale:.4g})")


# The preview grid: the rest pose, the 8 corners of the sampled rotation box and a few between.
PREVIEW_GRID_SIDE = 4
PREVIEW_UPSCALE = 4


@assets.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write one PNG per class to.",
)
@assets_dir_option
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the rotations.")
def preview(out_dir: Path, assets_dir: Path | None, seed: int) -> None:
    """Render a grid of rotations of every class with the dataset's renderer, one PNG each.

    The grid holds the rest pose, the 8 corners of the rotation box (the extremes the framing
    rule guarantees) and random rotations, at 64x64 shown 4x enlarged.
    """
    import itertools

    import numpy as np
    from PIL import Image

    from core.constants import ROTATION_LIMIT
    from render.blender import Renderer

    classes = load_classes(assets_dir)
    make_writable_folder(out_dir, "--out")
    corners = list(itertools.product((-ROTATION_LIMIT, ROTATION_LIMIT), repeat=3))
    count = PREVIEW_GRID_SIDE**2
    random = np.random.default_rng(seed).uniform(
        -ROTATION_LIMIT, ROTATION_LIMIT, (count - 1 - len(corners), 3)
    )
    rotations = np.vstack([np.zeros((1, 3)), corners, random])
    for asset in tqdm(classes.values(), desc="previewing classes"):
        # A fresh scene per class: a handful of frames, so setting one up costs little.
        renderer = Renderer()
        try:
            renderer.load_object(asset.blend_file, asset.object_name)
            objects, _ = renderer.render_rotations(rotations)
        finally:
            renderer.close()
        side = objects.shape[1]
        grid = objects.reshape(PREVIEW_GRID_SIDE, PREVIEW_GRID_SIDE, side, side)
        grid = grid.transpose(0, 2, 1, 3).reshape(PREVIEW_GRID_SIDE * side, -1)
        grid = np.kron(grid, np.ones((PREVIEW_UPSCALE, PREVIEW_UPSCALE), np.uint8))
        path = out_dir / f"{asset.name}.png"
        with atomic_path(path) as partial:
            Image.fromarray(grid).save(partial, format="PNG")
        click.echo(str(path))
