"""Real Blender renders through render.blender.Renderer (in this test process)."""

import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mindseye.render.blender import EngineSettings, Renderer, object_and_alpha, read_targa
from tests.fixtures.environment import child_env

pytestmark = pytest.mark.blender

# Few samples keep the tests fast; the pixels' properties checked here do not depend on it.
FAST = EngineSettings(samples=2)
ROTATIONS = np.array([[0.0, 0.0, 0.0], [0.4, -0.3, 0.2], [0.0, 0.0, 0.0]])


@pytest.fixture(scope="module")
def renders(suzanne_blend):
    renderer = Renderer(FAST)
    renderer.load_object(*suzanne_blend)
    objects, alphas = renderer.render_rotations(ROTATIONS)
    renderer.close()
    return objects, alphas


def test_object_is_in_the_centre_and_not_in_the_corners(renders):
    objects, alphas = renders
    assert objects.shape == alphas.shape == (3, 64, 64)
    assert objects.dtype == alphas.dtype == np.uint8
    assert (alphas[:, 28:36, 28:36] == 255).all()
    corners = alphas[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners == 0).all()
    assert objects[:, 28:36, 28:36].min() > 50


def test_object_is_black_where_alpha_is_zero(renders):
    objects, alphas = renders
    assert (objects[alphas == 0] == 0).all()
    assert (objects <= alphas).all()  # a grey base colour can never exceed full white x alpha


def test_same_rotation_gives_identical_pixels_and_different_rotations_differ(renders):
    objects, alphas = renders
    np.testing.assert_array_equal(objects[0], objects[2])
    np.testing.assert_array_equal(alphas[0], alphas[2])
    assert np.abs(objects[0].astype(int) - objects[1]).mean() > 5


def test_lights_shading_renders_the_same_silhouette(suzanne_blend, renders):
    renderer = Renderer(EngineSettings(samples=2, shading="lights"))
    renderer.load_object(*suzanne_blend)
    objects, alphas = renderer.render_rotations(ROTATIONS[:1])
    renderer.close()
    # Same camera and object: the silhouettes agree up to antialiasing noise at the edges.
    assert np.mean((alphas[0] > 127) != (renders[1][0] > 127)) < 0.01
    assert objects[0][alphas[0] == 255].mean() > 50


def test_read_targa_decodes_a_known_file():
    # A 2x2 image, bottom row first (descriptor 8: 8 alpha bits, bottom-left origin), BGRA.
    header = bytes([0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 32, 8])
    bottom = [10, 20, 30, 255, 0, 0, 0, 0]
    top = [1, 2, 3, 128, 200, 100, 50, 64]
    rgba = read_targa(header + bytes(bottom + top))
    np.testing.assert_array_equal(
        rgba, [[[3, 2, 1, 128], [50, 100, 200, 64]], [[30, 20, 10, 255], [0, 0, 0, 0]]]
    )
    objects, alphas = object_and_alpha(rgba)
    np.testing.assert_array_equal(alphas, [[128, 64], [255, 0]])
    # straight colour x alpha: luminance(3,2,1)=2.109 x 128/255 -> 1;
    # (50,100,200)=96.45 x 64/255 -> 24; (30,20,10)=21.59 -> 22
    np.testing.assert_array_equal(objects, [[1, 24], [22, 0]])


def test_cropping_to_the_object_changes_no_pixel(suzanne_blend, renders):
    renderer = Renderer(replace(FAST, crop_to_object=False))
    renderer.load_object(*suzanne_blend)
    objects, alphas = renderer.render_rotations(ROTATIONS)
    renderer.close()
    np.testing.assert_array_equal(objects, renders[0])
    np.testing.assert_array_equal(alphas, renders[1])


BUILD_CUBES = textwrap.dedent("""
    import sys
    import bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)
    for name in ("Red", "Textured"):
        bpy.ops.mesh.primitive_cube_add(size=0.8)
        cube = bpy.context.active_object
        cube.name = name
        material = bpy.data.materials.new(name)
        material.use_nodes = True
        principled = material.node_tree.nodes["Principled BSDF"]
        cube.data.materials.append(material)
        if name == "Red":
            principled.inputs["Base Color"].default_value = (1.0, 0.0, 0.0, 1.0)
        else:
            texture = material.node_tree.nodes.new("ShaderNodeTexChecker")
            texture.inputs["Scale"].default_value = 4.0
            material.node_tree.links.new(texture.outputs["Color"], principled.inputs["Base Color"])
    bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
""")


