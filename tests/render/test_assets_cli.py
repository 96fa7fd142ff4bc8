"""`mindseye assets add|list|build` through click, on real files and real bpy imports."""

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from mindseye.blender_assets.framing import FRAME_FILL, check_rotations, extent
from mindseye.blender_assets.registry import (
    PACKAGE_DIR,
    builtin_classes,
    load_classes,
    read_classes_file,
)
from mindseye.render.assets_cli import PREVIEW_GRID_SIDE, assets
from tests.fixtures.blender import bpy  # imported at first use, not at collection
from tests.fixtures.user_assets import TETRAHEDRON_OBJ, package_files, write_tetrahedron

pytestmark = pytest.mark.blender


def run(*args: str):
    return CliRunner().invoke(assets, list(args))


def folder_state(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.fixture
def tetrahedron(tmp_path: Path) -> Path:
    return write_tetrahedron(tmp_path / "tetra.obj")


def test_add_obj_registers_a_class_whose_blend_loads(tmp_path: Path, tetrahedron: Path) -> None:
    assets_dir = tmp_path / "assets"
    result = run("add", "tetra", str(tetrahedron), "--assets-dir", str(assets_dir))
    assert result.exit_code == 0, result.output
    asset = load_classes(assets_dir)["tetra"]
    assert asset.source == "tetra.obj" and not asset.built_in
    assert 0 < asset.scale < 0.1  # the model is 20 units across; the frame holds about 1.5
    # One summary line (class, faces, the normalisation, where), then the preview's path.
    summary, preview = result.output.splitlines()
    assert summary == (
        f"tetra: 4 faces from {tetrahedron}, offset (0, 0, 0) then scale {asset.scale:.4g} "
        f"applied, written to {assets_dir / 'tetra.blend'} (sha256 {asset.sha256[:12]}, "
        "user class)")
    assert preview == f"preview: {assets_dir / 'tetra.preview.png'}"

    bpy.ops.wm.open_mainfile(filepath=str(asset.blend_file))
    assert [obj.name for obj in bpy.data.objects] == [asset.object_name]
    mesh = bpy.data.objects[asset.object_name].data
    assert len(mesh.polygons) == 4
    assert mesh.materials[0].node_tree.nodes["Principled BSDF"] is not None
    vertices = np.array([vertex.co[:] for vertex in mesh.vertices])
    assert FRAME_FILL - 0.05 < extent(vertices, check_rotations()) <= FRAME_FILL + 1e-6

    again = run("add", "tetra", str(tetrahedron), "--assets-dir", str(assets_dir), "--overwrite")
    assert again.exit_code == 0, again.output
    assert list(read_classes_file(assets_dir)) == ["tetra"]


def test_the_preview_shows_the_object_at_every_sampled_rotation(
    tmp_path: Path, tetrahedron: Path
) -> None:
    assert run("add", "tetra", str(tetrahedron), "--assets-dir", str(tmp_path)).exit_code == 0
    pixels = np.asarray(Image.open(tmp_path / "tetra.preview.png"))
    assert pixels.dtype == np.uint8 and pixels.ndim == 2
    side = pixels.shape[0] // PREVIEW_GRID_SIDE
    tiles = pixels.reshape(PREVIEW_GRID_SIDE, side, PREVIEW_GRID_SIDE, side).swapaxes(1, 2)
    covered = (tiles > 0).mean(axis=(2, 3))  # the object over a black background
    assert (covered > 0.05).all() and (covered < 0.8).all(), covered


def test_adding_a_class_never_changes_the_installed_package(
    tmp_path: Path, tetrahedron: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No option, no MINDSEYE_ASSETS: the class goes to $XDG_DATA_HOME/mindseye/assets.
    monkeypatch.delenv("MINDSEYE_ASSETS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    before = package_files()
    result = run("add", "tetra", str(tetrahedron))
    assert result.exit_code == 0, result.output
    assert package_files() == before
    folder = tmp_path / "xdg" / "mindseye" / "assets"
    assert sorted(path.name for path in folder.iterdir()) == [
        "classes.toml", "tetra.blend", "tetra.preview.png"]
    assert list(read_classes_file(folder)) == ["tetra"]  # only the user's class
    assert list(load_classes()) == [*builtin_classes(), "tetra"]
    assert run("list").exit_code == 0
    assert package_files() == before


def test_list_shows_every_class_with_its_origin_sha256_and_state(
    tmp_path: Path, tetrahedron: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINDSEYE_ASSETS", str(tmp_path / "assets"))
    assert run("add", "tetra", str(tetrahedron)).exit_code == 0
    tetra = load_classes()["tetra"]
    listing = run("list")
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert lines[0] == f"# user classes: {tmp_path / 'assets'} ($MINDSEYE_ASSETS)"
    built_in = [f"{label}\t{asset.name}\tbuilt-in\t{asset.sha256[:12]}\t{asset.blend_file}\t-\tok"
                for label, asset in enumerate(builtin_classes().values())]
    assert lines[1:4] == built_in
    assert lines[4] == f"3\ttetra\tuser\t{tetra.sha256[:12]}\t{tetra.blend_file}\ttetra.obj\tok"
    assert lines[5] == "4\tnone\t(backgrounds only)"
    tetra.blend_file.write_bytes(b"edited")
    assert run("list").output.splitlines()[4].endswith("\tchanged")
    tetra.blend_file.unlink()
    assert run("list").output.splitlines()[4].endswith("\tmissing")


def bad_inputs(tmp_path: Path, tetrahedron: Path) -> dict[str, tuple[str, str]]:
    """name -> (class name, model file) for each mistake a user can make."""
    (tmp_path / "points.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    (tmp_path / "broken.glb").write_bytes(b"glTF\x02\x00\x00\x00 truncated")
    (tmp_path / "model.xyz").write_text(TETRAHEDRON_OBJ)
    return {
        "missing file": ("ghost", str(tmp_path / "ghost.obj")),
        "unsupported extension": ("xyz", str(tmp_path / "model.xyz")),
        "a folder": ("folder", str(tmp_path)),
        "no mesh": ("points", str(tmp_path / "points.obj")),
        "unreadable model": ("broken", str(tmp_path / "broken.glb")),
        "reserved name": ("none", str(tetrahedron)),
        "bad name": ("Tea-Pot", str(tetrahedron)),
        "existing name": ("tetra", str(tetrahedron)),
        "built-in name": ("monkey", str(tetrahedron)),
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
    folder = run("add", "folder", str(tmp_path), "--assets-dir", str(assets_dir))
    assert "is a folder; give the model file itself" in folder.stderr


def test_an_add_that_outlasts_its_timeout_is_stopped_and_the_folder_put_back(
    tmp_path: Path, tetrahedron: Path
) -> None:
    # Any real add takes more than a second (Blender starts twice: to import, and to draw the
    # preview), so --timeout 1 stops it as it would stop a file that makes Blender hang.
    assets_dir = tmp_path / "assets"
    assert run("add", "tetra", str(tetrahedron), "--assets-dir", str(assets_dir)).exit_code == 0
    before = folder_state(assets_dir)
    for name in ("tetra", "other"):
        result = run("add", name, str(tetrahedron), "--assets-dir", str(assets_dir),
                     "--overwrite", "--timeout", "1")
        assert_refused(result, str(tetrahedron), "within 1 s", "--timeout")
        assert folder_state(assets_dir) == before
    new_folder = tmp_path / "new" / "assets"
    assert_refused(run("add", "tetra", str(tetrahedron), "--assets-dir", str(new_folder),
                       "--timeout", "1"), "within 1 s")
    assert not new_folder.exists()


def assert_refused(result, *culprits: str) -> None:
    """Exit code 2, one line on stderr naming each culprit, no traceback."""
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for culprit in culprits:
        assert culprit in result.stderr, (culprit, result.stderr)


def test_a_broken_classes_file_in_the_folder_is_named_and_left_alone(
    tmp_path: Path, tetrahedron: Path
) -> None:
    assets_dir = tmp_path / "assets"
    assets_dir.mkdir()
    (assets_dir / "classes.toml").write_text('[[class]]\nname = "walrus"\n')
    before = folder_state(assets_dir)
    result = run("add", "tetra", str(tetrahedron), "--assets-dir", str(assets_dir))
    assert_refused(result, str(assets_dir / "classes.toml"), "'walrus'", "fix or remove")
    assert folder_state(assets_dir) == before
    assert_refused(run("list", "--assets-dir", str(assets_dir)), "classes.toml", "'walrus'")


def unwritable_folder(tmp_path: Path) -> Path:
    """An existing folder this process cannot create files in."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o555)
        return folder
    # Root writes through permission bits; sysfs refuses new files even to root.
    folder = Path("/sys/kernel")
    if not folder.is_dir() or _can_create_in(folder):
        pytest.skip("no folder here is unwritable for root")
    return folder


def _can_create_in(folder: Path) -> bool:
    try:
        (folder / "mindseye-probe").touch()
    except OSError:
        return False
    (folder / "mindseye-probe").unlink()
    return True


def test_an_assets_folder_that_is_not_writable_is_named(tmp_path: Path, tetrahedron: Path) -> None:
    folder = unwritable_folder(tmp_path)
    before = sorted(path.name for path in folder.iterdir())
    result = run("add", "tetra", str(tetrahedron), "--assets-dir", str(folder))
    assert_refused(result, str(folder), "not writable", "--assets-dir", "MINDSEYE_ASSETS")
    assert sorted(path.name for path in folder.iterdir()) == before
    # A folder that cannot even be created (its parent is a file) is named the same way.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run("add", "tetra", str(tetrahedron), "--assets-dir", str(blocker / "assets"))
    assert_refused(result, str(blocker / "assets"), "cannot be created")


def test_a_new_assets_folder_is_removed_again_when_the_import_fails(tmp_path: Path) -> None:
    (tmp_path / "points.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    target = tmp_path / "new" / "assets"
    result = run("add", "points", str(tmp_path / "points.obj"), "--assets-dir", str(target))
    assert_refused(result, "points.obj", "no mesh")
    assert not (tmp_path / "new").exists()


def test_build_writes_only_where_it_is_told() -> None:
    result = run("build")
    assert result.exit_code == 2 and "--out" in result.output


@pytest.mark.slow
def test_build_is_repeatable_and_leaves_the_package_alone(tmp_path: Path) -> None:
    before = package_files()
    assert run("build", "--out", str(tmp_path)).exit_code == 0
    first = read_classes_file(tmp_path)
    assert run("build", "--out", str(tmp_path)).exit_code == 0
    second = read_classes_file(tmp_path)
    assert list(second) == ["monkey", "penguin", "aeroplane"]
    # Unchanged geometry keeps the file as it was, so a rebuild changes nothing on disk.
    assert second == first
    assert package_files() == before
    # Outside a checkout the package's own folder is refused; in one it is the way to
    # regenerate the committed files (not done here).
    assert (PACKAGE_DIR.parent / "pyproject.toml").is_file()


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


CRAFTED_BLEND = """
import bpy, sys
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.mesh.primitive_cube_add()
cube = bpy.context.active_object
text = bpy.data.texts.new("register.py")
text.write("open(sys.argv[-1] + '.text-ran', 'w').write('ran')")
text.use_module = True
driver = cube.driver_add("location", 0).driver
driver.type = "SCRIPTED"
driver.expression = "__import__('os').system('touch ' + {marker!r}) or 0"
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[-1])
import os
os._exit(0)  # Blender hangs on exit with a driver in memory: the very hang `assets add` avoids
"""


def test_a_blend_with_code_in_it_runs_none_and_adds_without_hanging(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.fixtures.environment import child_env

    crafted, marker = tmp_path / "crafted.blend", tmp_path / "driver-ran"
    subprocess.run([sys.executable, "-c", CRAFTED_BLEND.format(marker=str(marker)),
                    str(crafted)], check=True, capture_output=True, env=child_env(), timeout=120)
    # Before, it printed success and then hung on exit.
    added = subprocess.run(
        [sys.executable, "-m", "mindseye", "assets", "add", "crafted", str(crafted),
         "--assets-dir", str(tmp_path / "assets")],
        capture_output=True, text=True, env=child_env(), timeout=120, check=False)
    assert added.returncode == 0, added.stderr[-2000:]
    assert not marker.exists() and not list(tmp_path.glob("*.text-ran"))
    assert (tmp_path / "assets" / "crafted.blend").is_file()
