"""`mindseye assets`: the built-in 3D models and the user's own classes.

It lives in `render` rather than `blender_assets` because `assets add` and `assets preview`
render with the dataset's renderer (`render.blender`), and `blender_assets` sits below `render`.
bpy is imported inside the commands that need it, so `mindseye --help` stays fast.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

from mindseye.blender_assets.registry import (
    CLASSES_FILE,
    PACKAGE_DIR,
    PREVIEW_SUFFIX,
    AssetClass,
    all_classes,
    asset_problem,
    describe_user_assets_dir,
    load_classes,
    read_classes_file,
    user_assets_dir,
    write_classes,
)
from mindseye.core.errors import UserError
from mindseye.core.files import atomic_path, make_writable_folder

assets_dir_option = click.option(
    "--assets-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of your own classes (its classes.toml and .blend files). "
    "[$MINDSEYE_ASSETS, else $XDG_DATA_HOME/mindseye/assets, i.e. ~/.local/share/mindseye/assets]",
)


@click.group()
def assets() -> None:
    """The built-in 3D models and your own classes.

    \b
    Built-in classes (monkey, penguin, aeroplane) come with mindseye and are always there;
    no command changes the installed package. Classes you add live in a user assets folder:
      1. --assets-dir DIR, if given;
      2. else the environment variable MINDSEYE_ASSETS;
      3. else $XDG_DATA_HOME/mindseye/assets (~/.local/share/mindseye/assets).
    That folder holds a classes.toml with your classes only, their .blend files and a preview
    PNG of each. `mindseye render` finds both kinds (--classes monkey,teapot mixes them, in the
    order given; without --classes it renders the built-in classes alone). The Docker image
    sets MINDSEYE_ASSETS=/data/assets, so your classes live on the folder mounted at /data.
    """


@assets.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write the .blend files and their classes.toml to (in a checkout, "
    "`--out blender_assets` replaces the committed built-in files).",
)
def build(out_dir: Path) -> None:
    """Re-create the Monkey, Penguin and Aeroplane .blend files procedurally, into --out.

    Unchanged geometry keeps an existing file as it is. Other classes registered in the
    folder's classes.toml stay registered, after the built-in ones.
    """
    from mindseye.blender_assets.build import BUILT_IN, build_class

    if _is_installed_package(out_dir):
        raise UserError(f"--out {out_dir} is the installed package's folder, which mindseye never "
                        "changes; choose another folder")
    if out_dir.resolve() == user_assets_dir().resolve():
        raise UserError(f"--out {out_dir} is your user assets folder, which holds only your own "
                        "classes; choose another folder")
    make_writable_folder(out_dir, "--out")
    added = {}
    if (out_dir / CLASSES_FILE).is_file():
        added = {
            name: asset
            for name, asset in read_classes_file(out_dir).items()
            if name not in BUILT_IN and asset.blend_file.is_file()
        }
    built = [build_class(name, out_dir) for name in tqdm(BUILT_IN, desc="building assets")]
    write_classes([*built, *added.values()], out_dir)
    for asset in built:
        size_kb = asset.blend_file.stat().st_size / 1024
        click.echo(f"{asset.name}: {asset.blend_file} ({size_kb:.0f} KB)")


def _is_installed_package(folder: Path) -> bool:
    """Whether `folder` is this package's folder in an installation rather than a checkout
    (one with the project's pyproject.toml beside it)."""
    if not folder.exists() or folder.resolve() != PACKAGE_DIR:
        return False
    return not (PACKAGE_DIR.parent / "pyproject.toml").is_file()


@assets.command(name="list")
@assets_dir_option
def list_classes(assets_dir: Path | None) -> None:
    """Every class with its origin, sha256 and state, in label order.

    Tab-separated: label, name, built-in or user, sha256 (first 12 digits), model file, the
    file it was imported from, and ok / missing / changed. The None class comes last.
    """
    classes = all_classes(assets_dir)
    click.echo(f"# user classes: {describe_user_assets_dir(assets_dir)}")
    for label, asset in enumerate(classes.values()):
        status = asset_problem(asset) or "ok"
        source = "-" if asset.built_in else asset.source
        click.echo(f"{label}\t{asset.name}\t{asset.origin}\t{asset.sha256[:12]}\t"
                   f"{asset.blend_file}\t{source}\t{status}")
    click.echo(f"{len(classes)}\tnone\t(backgrounds only)")


# How long `assets add` lets Blender import, normalise, save and preview a model. Large scanned
# models import in about a minute on these cores; a file that makes Blender hang is stopped then.
ADD_TIMEOUT = 600
# Set in the child process that does the work of `assets add` (see `add`).
_ADD_CHILD_VARIABLE = "MINDSEYE_ASSETS_ADD_CHILD"


@assets.command()
@click.argument("name")
@click.argument("model_file", metavar="FILE", type=click.Path(path_type=Path))
@assets_dir_option
@click.option("--overwrite", is_flag=True, help="Replace your class of the same name.")
@click.option("--timeout", type=click.IntRange(min=1), default=ADD_TIMEOUT, show_default=True,
              help="Seconds Blender may take to import, save and preview the model; a file "
              "that makes it hang is stopped then, and the assets folder left as it was.")
def add(name: str, model_file: Path, assets_dir: Path | None, overwrite: bool,
        timeout: int) -> None:
    """Register the 3D model FILE (.blend/.obj/.glb/.gltf/.stl/.fbx/.ply) as class NAME.

    The model's meshes are joined, centred and scaled to fit the frame at every rotation, and
    saved as NAME.blend in your assets folder (see `mindseye assets --help`), with
    NAME.preview.png beside it: the class rendered at 16 sampled rotations, to look at before
    a long render.
    """
    if os.environ.get(_ADD_CHILD_VARIABLE) != "1":
        # Blender runs in a child process, so that a file that makes it hang can be stopped
        # (a hang in Blender's C code holds the interpreter: no thread or signal of this
        # process could end it) and the folder put back as it was.
        _add_in_child(name, model_file, assets_dir, overwrite, timeout)
        return
    from mindseye.blender_assets.importer import add_model

    added = add_model(name, model_file, assets_dir, overwrite=overwrite, preview=write_preview)
    asset = added.asset
    offset = ", ".join(f"{0.0 - value:.4g}" for value in asset.centre)
    click.echo(f"{asset.name}: {added.faces} faces from {model_file}, offset ({offset}) then "
               f"scale {asset.scale:.4g} applied, written to {asset.blend_file} "
               f"(sha256 {asset.sha256[:12]}, user class)")
    click.echo(f"preview: {added.preview_file}")


def _add_in_child(name: str, model_file: Path, assets_dir: Path | None, overwrite: bool,
                  timeout: int) -> None:
    directory = user_assets_dir(assets_dir)
    touched = [directory / CLASSES_FILE, directory / f"{name}.blend",
               directory / f"{name}{PREVIEW_SUFFIX}"]
    existed = directory.is_dir()
    listing: set[Path] = set()
    before: dict[Path, bytes] = {}
    with contextlib.suppress(OSError):  # an unreadable folder: the child names it
        listing = set(directory.iterdir()) if existed else set()
        before = {path: path.read_bytes() for path in touched if path.is_file()}
    command = [sys.executable, "-m", "mindseye", "assets", "add", name, str(model_file),
               *(["--assets-dir", str(assets_dir)] if assets_dir is not None else []),
               *(["--overwrite"] if overwrite else [])]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, _ADD_CHILD_VARIABLE: "1"},
                             start_new_session=True)
    try:
        out, err = child.communicate(timeout=timeout)
    except BaseException:  # the timeout, or this process interrupted
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # with the Blender preview process it started
        child.communicate()
        _put_back(directory, existed, listing, before, touched)
        raise UserError(f"{model_file}: Blender did not finish importing it within {timeout} s "
                        "(a file that makes Blender hang?); it was stopped and "
                        f"{describe_user_assets_dir(assets_dir)} is as it was; pass --timeout "
                        "SECONDS to allow longer") from None
    click.echo(out, nl=False)
    click.echo(err, nl=False, err=True)
    if child.returncode:
        raise SystemExit(child.returncode)


