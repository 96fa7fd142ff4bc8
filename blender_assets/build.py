"""The built-in classes, built from bpy primitives: Monkey, Penguin and Aeroplane.

Every recipe models its object with the front towards +Z (the camera) and up along +Y, out of
parts whose grey levels differ so that the internal structure survives at 64x64; the parts are
joined into one mesh, centred and scaled to the frame, and saved as `<name>.blend`.
Greys are linear Base Color values; orange parts use orange's luminance.
"""

import hashlib
import math
from collections.abc import Callable
from pathlib import Path

import bpy
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from mindseye.blender_assets.blendfile import (
    join_meshes,
    mesh_vertices,
    new_empty_scene,
    normalise,
    save_single_object,
)
from mindseye.blender_assets.materials import grey_material
from mindseye.blender_assets.registry import AssetClass
from mindseye.core.files import file_sha256

BLACK, WHITE, ORANGE = 0.04, 0.85, 0.45


def _sphere(material, location, scale, rotation=(0.0, 0.0, 0.0)) -> bpy.types.Object:
    bpy.ops.mesh.primitive_uv_sphere_add(
        segments=32, ring_count=16, location=location, scale=scale, rotation=rotation
    )
    return _finish_part(material, smooth=True)


def _cylinder(material, location, radius, depth, rotation) -> bpy.types.Object:
    bpy.ops.mesh.primitive_cylinder_add(
        vertices=32, radius=radius, depth=depth, location=location, rotation=rotation
    )
    return _finish_part(material, smooth=True)


def _cone(material, location, radius1, radius2, depth, rotation) -> bpy.types.Object:
    bpy.ops.mesh.primitive_cone_add(
        vertices=32,
        radius1=radius1,
        radius2=radius2,
        depth=depth,
        location=location,
        rotation=rotation,
    )
    return _finish_part(material, smooth=True)


def _slab(material, outline, thickness: float, axis: str = "z", offset: float = 0.0):
    """A flat plate: the convex 2D `outline` extruded by `thickness` along `axis`.

    `outline` lists (x, y) points for a plate normal to z (wings), or (y, z) points for one
    normal to x (the fin); `offset` is the plate's centre along `axis`.
    """
    outline = np.asarray(outline, dtype=np.float64)
    # Counter-clockwise in its own plane, so that every face's normal points outwards.
    x, y = outline.T
    if np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y) < 0:
        outline = outline[::-1]
    count = len(outline)
    layers = []
    for side in (-0.5, 0.5):
        across = np.full((count, 1), offset + side * thickness)
        if axis == "z":
            layers.append(np.hstack([outline, across]))
        else:
            layers.append(np.hstack([across, outline]))
    vertices = np.vstack(layers)
    faces = [list(range(count))[::-1], list(range(count, 2 * count))]
    faces += [[i, (i + 1) % count, count + (i + 1) % count, count + i] for i in range(count)]
    mesh = bpy.data.meshes.new("slab")
    mesh.from_pydata(vertices.tolist(), [], faces)
    part = bpy.data.objects.new("slab", mesh)
    bpy.context.scene.collection.objects.link(part)
    bpy.context.view_layer.objects.active = part
    return _finish_part(material, smooth=False)


def _finish_part(material, smooth: bool) -> bpy.types.Object:
    part = bpy.context.active_object
    part.data.materials.append(material)
    part.data.polygons.foreach_set("use_smooth", [smooth] * len(part.data.polygons))
    return part


def _polygon_islands(mesh: bpy.types.Mesh) -> np.ndarray:
    """The loose part (connected component) each polygon belongs to."""
    edges = np.empty(len(mesh.edges) * 2, dtype=np.int64)
    mesh.edges.foreach_get("vertices", edges)
    edges = edges.reshape(-1, 2)
    count = len(mesh.vertices)
    adjacency = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), (count, count))
    _, vertex_island = connected_components(adjacency, directed=False)
    first_vertex = np.array([polygon.vertices[0] for polygon in mesh.polygons])
    return vertex_island[first_vertex]


