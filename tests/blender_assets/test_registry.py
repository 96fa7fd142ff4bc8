"""classes.toml: round trip, order, name rules and stale files (no bpy)."""

from pathlib import Path

import pytest

from blender_assets.registry import (
    AssetClass,
    check_class_name,
    file_sha256,
    load_classes,
    register_class,
    select_classes,
    write_classes,
)
from core.errors import UserError


def make_class(directory: Path, name: str, content: bytes = b"") -> AssetClass:
    blend_file = directory / f"{name}.blend"
    blend_file.write_bytes(content or name.encode())
    return AssetClass(
        name=name,
        blend_file=blend_file,
        object_name=f"{name} object",
        sha256=file_sha256(blend_file),
        scale=0.123456789,
        centre=(0.5, -0.25, 1e-9),
        source='odd "name".obj',
    )


def test_round_trip_keeps_every_field_and_the_file_order(tmp_path: Path) -> None:
    written = [make_class(tmp_path, name) for name in ("penguin", "monkey", "zebra_2")]
    write_classes(written, tmp_path)
    loaded = load_classes(tmp_path)
    assert list(loaded) == ["penguin", "monkey", "zebra_2"]
    assert list(loaded.values()) == written
    assert not list(tmp_path.glob("*.partial"))


def test_register_appends_and_refuses_duplicates_unless_overwriting(tmp_path: Path) -> None:
    register_class(make_class(tmp_path, "monkey"), tmp_path)
    register_class(make_class(tmp_path, "penguin"), tmp_path)
    with pytest.raises(UserError, match="already exists"):
        register_class(make_class(tmp_path, "monkey"), tmp_path)
    replacement = make_class(tmp_path, "monkey", b"new geometry")
    register_class(replacement, tmp_path, overwrite=True)
    loaded = load_classes(tmp_path)
    assert list(loaded) == ["monkey", "penguin"]
    assert loaded["monkey"].sha256 == replacement.sha256


@pytest.mark.parametrize("name", ["none", "Monkey", "2cats", "tea-pot", "", "a b"])
def test_bad_class_names_are_refused(name: str) -> None:
    with pytest.raises(UserError):
        check_class_name(name)


def test_unknown_class_lists_the_known_ones(tmp_path: Path) -> None:
    write_classes([make_class(tmp_path, "monkey"), make_class(tmp_path, "penguin")], tmp_path)
    assert [c.name for c in select_classes(["penguin"], tmp_path)] == ["penguin"]
    with pytest.raises(UserError, match="unknown class teapot; known classes: monkey, penguin"):
        select_classes(["monkey", "teapot"], tmp_path)


def test_a_changed_or_missing_blend_file_is_reported(tmp_path: Path) -> None:
    monkey = make_class(tmp_path, "monkey")
    write_classes([monkey], tmp_path)
    monkey.blend_file.write_bytes(b"edited")
    with pytest.raises(UserError, match="changed since it was registered"):
        load_classes(tmp_path)
    monkey.blend_file.unlink()
    with pytest.raises(UserError, match="missing"):
        load_classes(tmp_path)


def test_missing_or_malformed_classes_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="assets build"):
        load_classes(tmp_path)
    (tmp_path / "classes.toml").write_text("[[class]]\nname = 3 = 4\n")
    with pytest.raises(UserError, match="malformed"):
        load_classes(tmp_path)
