"""The class list: the built-in classes, then the user's own, each from a `classes.toml`.

No bpy here. Two folders hold classes, each with a `classes.toml` naming its .blend files and
how each model was normalised:

- the built-in classes: this package's folder (`PACKAGE_DIR`). No command writes there (an
  installed package is read-only to mindseye; in a checkout `mindseye assets build --out
  blender_assets` regenerates it, because the user named it);
- the user's classes (`mindseye assets add`): the folder given by `--assets-dir`, else by the
  environment variable `MINDSEYE_ASSETS`, else `$XDG_DATA_HOME/mindseye/assets`
  (`~/.local/share/mindseye/assets`). It holds only user classes; one named like a built-in
  class is refused. A folder without a classes.toml (or none at all) holds no classes.

`all_classes` lists the built-in classes in their file's order, then the user's in theirs; a
render takes the order of `--classes` (the built-in classes without it). The None class is
implicit and always comes last.
"""

import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mindseye.core.constants import NONE_CLASS
from mindseye.core.errors import UserError
from mindseye.core.files import file_sha256, user_data_dir, write_text_atomic

PACKAGE_DIR = Path(__file__).resolve().parent
CLASSES_FILE = "classes.toml"
ASSETS_VARIABLE = "MINDSEYE_ASSETS"
# `assets add` writes this beside each .blend: the class at a grid of sampled rotations.
PREVIEW_SUFFIX = ".preview.png"
BUILT_IN = "built-in"
USER = "user"
_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class AssetClass:
    """One positive class: a mesh object inside a .blend, centred and scaled to fit the frame.

    `centre` and `scale` record the normalisation already applied to the mesh
    (`(vertex - centre) * scale`), in the units of the source model; `source` says where the
    model came from (`built-in` or the imported file's name); `built_in` whether it is one of
    the package's classes (else a user class).
    """

    name: str
    blend_file: Path
    object_name: str
    sha256: str
    scale: float
    centre: tuple[float, float, float]
    source: str = BUILT_IN
    built_in: bool = False

    @property
    def origin(self) -> str:
        """`built-in` or `user`."""
        return BUILT_IN if self.built_in else USER

    def record(self) -> dict:
        """What a dataset's manifest records of the class: sha256, origin and the files."""
        return {"sha256": self.sha256, "origin": self.origin, "blend_file": str(self.blend_file),
                "object_name": self.object_name, "source": self.source}


def default_user_assets_dir() -> Path:
    """`$XDG_DATA_HOME/mindseye/assets`, `~/.local/share/mindseye/assets` without it."""
    return user_data_dir() / "assets"


def user_assets_dir(assets_dir: Path | str | None = None) -> Path:
    """The user's classes: `assets_dir` (--assets-dir), else $MINDSEYE_ASSETS, else the default."""
    if assets_dir is not None:
        return Path(assets_dir)
    if os.environ.get(ASSETS_VARIABLE):
        return Path(os.environ[ASSETS_VARIABLE])
    return default_user_assets_dir()


def describe_user_assets_dir(assets_dir: Path | str | None = None) -> str:
    """The user folder and which rule chose it, for messages: `DIR (from --assets-dir)`."""
    if assets_dir is not None:
        rule = "--assets-dir"
    elif os.environ.get(ASSETS_VARIABLE):
        rule = f"${ASSETS_VARIABLE}"
    else:
        rule = "the default; set --assets-dir or $MINDSEYE_ASSETS to change it"
    return f"{user_assets_dir(assets_dir)} ({rule})"


def check_class_name(name: str) -> None:
    """Refuse names that cannot be a class: not a lowercase identifier, or the None class."""
    if not _NAME_PATTERN.fullmatch(name):
        raise UserError(
            f"class name {name!r} is not a lowercase identifier (a-z, then a-z, 0-9 or _); "
            "choose another"
        )
    if name == NONE_CLASS:
        raise UserError(f"class name {name!r} is reserved for the background-only class")


def _repair_hint(directory: Path, what: str = "or remove that [[class]] entry") -> str:
    if directory.resolve() == PACKAGE_DIR:
        return ("reinstall mindseye (in a checkout: `mindseye assets build --out "
                "blender_assets`)")
    return (f"fix {what}, or remove the file and add the classes again with `mindseye assets "
            "add NAME FILE`")