def build_monkey() -> bpy.types.Object:
    """Blender's Suzanne, subdivided and smooth: a mid-grey head with dark eyes and ears."""
    # Suzanne looks along -Y with up +Z; -90 degrees about X turns her face to +Z, up to +Y.
    bpy.ops.mesh.primitive_monkey_add(rotation=(-math.pi / 2, 0.0, 0.0))
    monkey = bpy.context.active_object
    bpy.ops.object.transform_apply(location=True, rotation=True, scale=True)
    mesh = monkey.data
    for material in (
        grey_material("monkey_skin", 0.5),
        grey_material("monkey_eyes", BLACK),
        grey_material("monkey_ears", 0.2),
    ):
        mesh.materials.append(material)
    islands = _polygon_islands(mesh)
    head = np.bincount(islands).argmax()
    centres = np.array([polygon.center[:] for polygon in mesh.polygons])
    normals = np.array([polygon.normal[:] for polygon in mesh.polygons])
    # The eyes are loose half-spheres; their backs poke through the brow once subdivision
    # shrinks the head, so only their camera-facing faces are dark.
    eyes = (islands != head) & (normals[:, 2] > 0.3)
    ears = np.abs(centres[:, 0]) > 0.95
    material_index = np.where(eyes, 1, np.where(ears, 2, 0))
    mesh.polygons.foreach_set("material_index", material_index)
    modifier = monkey.modifiers.new("subdivision", "SUBSURF")
    modifier.levels = modifier.render_levels = 2
    bpy.ops.object.modifier_apply(modifier=modifier.name)
    mesh.polygons.foreach_set("use_smooth", [True] * len(mesh.polygons))
    return join_meshes([monkey], "monkey")


def build_penguin() -> bpy.types.Object:
    """A Tux-like penguin: black body and head, white belly and face, eyes, orange beak and feet."""
    black = grey_material("penguin_black", BLACK)
    white = grey_material("penguin_white", WHITE)
    orange = grey_material("penguin_orange", ORANGE)
    pupil = grey_material("penguin_pupil", 0.0)
    parts = [
        _sphere(black, (0.0, 0.0, 0.0), (0.75, 1.0, 0.6)),  # body
        _sphere(white, (0.0, -0.12, 0.22), (0.58, 0.8, 0.42)),  # belly
        _sphere(black, (0.0, 1.05, 0.0), (0.5, 0.45, 0.45)),  # head
        _sphere(white, (0.0, 1.0, 0.2), (0.36, 0.3, 0.3)),  # face
        _sphere(orange, (0.0, 0.93, 0.5), (0.19, 0.08, 0.15)),  # beak
    ]
    for side in (-1.0, 1.0):
        parts += [
            _sphere(white, (side * 0.13, 1.15, 0.42), (0.1, 0.13, 0.08)),  # eye
            _sphere(pupil, (side * 0.12, 1.14, 0.49), (0.045, 0.065, 0.03)),  # pupil
            _sphere(black, (side * 0.72, 0.05, 0.0), (0.14, 0.55, 0.3), (0.0, 0.0, side * 0.35)),
            _sphere(orange, (side * 0.3, -0.98, 0.25), (0.25, 0.09, 0.3)),  # foot
        ]
    return join_meshes(parts, "penguin")