def _put_back(directory: Path, existed: bool, listing: set[Path], before: dict[Path, bytes],
              touched: list[Path]) -> None:
    """The assets folder as it was before a stopped `add`."""
    if not existed:
        shutil.rmtree(directory, ignore_errors=True)
        return
    for path in set(directory.iterdir()) - listing:
        path.unlink(missing_ok=True)
    for path in touched:
        if path in before:
            path.write_bytes(before[path])
        else:
            path.unlink(missing_ok=True)


# The preview grid: the rest pose, the 8 corners of the sampled rotation box and a few between.
PREVIEW_GRID_SIDE = 4
PREVIEW_UPSCALE = 4


def preview_rotations(seed: int = 0) -> np.ndarray:
    """(16, 3): the rest pose, the 8 corners of the rotation box, then random rotations."""
    import itertools

    from mindseye.core.constants import ROTATION_LIMIT

    corners = list(itertools.product((-ROTATION_LIMIT, ROTATION_LIMIT), repeat=3))
    count = PREVIEW_GRID_SIDE**2
    random = np.random.default_rng(seed).uniform(
        -ROTATION_LIMIT, ROTATION_LIMIT, (count - 1 - len(corners), 3)
    )
    return np.vstack([np.zeros((1, 3)), corners, random])


def write_preview(asset: AssetClass, path: Path, seed: int = 0, blender=None) -> None:
    """Render `asset` at `preview_rotations(seed)` with the dataset's renderer (`blender`, a
    `render.worker.BlenderProcess`, whose chatter goes to its log; a new one by default) and
    save the grid, over black and 4x enlarged, as the PNG `path` (atomically)."""
    from PIL import Image

    from mindseye.render.worker import BlenderProcess

    with contextlib.nullcontext(blender) if blender else BlenderProcess() as process:
        objects, _ = process.render(asset.blend_file, asset.object_name, preview_rotations(seed))
    side = objects.shape[1]
    grid = objects.reshape(PREVIEW_GRID_SIDE, PREVIEW_GRID_SIDE, side, side)
    grid = grid.transpose(0, 2, 1, 3).reshape(PREVIEW_GRID_SIDE * side, -1)
    grid = np.kron(grid, np.ones((PREVIEW_UPSCALE, PREVIEW_UPSCALE), np.uint8))
    with atomic_path(path) as partial:
        Image.fromarray(grid).save(partial, format="PNG")


@assets.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write one PNG per class to.",
)
@assets_dir_option
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the rotations.")
def preview(out_dir: Path, assets_dir: Path | None, seed: int) -> None:
    """Render a grid of rotations of every class with the dataset's renderer, one PNG each.

    The grid holds the rest pose, the 8 corners of the rotation box (the extremes the framing
    rule guarantees) and random rotations, at 64x64 shown 4x enlarged.
    """
    from mindseye.render.worker import BlenderProcess

    classes = load_classes(assets_dir)
    make_writable_folder(out_dir, "--out")
    with BlenderProcess() as blender:
        for asset in tqdm(classes.values(), desc="previewing classes"):
            path = out_dir / f"{asset.name}.png"
            write_preview(asset, path, seed, blender)
            click.echo(str(path))
