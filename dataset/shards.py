"""The shard format: one HDF5 file of N samples, written atomically and checked on every read.

A shard holds the datasets of FIELDS (see the shard table in docs/design.md) and the attributes
that say how it was made. Every reader goes through `_open_checked`, so a truncated, foreign or
outdated file fails with one line naming the file and what is wrong, never with an h5py traceback.
"""

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from mindseye.core.constants import IMAGE_SIZE
from mindseye.core.errors import UserError
from mindseye.core.files import file_sha256
from mindseye.dataset.manifest import SCHEMA_VERSION, Manifest, read_manifest

# name -> (dtype, shape of one sample)
FIELDS: dict[str, tuple[np.dtype, tuple[int, ...]]] = {
    "image": (np.dtype(np.uint8), (IMAGE_SIZE, IMAGE_SIZE)),
    "label": (np.dtype(np.int64), ()),
    "params": (np.dtype(np.float32), (3,)),
    "object": (np.dtype(np.uint8), (IMAGE_SIZE, IMAGE_SIZE)),
    "alpha": (np.dtype(np.uint8), (IMAGE_SIZE, IMAGE_SIZE)),
}
# Written where known and read only when asked for: what each sample's crop came from (the
# background source's photo index, -1 for a generated image). Shards made before it lack it, and
# it is not part of the content digest, so the data a run was trained on keeps its digest.
PROVENANCE_FIELDS: dict[str, tuple[np.dtype, tuple[int, ...]]] = {
    "background": (np.dtype(np.int32), ()),
}

# What the writer must be told. Recomposite needs seed and first_index to redraw each sample's
# background (sample i's random stream is a function of (seed, split, i)); verify compares
# class_names, split and first_index with the manifest. Other attributes (blender_version, engine,
# samples, asset_sha256, code_version, ...) are stored as given.
REQUIRED_ATTRS = ("class_names", "split", "seed", "shard_index", "first_index", "backgrounds")

# Names of the attributes that were stored as JSON text because h5py has no native type for them.
_JSON_ATTRS_KEY = "json_attrs"

# Storage, measured in benchmarks/dataset_shard_read.py: chunks of 16 samples keep reading one
# sample cheap (about 1 ms) without slowing whole-split reads much. `object` and `alpha` are
# mostly black and gzip shrinks them about 10x; `image` is photograph-like, gzip saves only ~20%
# there and makes reading it 5x slower, so it is stored raw.
_CHUNK_SAMPLES = 16
_COMPRESSED_FIELDS = ("object", "alpha")


class ShardError(UserError):
    """A shard file that cannot be used: missing, truncated, foreign or of another schema."""


