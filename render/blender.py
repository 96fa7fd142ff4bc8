"""The thin bpy layer: one scene, one object at a time, many rotations rendered to numpy arrays.

This module is the only place in `render/` that touches bpy, and it imports bpy lazily (inside
`Renderer`), so that a parent process can build `EngineSettings` and start Blender workers
(`render.worker`) without loading Blender itself.

Shading. By default (`shading="emission"`) every material of a loaded object is rewritten into an
emission shader that computes `base_color * (ambient + diffuse * max(0, N.L))` for a fixed light
direction L. Cycles then needs no light sampling and no bounces, so the only noise left is
antialiasing at the object's edges, and a few samples per pixel give a near-reference image at
a fraction of the cost of path tracing (numbers in `benchmarks/render_quality.py`).
`shading="lights"` keeps the materials and lights the scene with a sun from the same direction
plus a uniform grey world of the same ambient level: the path-traced look, with shadows.
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

# One camera for the renderer and for the asset normalisation that makes objects fit its view.
from mindseye.blender_assets.framing import CAMERA_LOCATION, LENS_MM, SENSOR_WIDTH_MM

# One grey for a part without a colour, whether `assets add` or the renderer fills it in.
from mindseye.blender_assets.materials import DEFAULT_GREY, grey_material
from mindseye.core.constants import IMAGE_SIZE, LUMINANCE_WEIGHTS
from mindseye.core.errors import UserError

FRAME_DIR_PREFIX = "mindseye-frames-"

_TARGA_HEADER_BYTES = 18


@dataclass(frozen=True)
class EngineSettings:
    """How a frame is rendered. These defaults are the project's render defaults, chosen by the
    quality/speed study in `benchmarks/render_quality.py`."""

    engine: str = "CYCLES"
    # Up to 32 samples a pixel with adaptive sampling (below): 2.8 grey levels RMS against a
    # 512-sample render at ~41 renders per CPU second (the study), against 3.3 grey levels for
    # plain 16 samples at a similar speed. The previous default (threshold 0.02,
    # Blackman-Harris 1.5 px) gave 2.6 grey levels at 0.75-0.9x the speed.
    samples: int = 32
    # "OPENIMAGEDENOISE" or None. At 64x64 denoising costs ~0.3 s a frame and still leaves
    # 9-15 grey levels of error at 1-4 samples (see the study): off.
    denoiser: str | None = None
    # "emission" (analytic diffuse shading, no light sampling) or "lights" (sun + grey world).
    shading: str = "emission"
    max_bounces: int = 0
    # Adaptive sampling: a pixel stops once its noise is below this (0 = off). Background and
    # flat interior pixels converge after a few samples; edges get the full `samples`.
    adaptive_threshold: float = 0.05
    adaptive_min_samples: int = 4
    # Pixel filter: "BOX", "GAUSSIAN" or "BLACKMAN_HARRIS", and its width in pixels. With
    # emission shading the noise is the edge coverage of each pixel; a 1-pixel box counts it
    # with equal weights and no overlap between pixels: 20% less error than Blackman-Harris
    # 1.5 at the same samples, and a crisper image.
    pixel_filter: str = "BOX"
    filter_width: float = 1.0
    # Direction towards the light, in world space (camera at +Z looking down -Z, up +Y):
    # from the upper left, in front of the object.
    light_direction: tuple[float, float, float] = (-0.4, 0.5, 0.77)
    ambient: float = 0.3
    diffuse: float = 0.7
    seed: int = 0
    # Render only the object's projected bounding box (plus the pixel filter's reach): the
    # pixels outside it are empty anyway, and a background pixel costs Cycles almost as much
    # as an object pixel. Same pixels, about 1.5x faster.
    crop_to_object: bool = True
    # Render threads per Blender process; one process per core is how the driver scales out.
    threads: int = 1

    @classmethod
    def from_record(cls, record: dict, where: str) -> EngineSettings:
        """The settings a dataset recorded (`asdict`, through JSON: tuples came back as lists).

        `where` names the record in the error raised for a field this version does not know.
        """
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(record) - known)
        if unknown:
            raise UserError(f"{where} records engine settings this mindseye does not know "
                            f"({', '.join(unknown)}); use the mindseye that rendered it")
        return cls(**{name: tuple(value) if isinstance(value, list) else value
                      for name, value in record.items()})


def frame_file_dir() -> str:
    """A RAM-backed folder for the per-frame TARGA files: /dev/shm when present."""
    return "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


def make_frame_dir() -> str:
    """A new, empty frame folder owned by this process, named `mindseye-frames-<pid>-*`.

    The owner removes it when done. A process killed before that leaves its folder behind, so
    first remove the folders of owners that no longer exist.
    """
    parent = frame_file_dir()
    for folder in Path(parent).glob(FRAME_DIR_PREFIX + "*"):
        owner = folder.name[len(FRAME_DIR_PREFIX) :].split("-")[0]
        if owner.isdigit() and not _process_exists(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{FRAME_DIR_PREFIX}{os.getpid()}-", dir=parent)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def read_targa(data: bytes) -> np.ndarray:
    """Decode an uncompressed 32-bit TARGA (as Blender's TARGA_RAW writes it) into RGBA uint8
    (height, width, 4), top row first."""
    id_length = data[0]
    image_type = data[2]
    width = int.from_bytes(data[12:14], "little")
    height = int.from_bytes(data[14:16], "little")
    bits_per_pixel = data[16]
    top_row_first = bool(data[17] & 0x20)
    if image_type != 2 or bits_per_pixel != 32:
        raise ValueError(
            f"expected an uncompressed 32-bit TARGA, got type {image_type}, {bits_per_pixel} bpp"
        )
    start = _TARGA_HEADER_BYTES + id_length
    bgra = np.frombuffer(data, np.uint8, count=width * height * 4, offset=start)
    bgra = bgra.reshape(height, width, 4)
    if not top_row_first:
        bgra = bgra[::-1]
    return bgra[..., [2, 1, 0, 3]]


def object_and_alpha(rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a straight-alpha RGBA frame into (luminance over black, alpha), both uint8.

    Blender writes 8-bit files with straight (un-premultiplied) colour, so the object over black
    is the luminance multiplied by alpha.
    """
    alpha = rgba[..., 3]
    luminance = rgba[..., :3] @ np.array(LUMINANCE_WEIGHTS)
    over_black = np.rint(luminance * (alpha / 255.0))
    return over_black.astype(np.uint8), alpha.copy()


class Renderer:
    """One Blender scene (camera, film, engine) into which objects are loaded and rendered.

    Frames pass through a file in `frame_dir`; without one, the renderer makes its own folder
    and removes it on close. A `BlenderProcess` passes the folder it owns, so that a killed
    child leaves nothing behind.
    """

    def __init__(
        self, settings: EngineSettings | None = None, frame_dir: str | None = None
    ) -> None:
        import bpy

        self.settings = settings or EngineSettings()
        self._object = None
        self._twin = None
        self._loaded: tuple[str, str, int, int, int] | None = None  # see load_object
        # Materials of the loaded object that carry no colour of their own and are shaded with
        # DEFAULT_GREY ("default-grey" stands for an empty slot); empty for the built-in classes.
        self.default_grey_materials: list[str] = []
        self._own_frame_dir = frame_dir is None
        self._frame_dir = make_frame_dir() if frame_dir is None else frame_dir
        self._frame_file = os.path.join(self._frame_dir, "frame.tga")
        atexit.register(self.close)  # a process that forgets close() leaves no folder behind

        bpy.ops.wm.read_factory_settings(use_empty=True)
        self._scene = bpy.context.scene
        _set_up_render(self._scene, self.settings, self._frame_file)
        camera = _add_camera(self._scene)
        _set_up_lighting(self._scene, self.settings)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        projection = camera.calc_matrix_camera(depsgraph, x=IMAGE_SIZE, y=IMAGE_SIZE)
        self._world_to_clip = np.array(projection @ camera.matrix_world.inverted())
        self._hull: np.ndarray | None = None

    def load_object(self, blend_file: str | Path, object_name: str) -> None:
        """Append `object_name` from `blend_file`, at the origin, replacing the previous object."""
        import bpy

        path = Path(blend_file)
        if not path.is_file():
            raise UserError(f"{blend_file}: model file not found; `mindseye assets list` shows "
                            "each class's file")
        # The file's identity, size and time too: a class added again with --overwrite keeps its
        # path (a new file renamed over it), and a long-lived child must not go on drawing the
        # old model.
        status = path.stat()
        key = (str(path.resolve()), object_name, status.st_ino, status.st_size,
               status.st_mtime_ns)
        if key == self._loaded:
            return
        # Before appending: purging the old object's data would also take the new, unlinked one.
        self._remove_object()
        with bpy.data.libraries.load(str(blend_file), link=False) as (available, wanted):
            if object_name not in available.objects:
                raise UserError(
                    f"{blend_file}: no object named {object_name!r} "
                    f"(it has: {', '.join(available.objects) or 'none'})"
                )
            wanted.objects = [object_name]
        new_object = wanted.objects[0]
        if new_object.type != "MESH":
            raise UserError(
                f"{blend_file}: object {object_name!r} is a {new_object.type}, not a mesh"
            )

        self._scene.collection.objects.link(new_object)
        new_object.parent = None
        new_object.location = (0.0, 0.0, 0.0)
        new_object.rotation_mode = "ZXY"
        new_object.rotation_euler = (0.0, 0.0, 0.0)
        self.default_grey_materials = []
        if self.settings.shading == "emission":
            self.default_grey_materials = _convert_materials_to_emission(new_object, self.settings)
        self._object = new_object
        self._twin = _add_unseen_twin(self._scene, new_object)
        self._loaded = key
        self._hull = _convex_hull_points(new_object) * np.array(new_object.scale)

    def render_rotations(self, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Render the loaded object at each Euler rotation (x, y, z) in radians, ZXY order.

        Returns (object, alpha), both uint8 (n, 64, 64): the luminance over black and the alpha.
        """
        import bpy

        if self._object is None:
            raise RuntimeError("Renderer.render_rotations called before load_object")
        rotations = np.asarray(rotations, dtype=np.float64).reshape(-1, 3)
        objects = np.empty((len(rotations), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
        alphas = np.empty_like(objects)
        for i, rotation in enumerate(rotations):
            self._object.rotation_euler = rotation.tolist()
            if self.settings.crop_to_object:
                self._crop_to(rotation)
            bpy.ops.render.render(write_still=True)
            with open(self._frame_file, "rb") as frame:
                objects[i], alphas[i] = object_and_alpha(read_targa(frame.read()))
        self._release_session()
        return objects, alphas

    def _release_session(self) -> None:
        """Free Cycles' persistent session until the next render_rotations.

        With persistent data on (fast frame after frame), Blender 4.5 keeps a session thread
        that spins a whole core while the renderer waits for work, starving whatever else runs
        (the parent compositing shards, training after a render, the test suite). One frame
        rendered without persistent data frees it (~40 ms); the next call's first frame builds
        it again (~10 ms).
        """
        import bpy

        render = self._scene.render
        if not render.use_persistent_data:
            return
        render.use_persistent_data = False
        bpy.ops.render.render(write_still=False)
        render.use_persistent_data = True

    def _crop_to(self, rotation: np.ndarray) -> None:
        """Set the render border to the object's projected bounding box at `rotation`."""
        from mathutils import Euler

        turn = np.array(Euler(rotation.tolist(), "ZXY").to_matrix())
        points = self._hull @ turn.T
        clip = points @ self._world_to_clip[:, :3].T + self._world_to_clip[:, 3]
        render = self._scene.render
        if (clip[:, 3] <= 0).any():  # part of the object behind the camera: render everything
            render.use_border = False
            return
        pixels = (clip[:, :2] / clip[:, 3:] + 1.0) / 2.0 * IMAGE_SIZE
        # A sample reaches half the filter width beyond its pixel; one more pixel for rounding.
        reach = self.settings.filter_width / 2 + 1.0
        low = np.clip((pixels.min(axis=0) - reach) / IMAGE_SIZE, 0.0, 1.0)
        high = np.clip((pixels.max(axis=0) + reach) / IMAGE_SIZE, 0.0, 1.0)
        render.use_border = True
        render.border_min_x, render.border_min_y = low
        render.border_max_x, render.border_max_y = high

    def close(self) -> None:
        """Remove the frame folder if it is ours (Blender itself lives as long as the process)."""
        if self._own_frame_dir:
            shutil.rmtree(self._frame_dir, ignore_errors=True)
        else:
            Path(self._frame_file).unlink(missing_ok=True)

    def _remove_object(self) -> None:
        import bpy

        if self._object is not None:
            bpy.data.objects.remove(self._object, do_unlink=True)
            bpy.data.objects.remove(self._twin, do_unlink=True)
            # Meshes, materials and images of the old object would otherwise pile up.
            bpy.data.orphans_purge(do_recursive=True)
            self._object = None
            self._loaded = None


def _add_unseen_twin(scene, obj):
    """A second object sharing `obj`'s mesh, behind the camera and hidden from every ray but
    camera rays (which cannot reach it there): it never shows, but it makes the render faster.

    Cycles bakes the transform of a mesh with a single user into its vertices, so every new
    rotation re-transforms the mesh and rebuilds its BVH (~6 ms a frame, half the time of a
    1-sample frame). With two users the mesh stays in object space and a rotation only moves
    an instance. (A twin hidden from camera rays too is skipped by Cycles and does not help.)
    Pixels change by float rounding only (ray-triangle tests in object space).
    """
    import bpy

    twin = bpy.data.objects.new(f"{obj.name}-unseen-twin", obj.data)
    twin.location = (0.0, 0.0, 2.0 * CAMERA_LOCATION[2])
    twin.scale = obj.scale
    for ray in ("diffuse", "glossy", "transmission", "volume_scatter", "shadow"):
        setattr(twin, f"visible_{ray}", False)
    scene.collection.objects.link(twin)
    return twin


def _set_up_render(scene, settings: EngineSettings, frame_file: str) -> None:
    render = scene.render
    render.engine = settings.engine
    render.resolution_x = render.resolution_y = IMAGE_SIZE
    render.resolution_percentage = 100
    render.film_transparent = True
    # Keeps the scene in memory between frames: 5-6x faster per frame.
    render.use_persistent_data = True
    render.threads_mode = "FIXED"
    render.threads = settings.threads
    # Dithering adds noise when quantising to 8 bits; we want exact, reproducible grey levels.
    render.dither_intensity = 0.0
    # Pixels outside the border stay in the image, empty.
    render.use_crop_to_border = False
    render.use_compositing = False
    render.use_sequencer = False
    render.filepath = frame_file
    render.use_file_extension = False
    image = render.image_settings
    image.file_format = "TARGA_RAW"
    image.color_mode = "RGBA"
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    scene.view_settings.gamma = 1.0

    if settings.engine == "CYCLES":
        cycles = scene.cycles
        cycles.device = "CPU"
        cycles.samples = settings.samples
        cycles.use_adaptive_sampling = settings.adaptive_threshold > 0
        cycles.adaptive_threshold = settings.adaptive_threshold
        cycles.adaptive_min_samples = settings.adaptive_min_samples
        cycles.pixel_filter_type = settings.pixel_filter
        cycles.filter_width = settings.filter_width
        cycles.seed = settings.seed
        cycles.use_animated_seed = False
        cycles.max_bounces = settings.max_bounces
        cycles.diffuse_bounces = settings.max_bounces
        cycles.glossy_bounces = settings.max_bounces
        cycles.transmission_bounces = settings.max_bounces
        cycles.transparent_max_bounces = 8
        cycles.use_denoising = settings.denoiser is not None
        if settings.denoiser is not None:
            cycles.denoiser = settings.denoiser
        # Clamping would bias grey levels; leave it off.
        cycles.sample_clamp_direct = 0.0
        cycles.sample_clamp_indirect = 0.0


def _add_camera(scene):
    import bpy
    from mathutils import Vector

    camera_data = bpy.data.cameras.new("camera")
    camera_data.lens = LENS_MM
    camera_data.sensor_width = SENSOR_WIDTH_MM
    camera_data.sensor_fit = "HORIZONTAL"
    camera = bpy.data.objects.new("camera", camera_data)
    camera.location = CAMERA_LOCATION
    # Look at the origin with image-up as close to +Y as the viewing direction allows
    # (what a Track To constraint with up axis Y does).
    camera.rotation_euler = (-Vector(CAMERA_LOCATION)).to_track_quat("-Z", "Y").to_euler()
    scene.collection.objects.link(camera)
    scene.camera = camera
    return camera


def _set_up_lighting(scene, settings: EngineSettings) -> None:
    import bpy
    from mathutils import Vector

    world = bpy.data.worlds.new("world")
    world.use_nodes = True
    background = world.node_tree.nodes["Background"]
    scene.world = world
    if settings.shading == "emission":
        # The materials shade themselves; the world contributes nothing.
        background.inputs["Strength"].default_value = 0.0
        return
    if settings.shading != "lights":
        raise ValueError(f"unknown shading {settings.shading!r}: use 'emission' or 'lights'")
    # A uniform world of radiance `ambient` lights an unoccluded diffuse surface to
    # base * ambient, and a sun of irradiance pi * diffuse adds base * diffuse * N.L:
    # the same formula as the emission shading, plus shadows and inter-reflections.
    background.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
    background.inputs["Strength"].default_value = settings.ambient
    sun_data = bpy.data.lights.new("sun", "SUN")
    sun_data.energy = math.pi * settings.diffuse
    sun_data.angle = 0.0
    sun = bpy.data.objects.new("sun", sun_data)
    sun.rotation_euler = Vector(settings.light_direction).to_track_quat("Z", "Y").to_euler()
    scene.collection.objects.link(sun)


def _convert_materials_to_emission(obj, settings: EngineSettings) -> list[str]:
    """Rewrite each material of `obj` as base_color * (ambient + diffuse * max(0, N.L)),
    keeping whatever feeds the surface shader's colour (a constant or a texture).

    Returns the names of the materials that had no colour and got DEFAULT_GREY.
    """
    defaulted = []
    if not obj.material_slots:
        obj.data.materials.append(grey_material("default-grey", DEFAULT_GREY))
        defaulted.append("default-grey")
    for slot in obj.material_slots:
        if slot.material is None:
            slot.material = grey_material("default-grey", DEFAULT_GREY)
            defaulted.append("default-grey")
        if not _emission_shading(slot.material, settings):
            defaulted.append(slot.material.name)
    return defaulted


def _emission_shading(material, settings: EngineSettings) -> bool:
    """Make `material` emit its shaded colour; False where it had no colour input of its own
    (no surface shader, or one without a Base Color or Color input) and got DEFAULT_GREY."""
    material.use_nodes = True
    tree = material.node_tree
    nodes, links = tree.nodes, tree.links
    output = next((n for n in nodes if n.type == "OUTPUT_MATERIAL" and n.is_active_output), None)
    if output is None:
        output = nodes.new("ShaderNodeOutputMaterial")
    shader = output.inputs["Surface"].links[0].from_node if output.inputs["Surface"].links else None
    colour_input = None
    if shader is not None:
        colour_input = shader.inputs.get("Base Color") or shader.inputs.get("Color")

    geometry = nodes.new("ShaderNodeNewGeometry")
    n_dot_l = nodes.new("ShaderNodeVectorMath")
    n_dot_l.operation = "DOT_PRODUCT"
    n_dot_l.inputs[1].default_value = _normalised(settings.light_direction)
    links.new(geometry.outputs["Normal"], n_dot_l.inputs[0])
    facing = nodes.new("ShaderNodeMath")
    facing.operation = "MAXIMUM"
    facing.inputs[1].default_value = 0.0
    links.new(n_dot_l.outputs["Value"], facing.inputs[0])
    shade = nodes.new("ShaderNodeMath")
    shade.operation = "MULTIPLY_ADD"
    shade.inputs[1].default_value = settings.diffuse
    shade.inputs[2].default_value = settings.ambient
    links.new(facing.outputs["Value"], shade.inputs[0])

    shaded_colour = nodes.new("ShaderNodeVectorMath")
    shaded_colour.operation = "SCALE"
    if colour_input is not None and colour_input.links:
        links.new(colour_input.links[0].from_socket, shaded_colour.inputs[0])
    else:
        colour = colour_input.default_value[:3] if colour_input is not None else (DEFAULT_GREY,) * 3
        shaded_colour.inputs[0].default_value = colour
    links.new(shade.outputs["Value"], shaded_colour.inputs["Scale"])

    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Strength"].default_value = 1.0
    links.new(shaded_colour.outputs["Vector"], emission.inputs["Color"])
    links.new(emission.outputs["Emission"], output.inputs["Surface"])
    # The object is not a light source for anything else in the scene.
    material.cycles.emission_sampling = "NONE"
    return colour_input is not None


def _convex_hull_points(obj) -> np.ndarray:
    """The vertices (object space, modifiers applied) that bound `obj`'s projection."""
    import bpy
    from scipy.spatial import ConvexHull, QhullError

    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()
    coordinates = np.empty(len(mesh.vertices) * 3, np.float64)
    mesh.vertices.foreach_get("co", coordinates)
    evaluated.to_mesh_clear()
    points = coordinates.reshape(-1, 3)
    try:
        return points[ConvexHull(points).vertices]
    except (QhullError, ValueError):  # flat or tiny meshes: every vertex will do
        return points


def _normalised(vector: tuple[float, float, float]) -> tuple[float, float, float]:
    length = math.sqrt(sum(c * c for c in vector))
    return tuple(c / length for c in vector)
