"""Small test objects for the render tests, made by real Blender in a child process (so that test
processes which must not import bpy can use them too): Suzanne in its own .blend, and a user
assets folder holding a tetrahedron added with `mindseye assets add`."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fixtures.environment import child_env
from tests.fixtures.user_assets import add_class, write_tetrahedron

BUILD_SUZANNE = textwrap.dedent("""
    import math, sys
    import bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_monkey_add()
    monkey = bpy.context.active_object
    monkey.name = "Monkey"
    bpy.ops.object.shade_smooth()
    scale = float(sys.argv[2])
    monkey.scale = (scale, scale, scale)
    monkey.rotation_euler = (-math.pi / 2, 0.0, 0.0)  # face (-Y) towards the camera (+Z)
    bpy.ops.object.transform_apply(location=True, rotation=True, scale=True)
    material = bpy.data.materials.new("grey")
    material.use_nodes = True
    principled = material.node_tree.nodes["Principled BSDF"]
    principled.inputs["Base Color"].default_value = (0.6, 0.6, 0.6, 1.0)
    monkey.data.materials.append(material)
    bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
""")


def build_suzanne(path: Path, scale: float) -> tuple[str, str]:
    subprocess.run([sys.executable, "-c", BUILD_SUZANNE, str(path), str(scale)], check=True,
                   stdout=subprocess.DEVNULL, env=child_env())
    return str(path), "Monkey"


@pytest.fixture(scope="session")
def suzanne_blend(tmp_path_factory) -> tuple[str, str]:
    """(path of a .blend holding a grey Suzanne that fits the frame, its object name)."""
    return build_suzanne(tmp_path_factory.mktemp("assets") / "monkey.blend", 0.5)


@pytest.fixture(scope="session")
def small_suzanne_blend(tmp_path_factory) -> tuple[str, str]:
    """The same Suzanne at half the size, under the same object name."""
    return build_suzanne(tmp_path_factory.mktemp("assets") / "monkey.blend", 0.25)


@pytest.fixture(scope="session")
def tetra_assets(tmp_path_factory) -> Path:
    """A user assets folder holding one class, `tetra`, added by the real `mindseye assets add`
    (with its preview). Copy it before changing it."""
    folder = tmp_path_factory.mktemp("user-assets")
    model = write_tetrahedron(folder.parent / f"{folder.name}-tetra.obj")
    add_class("tetra", model, folder / "assets")
    return folder / "assets"