def build_aeroplane() -> bpy.types.Object:
    """An airliner seen from above, nose to +Y: a light fuselage with a dark cockpit, darker
    swept and tapered wings and tailplane, a fin and two engines hanging under the wings."""
    hull = grey_material("aeroplane_hull", 0.75)
    wing = grey_material("aeroplane_wing", 0.3)
    fin = grey_material("aeroplane_fin", 0.15)
    engine = grey_material("aeroplane_engine", 0.08)
    cockpit = grey_material("aeroplane_cockpit", BLACK)
    along_y = (math.pi / 2, 0.0, 0.0)  # turns a primitive's +Z axis to -Y
    parts = [
        _cylinder(hull, (0.0, 0.0, 0.0), 0.14, 2.2, along_y),  # fuselage
        _sphere(hull, (0.0, 1.1, 0.0), (0.14, 0.32, 0.14)),  # nose
        _cone(hull, (0.0, -1.35, 0.03), 0.14, 0.04, 0.5, along_y),  # tail cone
        _sphere(cockpit, (0.0, 1.15, 0.07), (0.09, 0.1, 0.075)),
        # Fin: a swept trapezoid in the y-z plane on top of the tail.
        _slab(fin, [(-1.55, 0.05), (-1.0, 0.05), (-1.35, 0.55), (-1.6, 0.55)], 0.04, "x"),
    ]
    for side in (-1.0, 1.0):
        # Wing and tailplane: swept, tapered plates, outlines from the root's leading edge.
        wing_outline = [(0.0, 0.45), (1.6, -0.25), (1.6, -0.45), (0.0, -0.25)]
        tail_outline = [(0.0, -1.05), (0.6, -1.35), (0.6, -1.5), (0.0, -1.45)]
        parts += [
            _slab(wing, [(side * x, y) for x, y in wing_outline], 0.04, "z", -0.04),
            _slab(wing, [(side * x, y) for x, y in tail_outline], 0.03, "z", 0.02),
            _cylinder(engine, (side * 0.6, 0.35, -0.14), 0.09, 0.45, along_y),
        ]
    return join_meshes(parts, "aeroplane")


BUILT_IN: dict[str, Callable[[], bpy.types.Object]] = {
    "monkey": build_monkey,
    "penguin": build_penguin,
    "aeroplane": build_aeroplane,
}


def _mesh_fingerprint(obj: bpy.types.Object) -> str:
    """A digest of what rendering sees: vertices, faces, per-face materials and their greys.

    Faces are compared as sets of vertices, since a saved file may start a face's corner
    list at a different corner.
    """
    mesh = obj.data
    digest = hashlib.sha256(mesh_vertices(obj).astype(np.float32).tobytes())
    faces = sorted(
        (tuple(sorted(polygon.vertices)), polygon.material_index) for polygon in mesh.polygons
    )
    digest.update(repr(faces).encode())
    for material in mesh.materials:
        digest.update(repr(tuple(material.diffuse_color)).encode())
    return digest.hexdigest()


def _unchanged_on_disk(obj: bpy.types.Object, blend_file: Path) -> bool:
    """Whether `blend_file` already holds this exact object (Blender never writes a .blend the
    same way twice, so comparing bytes would rewrite the committed files on every build)."""
    if not blend_file.is_file():
        return False
    with bpy.data.libraries.load(str(blend_file), link=False) as (available, wanted):
        wanted.objects = [name for name in available.objects if name == obj.name]
    if not wanted.objects:
        return False
    existing = wanted.objects[0]
    same = existing.type == "MESH" and _mesh_fingerprint(existing) == _mesh_fingerprint(obj)
    bpy.data.objects.remove(existing)
    return same


def build_class(name: str, out_dir: Path) -> AssetClass:
    """Build one built-in class into `out_dir/<name>.blend` and describe it.

    An existing file holding the same geometry and greys is kept as it is.
    """
    new_empty_scene()
    obj = BUILT_IN[name]()
    centre, scale = normalise(obj)
    blend_file = out_dir / f"{name}.blend"
    if _unchanged_on_disk(obj, blend_file):
        sha256 = file_sha256(blend_file)
    else:
        sha256 = save_single_object(obj, blend_file)
    return AssetClass(
        name=name,
        blend_file=blend_file,
        object_name=obj.name,
        sha256=sha256,
        scale=scale,
        centre=tuple(float(value) for value in centre),
    )
