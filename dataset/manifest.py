"""DATA/manifest.json: the classes, the config a dataset was made with, and each finished shard.

A split's `samples` is the number of samples the split is meant to hold; its `shards` are the
finished ones (file relative to DATA, first sample index, count, sha256), kept in index order.
The dataset is complete when the shards cover 0 .. samples - 1. `dataset.verify` checks all of it
against the files.

This module reads no shard: `dataset.shards` finds a split's files through the manifest, so the
manifest sits below the shard reader.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mindseye.core.constants import MANIFEST_FILE
from mindseye.core.errors import UserError
from mindseye.core.files import write_json_atomic

# The version of the dataset format, recorded in manifest.json and in every shard. Bump it when
# the datasets or attributes change meaning; readers refuse other versions.
SCHEMA_VERSION = 1

MANIFEST_NAME = MANIFEST_FILE


@dataclass
class ShardRecord:
    file: str  # relative to DATA, e.g. "train/shard-00000.h5"
    first_index: int
    count: int
    sha256: str


@dataclass
class SplitRecord:
    samples: int
    shards: list[ShardRecord] = field(default_factory=list)

    @property
    def finished_samples(self) -> int:
        return sum(shard.count for shard in self.shards)


@dataclass
class Manifest:
    classes: list[str]  # positive classes in label order, then the None class
    config: dict
    splits: dict[str, SplitRecord]
    schema_version: int = SCHEMA_VERSION
    # A copy of some of another dataset's splits (`mindseye dataset copy`) names that dataset's
    # content digest (`content_sha256`), the splits copied and its own samples' digest
    # (`copy_sha256`); None for a rendered dataset.
    copied_from: dict | None = None

    def split(self, name: str) -> SplitRecord:
        if name not in self.splits:
            raise UserError(f"the dataset has no split '{name}' (it has: "
                            f"{', '.join(self.splits) or 'none'})")
        return self.splits[name]

    def add_shard(self, split: str, record: ShardRecord) -> None:
        """Record a finished shard, replacing an earlier record of the same file."""
        shards = [shard for shard in self.split(split).shards if shard.file != record.file]
        shards.append(record)
        self.splits[split].shards = sorted(shards, key=lambda shard: shard.first_index)

    def to_json(self) -> dict:
        data = {"schema_version": self.schema_version, "classes": self.classes,
                "config": self.config,
                "splits": {name: asdict(split) for name, split in self.splits.items()}}
        return {**data, "copied_from": self.copied_from} if self.copied_from else data

    @classmethod
    def from_json(cls, data: dict) -> "Manifest":
        splits = {
            name: SplitRecord(split["samples"], [ShardRecord(**shard) for shard in split["shards"]])
            for name, split in data["splits"].items()
        }
        return cls(list(data["classes"]), dict(data["config"]), splits, data["schema_version"],
                   data.get("copied_from"))


def manifest_path(data_dir: Path) -> Path:
    return Path(data_dir) / MANIFEST_NAME


def read_manifest(data_dir: Path) -> Manifest:
    data_dir = Path(data_dir)
    path = manifest_path(data_dir)
    if data_dir.is_file():
        raise UserError(f"{data_dir} is a file, not a dataset folder; give the folder "
                        "`mindseye render` made")
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: no such dataset folder; make one with "
                        f"`mindseye render {data_dir}`")
    if not path.is_file():
        raise UserError(f"{path} not found: {data_dir} is not a rendered dataset; make one with "
                        f"`mindseye render {data_dir}`")
    try:
        manifest = Manifest.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UserError(f"{path} is malformed ({type(error).__name__}: {error}); render the "
                        f"dataset again with `mindseye render {data_dir} --overwrite`") from None
    copied = manifest.copied_from
    if copied is not None and not (
            isinstance(copied, dict) and isinstance(copied.get("splits"), list)
            and all(isinstance(copied.get(key), str) and len(copied[key]) == 64
                    for key in ("content_sha256", "copy_sha256"))):
        raise UserError(f"{path}: copied_from is malformed; copy the dataset again with "
                        "`mindseye dataset copy`")
    if manifest.schema_version != SCHEMA_VERSION:
        raise UserError(f"{path}: schema version {manifest.schema_version}, this mindseye reads "
                        f"version {SCHEMA_VERSION}; render the dataset again")
    for split in manifest.splits.values():
        for shard in split.shards:
            file = Path(shard.file)
            # A dataset's shards live inside its folder: nothing else is read, or written over.
            if file.is_absolute() or ".." in file.parts or not file.parts:
                raise UserError(f"{path}: shard path {shard.file!r} points outside "
                                f"{data_dir}; a shard's path is relative to the dataset's "
                                "folder (render the dataset again)")
    return manifest


def write_manifest(data_dir: Path, manifest: Manifest) -> None:
    """Write manifest.json atomically (a reader sees the old or the new manifest, never half)."""
    write_json_atomic(manifest_path(data_dir), manifest.to_json())


def copy_description(data_dir: Path, manifest: Manifest) -> str:
    """'DATA is a copy of the test split(s) of data 4032b8a5c506 (`mindseye dataset copy`)', for
    a manifest with `copied_from` (read_manifest has checked its fields)."""
    copied = manifest.copied_from
    return (f"{data_dir} is a copy of the {', '.join(copied['splits'])} split(s) of data "
            f"{copied['content_sha256'][:12]} (`mindseye dataset copy`)")
