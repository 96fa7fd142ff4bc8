"""The committed .blend files of the built-in classes, opened with real bpy."""

import itertools

import numpy as np
import pytest

from mindseye.blender_assets.framing import FRAME_FILL, euler_zxy_matrix, extent
from mindseye.blender_assets.registry import load_classes
from mindseye.core.constants import ROTATION_LIMIT
from tests.fixtures.blender import bpy  # imported at first use, not at collection

pytestmark = pytest.mark.blender

CORNERS = np.array(list(itertools.product((-ROTATION_LIMIT, ROTATION_LIMIT), repeat=3)))
BUILT_IN = ["monkey", "penguin", "aeroplane"]


def open_mesh(blend_file, object_name):
    """The file's objects, and the named object's vertices and per-face grey levels."""
    bpy.ops.wm.open_mainfile(filepath=str(blend_file))
    obj = bpy.data.objects[object_name]
    vertices = np.empty(len(obj.data.vertices) * 3)
    obj.data.vertices.foreach_get("co", vertices)
    material_index = np.empty(len(obj.data.polygons), dtype=np.int64)
    obj.data.polygons.foreach_get("material_index", material_index)
    greys = []
    for material in obj.data.materials:
        colour = material.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value
        assert colour[0] == colour[1] == colour[2], f"{material.name} is not grey"
        greys.append(colour[0])
    return list(bpy.data.objects), vertices.reshape(-1, 3), np.array(greys)[material_index]


def test_built_in_classes_are_registered_in_order() -> None:
    assert list(load_classes())[:3] == BUILT_IN


@pytest.mark.parametrize("name", BUILT_IN)
def test_built_in_blend_holds_one_framed_grey_mesh(name: str) -> None:
    asset = load_classes()[name]
    assert asset.blend_file.stat().st_size < 600_000
    objects, vertices, face_greys = open_mesh(asset.blend_file, asset.object_name)
    assert [obj.type for obj in objects] == ["MESH"]
    assert len(np.unique(face_greys)) > 1
    assert np.ptp(face_greys) > 0.3  # parts differ enough to be told apart at 64x64
    assert extent(vertices, CORNERS) <= FRAME_FILL + 1e-6
    assert extent(vertices, CORNERS) > 0.8  # and fill the frame


def test_numpy_euler_matches_blender() -> None:
    from mathutils import Euler

    rotation = (0.3, -0.45, 0.2)
    expected = np.array(Euler(rotation, "ZXY").to_matrix())
    np.testing.assert_allclose(euler_zxy_matrix(np.array([rotation]))[0], expected, atol=1e-6)
