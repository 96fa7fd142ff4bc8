"""DATA/manifest.json: the classes, the config a dataset was made with, and each finished shard.

A split's `samples` is the number of samples the split is meant to hold; its `shards` are the
finished ones (file relative to DATA, first sample index, count, sha256), kept in index order.
The dataset is complete when the shards cover 0 .. samples - 1. `verify` checks all of it against
the files.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.files import write_json_atomic
from dataset.composite import composite
from dataset.shards import SCHEMA_VERSION, ShardError, file_sha256, read_shard

MANIFEST_NAME = "manifest.json"


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
        return {"schema_version": self.schema_version, "classes": self.classes,
                "config": self.config,
                "splits": {name: asdict(split) for name, split in self.splits.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "Manifest":
        splits = {
            name: SplitRecord(split["samples"], [ShardRecord(**shard) for shard in split["shards"]])
            for name, split in data["splits"].items()
        }
        return cls(list(data["classes"]), dict(data["config"]), splits, data["schema_version"])


def manifest_path(data_dir: Path) -> Path:
    return Path(data_dir) / MANIFEST_NAME


def read_manifest(data_dir: Path) -> Manifest:
    data_dir = Path(data_dir)
    path = manifest_path(data_dir)
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
    if manifest.schema_version != SCHEMA_VERSION:
        raise UserError(f"{path}: schema version {manifest.schema_version}, this mindseye reads "
                        f"version {SCHEMA_VERSION}; render the dataset again")
    return manifest


def write_manifest(data_dir: Path, manifest: Manifest) -> None:
    """Write manifest.json atomically (a reader sees the old or the new manifest, never half)."""
    write_json_atomic(manifest_path(data_dir), manifest.to_json())


def record_shard(data_dir: Path, split: str, record: ShardRecord) -> Manifest:
    """Add a finished shard to DATA/manifest.json and return the updated manifest."""
    manifest = read_manifest(data_dir)
    manifest.add_shard(split, record)
    write_manifest(data_dir, manifest)
    return manifest


def verify(data_dir: Path) -> list[str]:
    """Every problem found in a dataset, one line each; an empty list means it is sound."""
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    problems = []
    for split_name, split in manifest.splits.items():
        expected_first = 0
        for shard in split.shards:
            if shard.first_index != expected_first:
                problems.append(f"{split_name}: shard {shard.file} starts at sample "
                                f"{shard.first_index}, expected {expected_first}")
            expected_first = shard.first_index + shard.count
            problems += _shard_problems(data_dir, split_name, shard, manifest.classes)
        if split.finished_samples != split.samples:
            problems.append(f"{split_name}: shards hold {split.finished_samples} samples, the "
                            f"manifest asks for {split.samples} (unfinished render? run "
                            "`mindseye render` again to resume)")
        listed = {Path(shard.file).name for shard in split.shards}
        split_dir = data_dir / split_name
        for stray in sorted(split_dir.glob("*.h5")) if split_dir.is_dir() else []:
            if stray.name not in listed:
                problems.append(f"{stray}: shard file not listed in the manifest")
    return problems


def _shard_problems(
    data_dir: Path, split: str, shard: ShardRecord, classes: list[str]
) -> list[str]:
    path = data_dir / shard.file
    if not path.is_file():
        return [f"{path}: shard file missing"]
    if file_sha256(path) != shard.sha256:
        return [f"{path}: sha256 differs from the manifest (file changed or damaged)"]
    try:
        arrays, attrs = read_shard(path)
    except ShardError as error:
        return [error.message]
    problems = []
    for key, expected in (("split", split), ("first_index", shard.first_index),
                          ("class_names", classes)):
        if attrs.get(key) != expected:
            problems.append(f"{path}: attribute {key} is {attrs.get(key)!r}, "
                            f"the manifest says {expected!r}")
    label, params, obj, alpha = arrays["label"], arrays["params"], arrays["object"], arrays["alpha"]
    none_label = len(classes) - 1
    checks = {
        f"holds {len(label)} samples, the manifest says {shard.count}": len(label) != shard.count,
        f"labels outside 0..{none_label}": bool(np.any((label < 0) | (label > none_label))),
        "params are not NaN exactly for the None class": bool(
            np.any(np.isnan(params).any(axis=1) != (label == none_label))
            or np.any(np.isnan(params).any(axis=1) != np.isnan(params).all(axis=1))),
        "None samples have a non-zero alpha": bool(np.any(alpha[label == none_label])),
        "object is not 0 where alpha is 0": bool(np.any(obj[alpha == 0])),
        # Where the object is opaque the composite is the object whatever the background.
        "image differs from the object where alpha is 255": bool(np.any(
            (composite(obj, alpha, np.zeros_like(obj)) != arrays["image"]) & (alpha == 255))),
    }
    problems += [f"{path}: {message}" for message, failed in checks.items() if failed]
    return problems