def _parse_entry(entry: object, directory: Path, built_in: bool) -> AssetClass:
    """One [[class]] table as an AssetClass; ValueError saying what is wrong with it."""
    if not isinstance(entry, dict):
        raise ValueError("it is not a table")
    text = {}
    for key in ("name", "blend_file", "object_name", "sha256"):
        value = entry.get(key)
        if not isinstance(value, str) or not value:
            raise ValueError(f"`{key}` is missing or not a string")
        text[key] = value
    if not _NAME_PATTERN.fullmatch(text["name"]) or text["name"] == NONE_CLASS:
        raise ValueError(f"`name` {text['name']!r} is not a usable class name")
    if Path(text["blend_file"]).name != text["blend_file"]:
        raise ValueError(f"`blend_file` {text['blend_file']!r} must be a file name in the folder")
    if not _SHA256_PATTERN.fullmatch(text["sha256"]):
        raise ValueError("`sha256` is not 64 hexadecimal digits")
    scale, centre = entry.get("scale"), entry.get("centre")
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        raise ValueError("`scale` is missing or not a positive number")
    if (not isinstance(centre, list) or len(centre) != 3
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in centre)):
        raise ValueError("`centre` is missing or not a list of 3 numbers")
    source = entry.get("source", BUILT_IN if built_in else "")
    if not isinstance(source, str):
        raise ValueError("`source` is not a string")
    return AssetClass(
        name=text["name"],
        blend_file=directory / text["blend_file"],
        object_name=text["object_name"],
        sha256=text["sha256"],
        scale=float(scale),
        centre=tuple(float(value) for value in centre),
        source=source,
        built_in=built_in,
    )


def read_classes_file(directory: Path, built_in: bool = False) -> dict[str, AssetClass]:
    """The entries of `directory/classes.toml` as written, without looking at the .blend files.

    A missing, unreadable or broken file (or entry) is a UserError naming it and what to do.
    """
    directory = Path(directory)
    path = directory / CLASSES_FILE
    if not path.is_file():
        raise UserError(f"{path} does not exist; {_repair_hint(directory)}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise UserError(f"{path} cannot be read ({reason}); make it readable") from None
    try:
        entries = tomllib.loads(text).get("class", [])
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path} is not valid TOML ({error}); "
                        f"{_repair_hint(directory, 'the line it names')}") from None
    if not isinstance(entries, list):
        raise UserError(f"{path}: `class` must be a list of [[class]] tables; "
                        f"{_repair_hint(directory)}")
    classes: dict[str, AssetClass] = {}
    for number, entry in enumerate(entries, start=1):
        name = entry.get("name") if isinstance(entry, dict) else None
        which = f"[[class]] entry {number}" + (f" ({name!r})" if isinstance(name, str) else "")
        try:
            asset = _parse_entry(entry, directory, built_in)
        except ValueError as error:
            raise UserError(f"{path}: {which} is broken: {error}; "
                            f"{_repair_hint(directory)}") from None
        if asset.name in classes:
            raise UserError(f"{path}: {which} names class {asset.name!r} a second time; "
                            f"{_repair_hint(directory)}")
        classes[asset.name] = asset
    return classes


def builtin_classes() -> dict[str, AssetClass]:
    """The package's classes (Monkey, Penguin, Aeroplane), in label order."""
    return read_classes_file(PACKAGE_DIR, built_in=True)


def user_classes(assets_dir: Path | str | None = None) -> dict[str, AssetClass]:
    """The user's classes (see `user_assets_dir`), in their file's order; none without a file.

    A user class named like a built-in class is a UserError naming both.
    """
    directory = user_assets_dir(assets_dir)
    try:
        if not (directory / CLASSES_FILE).exists():
            return {}
    except OSError as error:
        raise UserError(f"user assets folder {describe_user_assets_dir(assets_dir)} cannot be "
                        f"read ({error.strerror}); make it readable") from None
    classes = read_classes_file(directory)
    taken = [name for name in classes if name in builtin_classes()]
    if taken:
        raise UserError(
            f"{directory / CLASSES_FILE}: class {taken[0]!r} is named like a built-in class; "
            "a user class needs a name of its own: remove that entry and add the model again "
            f"under another name (`mindseye assets add OTHER_NAME FILE`)"
        )
    return classes


def all_classes(assets_dir: Path | str | None = None) -> dict[str, AssetClass]:
    """Every class, built-in ones first, without checking the .blend files."""
    return {**builtin_classes(), **user_classes(assets_dir)}


def asset_problem(asset: AssetClass) -> str | None:
    """None if the class's .blend is there and unchanged; else `missing` or `changed`."""
    if not asset.blend_file.is_file():
        return "missing"
    try:
        return None if file_sha256(asset.blend_file) == asset.sha256 else "changed"
    except OSError:
        return "unreadable"


