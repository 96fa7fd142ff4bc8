"""`mindseye assets add`: turn a user's 3D model file into a registered user class.

The model is imported into an empty scene, its meshes are joined into one object, parts without
a material get a grey one, and it is centred and scaled by the same framing rule as the
built-ins. Nothing is left behind when any step fails.
"""

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bpy

from mindseye.blender_assets.blendfile import (
    join_meshes,
    new_empty_scene,
    normalise,
    save_single_object,
)
from mindseye.blender_assets.materials import DEFAULT_GREY, grey_material
from mindseye.blender_assets.registry import (
    CLASSES_FILE,
    PREVIEW_SUFFIX,
    AssetClass,
    check_user_class_name,
    describe_user_assets_dir,
    register_class,
    user_assets_dir,
    user_classes,
)
from mindseye.core.errors import UserError


def _append_blend_objects(path: Path) -> None:
    with bpy.data.libraries.load(str(path), link=False) as (source, target):
        target.objects = list(source.objects)
    for obj in target.objects:
        if obj is not None:
            bpy.context.scene.collection.objects.link(obj)


IMPORTERS = {
    ".blend": _append_blend_objects,
    ".obj": lambda path: bpy.ops.wm.obj_import(filepath=str(path)),
    ".glb": lambda path: bpy.ops.import_scene.gltf(filepath=str(path)),
    ".gltf": lambda path: bpy.ops.import_scene.gltf(filepath=str(path)),
    ".stl": lambda path: bpy.ops.wm.stl_import(filepath=str(path)),
    ".fbx": lambda path: bpy.ops.import_scene.fbx(filepath=str(path)),
    ".ply": lambda path: bpy.ops.wm.ply_import(filepath=str(path)),
}


def _import_meshes(path: Path) -> list[bpy.types.Object]:
    """Import `path` into the current (empty) scene; its mesh objects with at least one face."""
    try:
        IMPORTERS[path.suffix.lower()](path)
    except (RuntimeError, OSError) as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise UserError(f"{path} could not be read as {path.suffix} ({reason})") from None
    meshes = [
        obj
        for obj in bpy.context.scene.objects
        if obj.type == "MESH" and len(obj.data.polygons) > 0
    ]
    if not meshes:
        raise UserError(f"{path} holds no mesh with faces; export the model with its geometry")
    for obj in list(bpy.context.scene.objects):
        if obj not in meshes:
            bpy.data.objects.remove(obj)
    return meshes


def _fill_missing_materials(obj: bpy.types.Object, name: str) -> None:
    """Give faces without a material (no slot or an empty slot) one grey material."""
    mesh = obj.data
    slots = list(mesh.materials)
    if slots and all(material is not None for material in slots):
        return
    grey = grey_material(f"{name}_grey", DEFAULT_GREY)
    if not slots:
        mesh.materials.append(grey)
        return
    for index, material in enumerate(slots):
        if material is None:
            mesh.materials[index] = grey


def _quietly(function: Callable, *args: object) -> object:
    with _quiet_stdout():
        return function(*args)


@dataclass(frozen=True)
class AddedClass:
    """What `add_model` did: the registered class, its face count and its preview PNG."""

    asset: AssetClass
    faces: int
    preview_file: Path | None


@contextmanager
def _restored_on_failure(paths: list[Path]) -> Iterator[None]:
    """Put each file back as it was (or remove it) when the block fails."""
    before = {path: path.read_bytes() if path.is_file() else None for path in paths}
    try:
        yield
    except BaseException:
        for path, content in before.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        raise


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Blender's importers and saver print status lines from C code: send them to /dev/null
    (errors reach Python as exceptions, and stderr is left alone)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        # bpy.ops reports ("Info: ...") go through Python's sys.stdout instead.
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _make_folder(directory: Path, where: str) -> list[Path]:
    """Create the user assets folder if needed and check that files can be made in it; the
    folders created (to remove again if the import fails)."""
    fix = "pass --assets-dir DIR or set $MINDSEYE_ASSETS to a writable folder"
    missing = [folder for folder in (directory, *directory.parents) if not folder.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"user assets folder {where} cannot be created "
                        f"({error.strerror}); {fix}") from None
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".mindseye-probe-", dir=directory)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        for folder in missing:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise UserError(f"user assets folder {where} is not writable "
                        f"({error.strerror}); {fix}") from None
    return missing


