"""The models sent to cluster workers: read once by the driver, written by a worker into its
cache under their sha256, checked first (no bpy)."""

import hashlib
import os
from pathlib import Path

import pytest

from mindseye.blender_assets.registry import AssetClass
from mindseye.core.errors import UserError
from mindseye.render.shipping import ModelShipment, cache_dir, model_refs


def model(folder: Path, name: str) -> AssetClass:
    """A class whose .blend holds bytes of its own (content unique to this test run)."""
    blend_file = folder / f"{name}.blend"
    blend_file.write_bytes(name.encode() + os.urandom(64))
    sha256 = hashlib.sha256(blend_file.read_bytes()).hexdigest()
    return AssetClass(name, blend_file, name, sha256, 1.0, (0.0, 0.0, 0.0), "x.obj")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MINDSEYE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


def test_the_cache_folder_is_the_variable_else_xdg_cache_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MINDSEYE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "mindseye" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "mindseye" / "models"


def test_a_worker_renders_from_a_copy_named_by_sha256(tmp_path: Path, cache: Path) -> None:
    assets = [model(tmp_path, "walrus"), model(tmp_path, "teapot")]
    shipment = ModelShipment.read(assets)
    originals = {asset.sha256: asset.blend_file.read_bytes() for asset in assets}
    for asset in assets:
        asset.blend_file.unlink()  # the worker never looks at the driver's files
    for ref in model_refs(assets):
        local = shipment.local_file(ref)
        assert local == cache / f"{ref.sha256}.blend"
        assert local.read_bytes() == originals[ref.sha256]
        assert shipment.local_file(ref) == local
    assert sorted(path.name for path in cache.iterdir()) == sorted(
        f"{sha256}.blend" for sha256 in originals)


def test_a_damaged_cache_file_is_replaced(tmp_path: Path, cache: Path) -> None:
    walrus = model(tmp_path, "walrus")
    cache.mkdir(parents=True)
    (cache / f"{walrus.sha256}.blend").write_bytes(b"half a file")
    local = ModelShipment.read([walrus]).local_file(model_refs([walrus])[0])
    assert local.read_bytes() == walrus.blend_file.read_bytes()


def test_bytes_that_do_not_match_their_sha256_are_refused(tmp_path: Path, cache: Path) -> None:
    walrus = model(tmp_path, "walrus")
    shipment = ModelShipment.read([walrus])
    shipment.blobs[walrus.sha256] = b"damaged in transit"
    with pytest.raises(RuntimeError, match=r"class 'walrus'.*does not have sha256"):
        shipment.local_file(model_refs([walrus])[0])
    assert not cache.exists() or not any(cache.iterdir())


def test_a_model_that_changed_before_it_was_read_names_its_class(tmp_path: Path) -> None:
    walrus = model(tmp_path, "walrus")
    walrus.blend_file.write_bytes(b"edited")
    with pytest.raises(UserError, match=r"class 'walrus' \(user\): .*walrus.blend changed"):
        ModelShipment.read([walrus])


def test_an_unwritable_cache_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MINDSEYE_CACHE", str(blocker))
    walrus = model(tmp_path, "walrus")
    with pytest.raises(UserError, match=r"cannot write the model cache .*a-file.*MINDSEYE_CACHE"):
        ModelShipment.read([walrus]).local_file(model_refs([walrus])[0])


def test_the_same_model_is_written_into_each_cache_folder_it_is_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    walrus = model(tmp_path, "walrus")
    shipment, ref = ModelShipment.read([walrus]), model_refs([walrus])[0]
    for folder in ("first", "second"):
        monkeypatch.setenv("MINDSEYE_CACHE", str(tmp_path / folder))
        local = shipment.local_file(ref)
        assert local == tmp_path / folder / "models" / f"{walrus.sha256}.blend"
        assert local.read_bytes() == walrus.blend_file.read_bytes()