def check_asset(asset: AssetClass) -> None:
    """A UserError naming the class and what to do when its .blend is missing or changed."""
    problem = asset_problem(asset)
    if problem is None:
        return
    registry = asset.blend_file.parent / CLASSES_FILE
    if asset.built_in:
        fix = "reinstall mindseye (in a checkout: `mindseye assets build --out blender_assets`)"
    else:
        fix = (f"add the model again: `mindseye assets add {asset.name} FILE --overwrite "
               f"--assets-dir {asset.blend_file.parent}`")
    what = {"missing": "is missing", "unreadable": "cannot be read",
            "changed": f"changed since it was registered in {registry}"}[problem]
    raise UserError(f"class {asset.name!r} ({asset.origin}): {asset.blend_file} {what}; {fix}")


def load_classes(assets_dir: Path | str | None = None) -> dict[str, AssetClass]:
    """All classes in label order (built-in, then the user's); each .blend checked (sha256)."""
    classes = all_classes(assets_dir)
    for asset in classes.values():
        check_asset(asset)
    return classes


def select_classes(names: Iterable[str], assets_dir: Path | str | None = None) -> list[AssetClass]:
    """The named classes in the order given, their .blend checked; an unknown name is a
    UserError listing the known ones and where user classes were looked for."""
    names = list(names)
    classes = all_classes(assets_dir)
    unknown = [name for name in names if name not in classes]
    if unknown:
        builtin = [name for name, asset in classes.items() if asset.built_in]
        user = [name for name, asset in classes.items() if not asset.built_in]
        raise UserError(
            f"unknown class {', '.join(repr(name) for name in unknown)}: not a built-in class "
            f"({', '.join(builtin)}) nor a user class in {describe_user_assets_dir(assets_dir)}"
            f" ({', '.join(user) or 'none'}); add it with `mindseye assets add NAME FILE`"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UserError(f"class {repeated[0]!r} is named twice; name each class once")
    selected = [classes[name] for name in names]
    for asset in selected:
        check_asset(asset)
    return selected


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def write_classes(classes: Iterable[AssetClass], directory: Path | str) -> None:
    """Write `directory/classes.toml` atomically, in the given order; files relative to it."""
    lines = [
        "# The classes, in label order (the background-only class `none` is implicit and last).",
        "# Written by `mindseye assets build` and `mindseye assets add`; scale and centre record",
        "# the normalisation already applied: vertex -> (vertex - centre) * scale.",
    ]
    for asset in classes:
        centre = ", ".join(repr(float(value)) for value in asset.centre)
        lines += [
            "",
            "[[class]]",
            f"name = {_toml_string(asset.name)}",
            f"blend_file = {_toml_string(asset.blend_file.name)}",
            f"object_name = {_toml_string(asset.object_name)}",
            f"sha256 = {_toml_string(asset.sha256)}",
            f"scale = {float(asset.scale)!r}",
            f"centre = [{centre}]",
            f"source = {_toml_string(asset.source)}",
        ]
    write_text_atomic(Path(directory) / CLASSES_FILE, "\n".join(lines) + "\n")


def check_user_class_name(name: str) -> None:
    """`check_class_name`, and not the name of a built-in class."""
    check_class_name(name)
    builtin = builtin_classes()
    if name in builtin:
        raise UserError(
            f"class name {name!r} is taken by a built-in class ({', '.join(builtin)}); "
            "choose another name"
        )


def register_class(asset: AssetClass, directory: Path | str, overwrite: bool = False) -> None:
    """Add user class `asset` to `directory/classes.toml` (at the end, or in its old place when
    overwriting). Entries whose .blend is gone are dropped."""
    check_user_class_name(asset.name)
    directory = Path(directory)
    if directory.resolve() == PACKAGE_DIR:
        raise UserError(f"{directory} holds the built-in classes; add user classes to another "
                        "folder (--assets-dir or $MINDSEYE_ASSETS)")
    classes = {}
    if (directory / CLASSES_FILE).exists():
        classes = {
            name: entry
            for name, entry in read_classes_file(directory).items()
            if entry.blend_file.is_file()
        }
    if asset.name in classes and not overwrite:
        raise UserError(
            f"class {asset.name!r} already exists in {directory / CLASSES_FILE}; "
            "pass --overwrite to replace it or choose another name"
        )
    classes[asset.name] = asset
    write_classes(classes.values(), directory)
