"""`mindseye assets add|list|build` through click, on real files and real bpy imports."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from blender_assets.framing import FRAME_FILL, check_rotations, extent
from blender_assets.registry import load_classes
from render.assets_cli import assets
from tests.fixtures.blender import bpy  # imported at first use, not at collection

pytestmark = pytest.mark.blender

TETRAHEDRON_OBJ = """\
v 10 10 10
v 10 -10 -10
v -10 10 -10
v -10 -10 10
f 1 2 3
f 1 4 2
f 1 3 4
f 2 4 3
"""


def run(*args: str):
    return CliRunner().invoke(assets, list(args))


def folder_state(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.fixture
def tetrahedron(tmp_path: Path) -> Path:
    path = tmp_path / "tetra.obj"
    path.write_text(TETRAHEDRON_OBJ)
    return path


def test_add_obj_registers_a_class_whose_blend_loads(tmp_path: Path, tetrahedron: Path) -> None:
    assets_dir = tmp_path / "assets"
    assets_dir.mkdir()
    result = run("add", "tetra", str(tetrahedron), "--assets-dir", str(assets_dir))
    assert result.exit_code == 0, result.output
    asset = load_classes(assets_dir)["tetra"]
    assert asset.source == "tetra.obj"
    assert 0 < asset.scale < 0.1  # the model is 20 units across; the frame holds about 1.5

    bpy.ops.wm.open_mainfile(filepath=str(asset.blend_file))
    assert [obj.name for obj in bpy.data.objects] == [asset.object_name]
    mesh = bpy.data.objects[asset.object_name].data
    assert len(mesh.polygons) == 4
    assert mesh.materials[0].node_tree.nodes["Principled BSDF"] is not None
    vertices = np.array([vertex.co[:] for vertex in mesh.vertices])
    assert FRAME_FILL - 0.05 < extent(vertices, check_rotations()) <= FRAME_FILL + 1e-6

    listing = run("list", "--assets-dir", str(assets_dir))
    assert listing.exit_code == 0
    assert listing.output.splitlines() == [
        "0\ttetra\ttetra.blend\ttetra.obj",
        "1\tnone\t(backgrounds only)",
    ]

    again = run("add", "tetra", str(tetrahedron), "--assets-dir", str(assets_dir), "--overwrite")
    assert again.exit_code == 0, again.output
    assert list(load_classes(assets_dir)) == ["tetra"]


def bad_inputs(tmp_path: Path, tetrahedron: Path) -> dict[str, tuple[str, str]]:
    """name -> (class name, model file) for each mistake a user can make."""
    (tmp_path / "points.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    (tmp_path / "broken.glb").write_bytes(b"glTF\x02\x00\x00\x00 truncated")
    (tmp_path / "model.xyz").write_text(TETRAHEDRON_OBJ)
    return {
        "missing file": ("ghost", str(tmp_path / "ghost.obj")),
        "unsupported extension": ("xyz", str(tmp_path / "model.xyz")),
        "no mesh": ("points", str(tmp_path / "points.obj")),
        "unreadable model": ("broken", str(tmp_path / "broken.glb")),
        "reserved name": ("none", str(tetrahedron)),
        "bad name": ("Tea-Pot", str(tetrahedron)),
        "existing name": ("tetra", str(tetrahedron)),
    }


def test_bad_inputs_exit_2_with_one_line_and_write_nothing(
    tmp_path: Path, tetrahedron: Path
) -> None:
    assets_dir = tmp_path / "assets"
    assets_dir.mkdir()
    assert run("add", "tetra", str(tetrahedron), "--assets-dir", str(assets_dir)).exit_code == 0
    before = folder_state(assets_dir)
    for mistake, (name, model) in bad_inputs(tmp_path, tetrahedron).items():
        result = run("add", name, model, "--assets-dir", str(assets_dir))
        assert result.exit_code == 2, (mistake, result.output)
        assert len(result.stderr.strip().splitlines()) == 1, (mistake, result.stderr)
        assert result.exception is None or isinstance(result.exception, SystemExit), mistake
        assert folder_state(assets_dir) == before, mistake


@pytest.mark.slow
def test_build_is_repeatable_and_keeps_added_classes(tmp_path: Path, tetrahedron: Path) -> None:
    assert run("build", "--out", str(tmp_path)).exit_code == 0
    assert run("add", "tetra", str(tetrahedron), "--assets-dir", str(tmp_path)).exit_code == 0
    first = load_classes(tmp_path)
    assert run("build", "--out", str(tmp_path)).exit_code == 0
    second = load_classes(tmp_path)
    assert list(second) == ["monkey", "penguin", "aeroplane", "tetra"]
    assert second["tetra"] == first["tetra"]
    # Unchanged geometry keeps the file as it was, so a rebuild changes nothing on disk.
    assert second == first


EXPORTERS = {
    ".blend": lambda path: bpy.ops.wm.save_as_mainfile(filepath=path),
    ".stl": lambda path: bpy.ops.wm.stl_export(filepath=path),
    ".ply": lambda path: bpy.ops.wm.ply_export(filepath=path),
    ".glb": lambda path: bpy.ops.export_scene.gltf(filepath=path, export_format="GLB"),
    ".fbx": lambda path: bpy.ops.export_scene.fbx(filepath=path),
}


@pytest.mark.parametrize("suffix", list(EXPORTERS))
def test_add_reads_every_other_format(tmp_path: Path, tetrahedron: Path, suffix: str) -> None:
    # Blender writes the tetrahedron in each format; `assets add` must read it back.
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.obj_import(filepath=str(tetrahedron))
    model = tmp_path / f"tetra{suffix}"
    EXPORTERS[suffix](str(model))
    assets_dir = tmp_path / "assets"
    assets_dir.mkdir()
    result = run("add", "tetra", str(model), "--assets-dir", str(assets_dir))
    assert result.exit_code == 0, result.output
    asset = load_classes(assets_dir)["tetra"]
    bpy.ops.wm.open_mainfile(filepath=str(asset.blend_file))
    mesh = bpy.data.objects[asset.object_name].data
    assert len(mesh.polygons) == 4
    vertices = np.array([vertex.co[:] for vertex in mesh.vertices])
    assert FRAME_FILL - 0.05 < extent(vertices, check_rotations()) <= FRAME_FILL + 1e-6
