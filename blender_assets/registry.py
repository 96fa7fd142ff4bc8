"""The class list: `classes.toml`, which names each class's .blend file and how it was normalised.

No bpy here. The order of `classes.toml` is the order of the class labels; the None class is
implicit and always comes last, so it never appears in the file.
"""

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.constants import NONE_CLASS
from core.errors import UserError
from core.files import file_sha256, write_text_atomic

PACKAGE_DIR = Path(__file__).resolve().parent
CLASSES_FILE = "classes.toml"
_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class AssetClass:
    """One positive class: a mesh object inside a .blend, centred and scaled to fit the frame.

    `centre` and `scale` record the normalisation already applied to the mesh
    (`(vertex - centre) * scale`), in the units of the source model; `source` says where the
    model came from (`built-in` or the imported file's name).
    """

    name: str
    blend_file: Path
    object_name: str
    sha256: str
    scale: float
    centre: tuple[float, float, float]
    source: str = "built-in"


def resolve_assets_dir(assets_dir: Path | str | None) -> Path:
    """The folder holding classes.toml and the .blend files (the package folder by default)."""
    return PACKAGE_DIR if assets_dir is None else Path(assets_dir)


def check_class_name(name: str) -> None:
    """Refuse names that cannot be a class: not a lowercase identifier, or the None class."""
    if not _NAME_PATTERN.fullmatch(name):
        raise UserError(
            f"class name {name!r} is not a lowercase identifier (a-z, then a-z, 0-9 or _); "
            "choose another"
        )
    if name == NONE_CLASS:
        raise UserError(f"class name {name!r} is reserved for the background-only class")


def read_classes_file(directory: Path) -> dict[str, AssetClass]:
    """The entries of classes.toml as written, without looking at the .blend files."""
    path = directory / CLASSES_FILE
    if not path.is_file():
        raise UserError(f"{path} does not exist; run `mindseye assets build` to create it")
    try:
        entries = tomllib.loads(path.read_text()).get("class", [])
        return {
            entry["name"]: AssetClass(
                name=entry["name"],
                blend_file=directory / entry["blend_file"],
                object_name=entry["object_name"],
                sha256=entry["sha256"],
                scale=float(entry["scale"]),
                centre=tuple(float(value) for value in entry["centre"]),
                source=entry.get("source", "built-in"),
            )
            for entry in entries
        }
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as error:
        raise UserError(f"{path} is malformed ({error}); run `mindseye assets build`") from None


def load_classes(assets_dir: Path | str | None = None) -> dict[str, AssetClass]:
    """All registered classes, in label order. Checks that each .blend exists and is unchanged."""
    directory = resolve_assets_dir(assets_dir)
    classes = read_classes_file(directory)
    for asset in classes.values():
        if not asset.blend_file.is_file():
            raise UserError(
                f"{asset.blend_file} (class {asset.name!r}) is missing; "
                "run `mindseye assets build` or `mindseye assets add` again"
            )
        if file_sha256(asset.blend_file) != asset.sha256:
            raise UserError(
                f"{asset.blend_file} changed since it was registered in "
                f"{directory / CLASSES_FILE}; run `mindseye assets build` or "
                "`mindseye assets add --overwrite` again"
            )
    return classes


def select_classes(names: Iterable[str], assets_dir: Path | str | None = None) -> list[AssetClass]:
    """The named classes in the order given; an unknown name is a UserError listing the known."""
    classes = load_classes(assets_dir)
    unknown = [name for name in names if name not in classes]
    if unknown:
        raise UserError(
            f"unknown class {', '.join(unknown)}; known classes: {', '.join(classes)} "
            "(add one with `mindseye assets add NAME FILE`)"
        )
    return [classes[name] for name in names]


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def write_classes(classes: Iterable[AssetClass], assets_dir: Path | str | None = None) -> None:
    """Write classes.toml atomically, in the given order. Paths are stored relative to it."""
    directory = resolve_assets_dir(assets_dir)
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
    path = directory / CLASSES_FILE
    write_text_atomic(path, "\n".join(lines) + "\n")


def register_class(
    asset: AssetClass, assets_dir: Path | str | None = None, overwrite: bool = False
) -> None:
    """Add `asset` to classes.toml (at the end, or in its old place when overwriting)."""
    check_class_name(asset.name)
    directory = resolve_assets_dir(assets_dir)
    # Entries whose files are gone are dropped; others are kept as written (a built-in may be
    # being rebuilt right now, so its sha256 is not checked here).
    classes = {}
    if (directory / CLASSES_FILE).is_file():
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