def test_coloured_and_textured_materials_keep_their_colour(tmp_path):
    blend = tmp_path / "cubes.blend"
    subprocess.run([sys.executable, "-c", BUILD_CUBES, str(blend)], check=True,
                   stdout=subprocess.DEVNULL, env=child_env())
    renderer = Renderer(FAST)
    renderer.load_object(blend, "Red")
    red, red_alpha = renderer.render_rotations(np.zeros((1, 3)))
    renderer.load_object(blend, "Textured")  # replaces the red cube
    textured, _ = renderer.render_rotations(np.zeros((1, 3)))
    renderer.close()
    import bpy

    # The red cube, its unseen twin and its mesh are gone; the textured cube's mesh is shared.
    assert len(bpy.data.meshes) == 1
    assert sorted(o.name for o in bpy.data.objects if o.type == "MESH") == [
        "Textured", "Textured-unseen-twin"
    ]
    face = (slice(None), slice(26, 38), slice(26, 38))
    assert (red_alpha[face] == 255).all()
    # Pure red: luminance is 0.299 x the red channel, far below a grey of the same brightness.
    assert 20 < red[face].mean() < 0.3 * 255
    assert red[face].std() < 3  # a flat face, evenly shaded
    assert textured[face].std() > 20  # the checker texture still feeds the shade


BUILD_GREY_CUBES = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[2])
    import bpy
    from mindseye.blender_assets.materials import DEFAULT_GREY, grey_material
    bpy.ops.wm.read_factory_settings(use_empty=True)
    for name in ("Grey", "Bare", "EmptySlot", "Colourless"):
        bpy.ops.mesh.primitive_cube_add(size=0.8)
        cube = bpy.context.active_object
        cube.name = name
        if name == "Grey":  # what `assets add` gives a part without a material
            cube.data.materials.append(grey_material("grey", DEFAULT_GREY))
        elif name == "EmptySlot":
            cube.data.materials.append(None)
        elif name == "Colourless":  # a surface shader with no colour input of its own
            material = bpy.data.materials.new("colourless")
            material.use_nodes = True
            nodes = material.node_tree.nodes
            mix = nodes.new("ShaderNodeMixShader")
            output = nodes["Material Output"]
            material.node_tree.links.new(mix.outputs["Shader"], output.inputs["Surface"])
            cube.data.materials.append(material)
    bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
""")


def test_parts_without_a_colour_are_shaded_with_the_assets_default_grey(tmp_path):
    # `assets add` and the renderer fill in one grey: a cube with no material, an empty slot or
    # a colourless shader renders exactly as one with the importer's default grey material.
    from mindseye.core.constants import IMAGE_SIZE

    project_root = Path(__file__).resolve().parents[2]  # the child imports blender_assets
    blend = tmp_path / "grey-cubes.blend"
    subprocess.run([sys.executable, "-c", BUILD_GREY_CUBES, str(blend), str(project_root)],
                   check=True, stdout=subprocess.DEVNULL, env=child_env())
    renderer = Renderer(FAST)
    rendered, defaulted = {}, {}
    for name in ("Grey", "Bare", "EmptySlot", "Colourless"):
        renderer.load_object(blend, name)
        rendered[name] = renderer.render_rotations(ROTATIONS[1:2])
        defaulted[name] = renderer.default_grey_materials
    renderer.close()
    assert defaulted == {"Grey": [], "Bare": ["default-grey"], "EmptySlot": ["default-grey"],
                         "Colourless": ["colourless"]}
    centre = IMAGE_SIZE // 2
    assert rendered["Grey"][1][0, centre, centre] == 255 and rendered["Grey"][0].max() > 40
    for name in ("Bare", "EmptySlot", "Colourless"):
        np.testing.assert_array_equal(rendered[name][0], rendered["Grey"][0], err_msg=name)
        np.testing.assert_array_equal(rendered[name][1], rendered["Grey"][1], err_msg=name)


@pytest.mark.parametrize("name", ["monkey", "penguin", "aeroplane"])
def test_built_in_classes_carry_every_grey_they_render_with(name):
    # So the one DEFAULT_GREY never reaches a built-in render: their datasets stay as they were.
    from mindseye.blender_assets.registry import load_classes

    asset = load_classes()[name]
    renderer = Renderer(FAST)
    renderer.load_object(asset.blend_file, asset.object_name)
    renderer.close()
    assert renderer.default_grey_materials == []
