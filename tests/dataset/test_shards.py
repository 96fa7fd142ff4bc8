from pathlib import Path

import h5py
import numpy as np
import pytest

from mindseye.dataset.shards import (
    SCHEMA_VERSION,
    ShardError,
    content_sha256,
    file_sha256,
    iter_split,
    load_split,
    read_attrs,
    read_shard,
    write_shard,
)
from tests.fixtures.synthetic_discs import CLASSES, shard_arrays

ATTRS = {"class_names": CLASSES, "split": "train", "seed": 3, "shard_index": 0,
         "first_index": 0, "backgrounds": "test", "engine": {"name": "cycles", "samples": 4},
         "assets_sha256": {"disc": "ab" * 32}, "blender_version": "4.5.15"}


@pytest.fixture()
def arrays(npy_backgrounds: Path) -> dict[str, np.ndarray]:
    return shard_arrays("train", 0, 9, f"npy:{npy_backgrounds}")


def test_round_trip_keeps_arrays_and_attributes(tmp_path: Path, arrays: dict) -> None:
    path = tmp_path / "train" / "shard-00000.h5"
    sha256 = write_shard(path, arrays, ATTRS)
    assert sha256 == file_sha256(path)
    read, attrs = read_shard(path)
    for name, array in arrays.items():
        np.testing.assert_array_equal(read[name], array)
        assert read[name].dtype == array.dtype
    assert attrs == {**ATTRS, "schema_version": SCHEMA_VERSION}
    assert read_attrs(path) == attrs
    label_only, _ = read_shard(path, fields=("label",))
    assert list(label_only) == ["label"]


def test_write_leaves_no_partial_and_refuses_bad_arrays(tmp_path: Path, arrays: dict) -> None:
    path = tmp_path / "shard-00000.h5"
    write_shard(path, arrays, ATTRS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-00000.h5"]
    with pytest.raises(ValueError, match="image"):
        write_shard(tmp_path / "bad.h5", {**arrays, "image": arrays["image"][:, :32]}, ATTRS)
    with pytest.raises(ValueError, match="seed"):
        write_shard(tmp_path / "bad.h5", arrays, {k: v for k, v in ATTRS.items() if k != "seed"})
    assert not (tmp_path / "bad.h5").exists()


def test_truncated_file_is_named(tmp_path: Path, arrays: dict) -> None:
    path = tmp_path / "shard-00000.h5"
    write_shard(path, arrays, ATTRS)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShardError, match=f"{path}.*truncated"):
        read_shard(path)


def test_foreign_h5_and_other_schema_are_refused(tmp_path: Path, arrays: dict) -> None:
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h5:
        h5["x"] = np.zeros(3)
    with pytest.raises(ShardError, match=f"{foreign}: not a mindseye shard"):
        read_shard(foreign)

    old = tmp_path / "old.h5"
    write_shard(old, arrays, ATTRS)
    with h5py.File(old, "a") as h5:
        h5.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ShardError, match="schema version"):
        read_attrs(old)

    wrong_dtype = tmp_path / "wrong.h5"
    write_shard(wrong_dtype, arrays, ATTRS)
    with h5py.File(wrong_dtype, "a") as h5:
        del h5["label"]
        h5["label"] = np.zeros(len(arrays["label"]), np.int32)
    with pytest.raises(ShardError, match="'label' is int32"):
        read_shard(wrong_dtype)

    with pytest.raises(ShardError, match="not found"):
        read_shard(tmp_path / "missing.h5")


def test_load_split_and_iter_split_follow_manifest_order(dataset_dir: Path) -> None:
    whole = load_split(dataset_dir, "train")
    assert len(whole["label"]) == 24
    np.testing.assert_array_equal(whole["label"], np.arange(24) % len(CLASSES))
    images_only = load_split(dataset_dir, "train", fields=("image",))
    assert list(images_only) == ["image"]
    np.testing.assert_array_equal(images_only["image"], whole["image"])

    chunks = list(iter_split(dataset_dir, "train", chunk=10, fields=("label", "image")))
    assert [len(chunk["label"]) for chunk in chunks] == [10, 10, 4]  # across shards of 12
    np.testing.assert_array_equal(np.concatenate([c["image"] for c in chunks]), whole["image"])


def _rewrite(path: Path, arrays: dict, original: Path) -> None:
    """Store `arrays` at `path` with the attributes of `original`, at another gzip level than
    write_shard's: the same samples in different file bytes."""
    with h5py.File(original, "r") as source, h5py.File(path, "w") as h5:
        for name, array in arrays.items():
            compressed = name in ("object", "alpha")
            h5.create_dataset(name, data=array, compression="gzip" if compressed else None,
                              compression_opts=9 if compressed else None)
        for key, value in source.attrs.items():
            h5.attrs[key] = value


def test_content_sha256_follows_the_samples_not_the_file_bytes(dataset_dir: Path) -> None:
    before = content_sha256(dataset_dir)
    path = dataset_dir / "train" / "shard-00000.h5"
    original = path.with_name("original.h5")
    original.write_bytes(path.read_bytes())
    arrays, _ = read_shard(path)
    _rewrite(path, arrays, original)
    assert file_sha256(path) != file_sha256(original)
    assert content_sha256(dataset_dir) == before

    arrays["image"][0, 0, 0] ^= 1
    _rewrite(path, arrays, original)
    assert content_sha256(dataset_dir) != before