def write_shard(path: Path, arrays: dict[str, np.ndarray], attrs: dict) -> str:
    """Write one shard atomically and return the sha256 of the finished file.

    The file is written as `<path>.partial`, flushed, fsynced and renamed, so `path` either does
    not exist or is complete. `attrs` must hold REQUIRED_ATTRS; lists, dicts and None are stored
    as JSON text.
    """
    path = Path(path)
    problems = _array_problems(arrays)
    missing = [key for key in REQUIRED_ATTRS if key not in attrs]
    if missing:
        problems.append(f"attributes missing: {', '.join(missing)}")
    if problems:
        raise ValueError(f"cannot write shard {path}: {'; '.join(problems)}")

    partial = path.with_name(path.name + ".partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(partial, "w") as h5:
        for name, (dtype, sample_shape) in _fields_of(arrays).items():
            data = np.ascontiguousarray(arrays[name], dtype=dtype)
            if len(data) and sample_shape == (IMAGE_SIZE, IMAGE_SIZE):
                chunks = (min(_CHUNK_SAMPLES, len(data)), *sample_shape)
                compression = "gzip" if name in _COMPRESSED_FIELDS else None
                h5.create_dataset(name, data=data, chunks=chunks, compression=compression)
            else:
                h5.create_dataset(name, data=data)
        json_keys = []
        for key, value in attrs.items():
            if isinstance(value, str | int | float | bool | np.integer | np.floating):
                h5.attrs[key] = value
            else:
                h5.attrs[key] = json.dumps(value)
                json_keys.append(key)
        h5.attrs[_JSON_ATTRS_KEY] = json.dumps(json_keys)
        h5.attrs["schema_version"] = SCHEMA_VERSION
    descriptor = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    digest = file_sha256(partial)
    os.replace(partial, path)
    return digest


def read_shard(path: Path, fields: tuple[str, ...] | None = None) -> tuple[dict, dict]:
    """All (or the named) datasets of a shard as arrays, and its attributes."""
    with _open_checked(path) as (h5, attrs):
        return {name: _read(h5, path, name) for name in fields or FIELDS}, attrs


def read_attrs(path: Path) -> dict:
    """A shard's attributes, after the same checks as `read_shard`."""
    with _open_checked(path) as (_, attrs):
        return attrs


def shard_length(path: Path) -> int:
    with _open_checked(path) as (h5, _):
        return len(h5["label"])


def load_split(data_dir: Path, split: str, fields: tuple[str, ...] | None = None) -> dict:
    """The named fields (all by default) of a split's shards, concatenated in manifest order."""
    paths = [Path(data_dir) / shard.file for shard in read_manifest(data_dir).split(split).shards]
    fields = tuple(fields or FIELDS)
    lengths = [shard_length(path) for path in paths]
    specs = {**FIELDS, **PROVENANCE_FIELDS}
    out = {name: np.empty((sum(lengths), *specs[name][1]), specs[name][0]) for name in fields}
    start = 0
    for path, length in zip(paths, lengths, strict=True):
        with _open_checked(path) as (h5, _):
            for name in fields:
                _read(h5, path, name, out=out[name][start:start + length])
        start += length
    return out


def content_sha256(data_dir: Path, manifest: Manifest | None = None) -> str:
    """sha256 over every split's samples (each field's dtype, shape and bytes, shard by shard in
    manifest order): what a network saw, independent of how the files store it. A run folder
    identifies its data by this, not by the files' sha256 in the manifest: two renders of the
    same pixels gave different file bytes on two machines (why is not known; a compressed
    field's gzip stream, for one, is not promised to be the same from one zlib to the next).
    `manifest`: the shards to read, where DATA's manifest.json is not written yet."""
    digest = hashlib.sha256()
    manifest = manifest or read_manifest(data_dir)
    for split in sorted(manifest.splits):
        _digest_split(digest, Path(data_dir), manifest, split)
    return digest.hexdigest()


def split_content_sha256(data_dir: Path, split: str) -> str:
    """The same sha256 over one split's samples alone: two machines' renders compared by
    their digests, split by split, without moving the data (`mindseye dataset info`)."""
    digest = hashlib.sha256()
    _digest_split(digest, Path(data_dir), read_manifest(data_dir), split)
    return digest.hexdigest()


def _digest_split(digest: "hashlib._Hash", data_dir: Path, manifest: Manifest,
                  split: str) -> None:
    for shard in manifest.splits[split].shards:
        arrays, _ = read_shard(data_dir / shard.file)
        digest.update(f"{split}/{shard.file}\n".encode())
        for name in sorted(arrays):
            array = np.ascontiguousarray(arrays[name])
            digest.update(f"{name}:{array.dtype.str}:{array.shape}\n".encode())
            digest.update(array.tobytes())


def iter_split(
    data_dir: Path, split: str, chunk: int, fields: tuple[str, ...] | None = None
) -> Iterator[dict]:
    """The split's samples in manifest order, `chunk` at a time (the last chunk may be shorter),
    for data that does not fit in memory."""
    fields = tuple(fields or FIELDS)
    pending: list[dict] = []
    pending_count = 0
    for shard in read_manifest(data_dir).split(split).shards:
        path = Path(data_dir) / shard.file
        with _open_checked(path) as (h5, _):
            length = len(h5["label"])
            start = 0
            while start < length:
                stop = min(length, start + chunk - pending_count)
                pending.append({name: _read(h5, path, name, slice(start, stop)) for name in fields})
                pending_count += stop - start
                start = stop
                if pending_count == chunk:
                    yield _concatenate(pending)
                    pending, pending_count = [], 0
    if pending:
        yield _concatenate(pending)


def _concatenate(pieces: list[dict]) -> dict:
    return {name: np.concatenate([piece[name] for piece in pieces]) for name in pieces[0]}


def _fields_of(arrays: dict) -> dict:
    """FIELDS, and the provenance fields `arrays` holds."""
    return {**FIELDS, **{name: spec for name, spec in PROVENANCE_FIELDS.items() if name in arrays}}


def _read(h5: h5py.File, path: Path, name: str, selection=slice(None), out=None) -> np.ndarray:
    if name not in FIELDS and name not in PROVENANCE_FIELDS:
        raise ValueError(f"unknown shard field {name!r}; fields are "
                         f"{', '.join([*FIELDS, *PROVENANCE_FIELDS])}")
    if name not in h5:
        raise ShardError(f"{path}: has no '{name}' dataset (it was rendered before mindseye "
                         "recorded it); render the dataset again into a new folder to have it")
    try:
        if out is None:
            return h5[name][selection]
        h5[name].read_direct(out)
        return out
    except OSError as error:
        raise ShardError(f"{path}: cannot read dataset '{name}' ({error}); the file is damaged, "
                         "delete it and render again") from None


def _array_problems(arrays: dict) -> list[str]:
    """What is wrong with a shard's datasets (given as arrays or h5py datasets)."""
    problems = []
    lengths = set()
    for name, (dtype, sample_shape) in _fields_of(arrays).items():
        if name not in arrays:
            problems.append(f"dataset '{name}' missing")
            continue
        array = arrays[name]
        if array.dtype != dtype or tuple(array.shape[1:]) != sample_shape:
            problems.append(f"dataset '{name}' is {array.dtype} {tuple(array.shape)}, "
                            f"expected {dtype} (N, {', '.join(map(str, sample_shape))})"
                            .replace(", )", ")"))
        lengths.add(len(array))
    if len(lengths) > 1:
        problems.append(f"datasets have different lengths {sorted(lengths)}")
    return problems


@contextmanager
def _open_checked(path: Path) -> Iterator[tuple[h5py.File, dict]]:
    """Open a shard for reading and check it is a complete shard of this schema."""
    path = Path(path)
    if not path.is_file():
        raise ShardError(f"{path}: shard file not found; render the dataset again "
                         "(`mindseye render`)")
    try:
        h5 = h5py.File(path, "r")
    except OSError:
        raise ShardError(f"{path}: not a readable HDF5 file (truncated or not HDF5); delete it "
                         "and render again") from None
    with h5:
        version = h5.attrs.get("schema_version")
        if version is None:
            raise ShardError(f"{path}: not a mindseye shard (no schema_version attribute)")
        if version != SCHEMA_VERSION:
            raise ShardError(f"{path}: shard schema version {version}, this mindseye reads "
                             f"version {SCHEMA_VERSION}; render the dataset again")
        problems = _array_problems(h5)
        if problems:
            raise ShardError(f"{path}: {'; '.join(problems)}")
        yield h5, _decode_attrs(h5.attrs)


def _decode_attrs(raw: h5py.AttributeManager) -> dict:
    json_keys = set(json.loads(raw.get(_JSON_ATTRS_KEY, "[]")))
    attrs = {}
    for key, value in raw.items():
        if key == _JSON_ATTRS_KEY:
            continue
        if key in json_keys:
            value = json.loads(value)
        elif isinstance(value, np.generic):
            value = value.item()
        attrs[key] = value
    return attrs
