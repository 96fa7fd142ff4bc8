"""bpy helpers shared by the built-in recipes and `assets add`: join, fit, save.

Import this module only where bpy is wanted (the CLI imports it lazily inside its commands).
"""

import os
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from mindseye.blender_assets.framing import fit_to_frame
from mindseye.core.files import file_sha256


def new_empty_scene() -> None:
    """A fresh, empty scene with factory settings, and no `.blend1` backups when saving."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.preferences.filepaths.save_version = 0


def mesh_vertices(obj: bpy.types.Object) -> np.ndarray:
    """The mesh's vertex coordinates (n, 3) in the object's own space."""
    coordinates = np.empty(len(obj.data.vertices) * 3)
    obj.data.vertices.foreach_get("co", coordinates)
    return coordinates.reshape(-1, 3)


def join_meshes(objects: list[bpy.types.Object], name: str) -> bpy.types.Object:
    """Join mesh objects into one (materials stay per face) with its transforms applied."""
    bpy.ops.object.select_all(action="DESELECT")
    for obj in objects:
        obj.select_set(True)
    bpy.context.view_layer.objects.active = objects[0]
    if len(objects) > 1:
        bpy.ops.object.join()
    joined = bpy.context.view_layer.objects.active
    # Parents (e.g. glTF node trees) would keep a transform on the joined object: drop them.
    bpy.ops.object.parent_clear(type="CLEAR_KEEP_TRANSFORM")
    bpy.ops.object.transform_apply(location=True, rotation=True, scale=True)
    joined.name = name
    joined.data.name = name
    return joined


def normalise(obj: bpy.types.Object) -> tuple[np.ndarray, float]:
    """Centre and scale the mesh so it fits the frame at every sampled rotation (framing.py)."""
    centre, scale = fit_to_frame(mesh_vertices(obj))
    obj.data.transform(Matrix.Scale(scale, 4) @ Matrix.Translation(-centre))
    obj.data.update()
    return centre, scale


def save_single_object(obj: bpy.types.Object, path: Path) -> str:
    """Save a compressed .blend holding only `obj` (and its mesh and materials); its sha256.

    Everything else is deleted first. The file is written as `*.partial` and then renamed, so
    `path` is never half-written.
    """
    for other in list(bpy.data.objects):
        if other != obj:
            bpy.data.objects.remove(other)
    bpy.data.orphans_purge(do_local_ids=True, do_linked_ids=True, do_recursive=True)
    obj.location = (0.0, 0.0, 0.0)
    obj.rotation_mode = "ZXY"
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(partial), compress=True)
    sha256 = file_sha256(partial)
    os.replace(partial, path)
    return sha256