def _strip_code_and_animation() -> None:
    """A class is static geometry: drop animation and drivers (a driver is a Python expression,
    which Blender refuses to run, and then hung on exit) and every text block of the file."""
    for collection in (bpy.data.objects, bpy.data.meshes, bpy.data.shape_keys,
                       bpy.data.materials, bpy.data.node_groups, bpy.data.worlds,
                       bpy.data.scenes, bpy.data.lights, bpy.data.cameras):
        for block in collection:
            block.animation_data_clear()
            tree = getattr(block, "node_tree", None)
            if tree is not None:
                tree.animation_data_clear()
    for text in list(bpy.data.texts):
        bpy.data.texts.remove(text)


def add_model(
    name: str,
    model_file: Path,
    assets_dir: Path | None = None,
    overwrite: bool = False,
    preview: Callable[[AssetClass, Path], None] | None = None,
) -> AddedClass:
    """Import `model_file` as user class `name`: save `<folder>/<name>.blend`, draw it with
    `preview(asset, path)` into `<folder>/<name>.preview.png` and register it, where the folder
    is `registry.user_assets_dir(assets_dir)`. On any failure the folder is left as it was."""
    check_user_class_name(name)
    directory = user_assets_dir(assets_dir)
    where = describe_user_assets_dir(assets_dir)
    model_file = Path(model_file)
    if model_file.is_dir():
        raise UserError(f"{model_file} is a folder; give the model file itself, one of "
                        f"{', '.join(IMPORTERS)}")
    if model_file.suffix.lower() not in IMPORTERS:
        raise UserError(
            f"{model_file}: unsupported model format {model_file.suffix or '(none)'!r}; "
            f"use one of {', '.join(IMPORTERS)}"
        )
    if not model_file.is_file():
        raise UserError(f"{model_file} does not exist or is not a file")
    try:
        model_file.open("rb").close()
    except OSError as error:
        raise UserError(f"{model_file} cannot be read ({error.strerror})") from None
    # Reads (and so checks) the folder's classes.toml before anything is written.
    if name in user_classes(assets_dir) and not overwrite:
        raise UserError(
            f"class {name!r} already exists in {directory / CLASSES_FILE}; "
            "pass --overwrite to replace it or choose another name"
        )
    created = _make_folder(directory, where)
    try:
        with _quiet_stdout():
            new_empty_scene()
            meshes = _import_meshes(model_file.resolve())
            _strip_code_and_animation()
            obj = join_meshes(meshes, name)
            _fill_missing_materials(obj, name)
            faces = len(obj.data.polygons)
            try:
                centre, scale = normalise(obj)
            except ValueError as error:
                raise UserError(f"{model_file}: {error}") from None
            # Imported textures live in memory or beside the source file: keep them in the .blend.
            bpy.ops.file.pack_all()

        blend_file = directory / f"{name}.blend"
        preview_file = directory / f"{name}{PREVIEW_SUFFIX}" if preview is not None else None
        with _restored_on_failure([blend_file, *filter(None, [preview_file])]):
            asset = AssetClass(
                name=name,
                blend_file=blend_file,
                object_name=obj.name,
                sha256=_quietly(save_single_object, obj, blend_file),
                scale=scale,
                centre=tuple(float(value) for value in centre),
                source=model_file.name,
            )
            if preview is not None:
                preview(asset, preview_file)
            register_class(asset, directory, overwrite=overwrite)
    except BaseException:
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when still empty
        raise
    return AddedClass(asset, faces, preview_file)
