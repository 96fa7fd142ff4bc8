"""classes.toml: the built-in classes and the user's folder, precedence, order, name rules,
broken entries and stale files (no bpy)."""

from pathlib import Path

import pytest

from mindseye.blender_assets.registry import (
    PACKAGE_DIR,
    AssetClass,
    all_classes,
    builtin_classes,
    check_class_name,
    file_sha256,
    load_classes,
    read_classes_file,
    register_class,
    select_classes,
    user_assets_dir,
    user_classes,
    write_classes,
)
from mindseye.core.errors import UserError

BUILT_IN = ["monkey", "penguin", "aeroplane"]


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


@pytest.fixture
def user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user assets folder, chosen through $MINDSEYE_ASSETS."""
    folder = tmp_path / "assets"
    folder.mkdir()
    monkeypatch.setenv("MINDSEYE_ASSETS", str(folder))
    return folder


def test_round_trip_keeps_every_field_and_the_file_order(tmp_path: Path) -> None:
    written = [make_class(tmp_path, name) for name in ("walrus", "teapot", "zebra_2")]
    write_classes(written, tmp_path)
    loaded = read_classes_file(tmp_path)
    assert list(loaded) == ["walrus", "teapot", "zebra_2"]
    assert list(loaded.values()) == written
    assert not list(tmp_path.glob("*.partial*"))


def test_the_user_folder_is_the_option_else_the_variable_else_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MINDSEYE_ASSETS", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_assets_dir() == tmp_path / "home" / ".local" / "share" / "mindseye" / "assets"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # the XDG spec: absolute only
    assert user_assets_dir() == tmp_path / "home" / ".local" / "share" / "mindseye" / "assets"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_assets_dir() == tmp_path / "xdg" / "mindseye" / "assets"
    monkeypatch.setenv("MINDSEYE_ASSETS", str(tmp_path / "env"))
    assert user_assets_dir() == tmp_path / "env"
    assert user_assets_dir(tmp_path / "option") == tmp_path / "option"


def test_built_in_classes_come_first_then_the_users_in_file_order(user_folder: Path) -> None:
    assert user_classes() == {}  # a folder without classes.toml holds no classes
    write_classes([make_class(user_folder, "walrus"), make_class(user_folder, "teapot")],
                  user_folder)
    classes = load_classes()
    assert list(classes) == [*BUILT_IN, "walrus", "teapot"]
    assert [classes[name].built_in for name in classes] == [True] * 3 + [False] * 2
    assert classes["monkey"].blend_file == PACKAGE_DIR / "monkey.blend"
    assert classes["teapot"].record() == {
        "sha256": file_sha256(user_folder / "teapot.blend"), "origin": "user",
        "blend_file": str(user_folder / "teapot.blend"), "object_name": "teapot object",
        "source": 'odd "name".obj',
    }
    assert builtin_classes()["penguin"].record()["origin"] == "built-in"
    # --classes mixes them, in the order given.
    mixed = select_classes(["teapot", "monkey"])
    assert [(asset.name, asset.origin) for asset in mixed] == [("teapot", "user"),
                                                               ("monkey", "built-in")]


def test_the_option_beats_the_variable(user_folder: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    write_classes([make_class(other, "walrus")], other)
    assert list(all_classes()) == BUILT_IN
    assert list(all_classes(other)) == [*BUILT_IN, "walrus"]


def test_register_appends_and_refuses_duplicates_unless_overwriting(tmp_path: Path) -> None:
    register_class(make_class(tmp_path, "walrus"), tmp_path)
    register_class(make_class(tmp_path, "teapot"), tmp_path)
    with pytest.raises(UserError, match="already exists"):
        register_class(make_class(tmp_path, "walrus"), tmp_path)
    replacement = make_class(tmp_path, "walrus", b"new geometry")
    register_class(replacement, tmp_path, overwrite=True)
    loaded = read_classes_file(tmp_path)
    assert list(loaded) == ["walrus", "teapot"]
    assert loaded["walrus"].sha256 == replacement.sha256


def test_a_user_class_cannot_take_a_built_in_name(user_folder: Path) -> None:
    with pytest.raises(UserError, match="'monkey' is taken by a built-in class"):
        register_class(make_class(user_folder, "monkey"), user_folder)
    assert not (user_folder / "classes.toml").exists()
    # Nor can a hand-written classes.toml bring one in.
    write_classes([make_class(user_folder, "penguin")], user_folder)
    with pytest.raises(UserError, match=r"classes.toml: class 'penguin' is named like a built-in"):
        all_classes()


def test_the_package_folder_takes_no_user_class() -> None:
    walrus = AssetClass("walrus", PACKAGE_DIR / "walrus.blend", "walrus", "0" * 64, 1.0, (0, 0, 0))
    with pytest.raises(UserError, match="holds the built-in classes"):
        register_class(walrus, PACKAGE_DIR)


@pytest.mark.parametrize("name", ["none", "Monkey", "2cats", "tea-pot", "", "a b"])
def test_bad_class_names_are_refused(name: str) -> None:
    with pytest.raises(UserError):
        check_class_name(name)


def test_unknown_class_lists_the_known_ones_and_the_user_folder(user_folder: Path) -> None:
    write_classes([make_class(user_folder, "walrus")], user_folder)
    with pytest.raises(UserError) as caught:
        select_classes(["monkey", "teapot"])
    message = caught.value.message
    assert "unknown class 'teapot'" in message
    assert "monkey, penguin, aeroplane" in message and "(walrus)" in message
    assert str(user_folder) in message and "MINDSEYE_ASSETS" in message
    assert "mindseye assets add" in message and "\n" not in message


def test_a_changed_or_missing_user_model_names_its_class(user_folder: Path) -> None:
    walrus = make_class(user_folder, "walrus")
    write_classes([walrus], user_folder)
    assert select_classes(["monkey"])  # only the named classes' files are checked
    walrus.blend_file.write_bytes(b"edited")
    with pytest.raises(UserError, match=r"class 'walrus' \(user\): .*walrus.blend changed since "
                                        r"it was registered.*assets add walrus FILE --overwrite"):
        load_classes()
    walrus.blend_file.unlink()
    with pytest.raises(UserError, match=r"class 'walrus' \(user\): .*walrus.blend is missing"):
        select_classes(["walrus"])


BROKEN_ENTRIES = {
    "not toml": ("[[class]]\nname = 3 = 4\n", "not valid TOML"),
    "no sha256": ('[[class]]\nname = "walrus"\nblend_file = "walrus.blend"\n'
                  'object_name = "walrus"\nscale = 1.0\ncentre = [0, 0, 0]\n',
                  r"entry 1 \('walrus'\) is broken: `sha256` is missing"),
    "bad scale": ('[[class]]\nname = "walrus"\nblend_file = "walrus.blend"\n'
                  f'object_name = "walrus"\nsha256 = "{"ab" * 32}"\nscale = "big"\n'
                  'centre = [0, 0, 0]\n', r"entry 1 \('walrus'\) is broken: `scale`"),
    "path outside": ('[[class]]\nname = "walrus"\nblend_file = "../walrus.blend"\n'
                     f'object_name = "walrus"\nsha256 = "{"ab" * 32}"\nscale = 1.0\n'
                     'centre = [0, 0, 0]\n', r"`blend_file` '../walrus.blend' must be a file"),
    "bad name": ('[[class]]\nname = "Walrus!"\nblend_file = "walrus.blend"\n'
                 f'object_name = "walrus"\nsha256 = "{"ab" * 32}"\nscale = 1.0\n'
                 'centre = [0, 0, 0]\n', r"`name` 'Walrus!' is not a usable class name"),
}


@pytest.mark.parametrize("mistake", list(BROKEN_ENTRIES))
def test_a_broken_classes_file_is_one_line_naming_the_file_and_the_fix(
    user_folder: Path, mistake: str
) -> None:
    text, expected = BROKEN_ENTRIES[mistake]
    (user_folder / "classes.toml").write_text(text)
    with pytest.raises(UserError, match=expected) as caught:
        all_classes()
    message = caught.value.message
    assert message.startswith(str(user_folder / "classes.toml"))
    fix = "fix the line it names" if mistake == "not toml" else "fix or remove that [[class]]"
    assert fix in message and "\n" not in message


def test_the_installed_classes_file_is_complete() -> None:
    classes = builtin_classes()
    assert list(classes) == BUILT_IN
    assert all(asset.built_in and asset.blend_file.parent == PACKAGE_DIR
               for asset in classes.values())
