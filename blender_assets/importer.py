"""`mindseye assets add`: turn a user's 3D model file into a registered class.

The model is imported into an empty scene, its meshes are joined into one object, parts without
a material get a grey one, and it is centred and scaled by the same framing rule as the
built-ins. Nothing is left behind when any step fails.
"""

import os
from pathlib import Path

import bpy

from blender_assets.blendfile import (
    join_meshes,
    new_empty_scene,
    normalise,
    save_single_object,
)
from blender_assets.materials import DEFAULT_GREY, grey_material
from blender_assets.registry import (
    AssetClass,
    check_class_name,
    load_classes,
    register_class,
    resolve_assets_dir,
)
from core.errors import UserError


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


def add_model(
    name: str, model_file: Path, assets_dir: Path | None = None, overwrite: bool = False
) -> AssetClass:
    """Import `model_file` as class `name`: save `<assets_dir>/<name>.blend` and register it."""
    check_class_name(name)
    directory = resolve_assets_dir(assets_dir)
    model_file = Path(model_file)
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
    if not directory.is_dir():
        raise UserError(f"assets folder {directory} does not exist; create it first")
    if not os.access(directory, os.W_OK):
        raise UserError(f"assets folder {directory} is not writable; pass --assets-dir")
    if (directory / "classes.toml").is_file() and name in load_classes(directory) and not overwrite:
        raise UserError(
            f"class {name!r} already exists in {directory / 'classes.toml'}; "
            "pass --overwrite to replace it or choose another name"
        )

    new_empty_scene()
    meshes = _import_meshes(model_file.resolve())
    obj = join_meshes(meshes, name)
    _fill_missing_materials(obj, name)
    try:
        centre, scale = normalise(obj)
    except ValueError as error:
        raise UserError(f"{model_file}: {error}") from None
    # Imported textures live in memory or beside the source file: keep them inside the .blend.
    bpy.ops.file.pack_all()

    blend_file = directory / f"{name}.blend"
    previous = blend_file.read_bytes() if blend_file.is_file() else None
    sha256 = save_single_object(obj, blend_file)
    asset = AssetClass(
        name=name,
        blend_file=blend_file,
        object_name=obj.name,
        sha256=sha256,
        scale=scale,
        centre=tuple(float(value) for value in centre),
        source=model_file.name,
    )
    try:
        register_class(asset, directory, overwrite=overwrite)
    except BaseException:
        # Leave the folder as it was: no new .blend without its classes.toml entry.
        if previous is None:
            blend_file.unlink(missing_ok=True)
        else:
            blend_file.write_bytes(previous)
        raise
    return asset
