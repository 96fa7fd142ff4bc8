from pathlib import Path

import h5py
import numpy as np

from mindseye.core.files import file_sha256
from mindseye.dataset.manifest import ShardRecord, read_manifest, write_manifest
from mindseye.dataset.shards import read_shard, write_shard
from mindseye.dataset.verify import verify_dataset


def test_verify_accepts_a_sound_dataset(dataset_dir: Path) -> None:
    assert verify_dataset(dataset_dir) == []


def _rewrite(dataset_dir: Path, file: str, **changes: np.ndarray) -> None:
    """Replace some arrays of a shard and keep the manifest's sha256 in step."""
    arrays, attrs = read_shard(dataset_dir / file)
    arrays.update(changes)
    attrs.pop("schema_version")
    sha256 = write_shard(dataset_dir / file, arrays, attrs)
    manifest = read_manifest(dataset_dir)
    split = file.split("/")[0]
    old = next(s for s in manifest.split(split).shards if s.file == file)
    manifest.add_shard(split, ShardRecord(file, old.first_index, old.count, sha256))
    write_manifest(dataset_dir, manifest)


def test_verify_finds_content_problems(dataset_dir: Path) -> None:
    file = "train/shard-00000.h5"
    arrays, _ = read_shard(dataset_dir / file)
    label = arrays["label"].copy()
    label[0] = 7
    params = arrays["params"].copy()
    params[1] = np.nan  # sample 1 is a positive
    obj = arrays["object"].copy()
    obj[2][arrays["alpha"][2] == 0] = 9
    _rewrite(dataset_dir, file, label=label, params=params, object=obj)
    problems = "\n".join(verify_dataset(dataset_dir))
    assert "labels outside 0..2" in problems
    assert "NaN exactly for the None class" in problems
    assert "object is not 0 where alpha is 0" in problems


def test_verify_finds_file_problems(dataset_dir: Path) -> None:
    (dataset_dir / "test" / "shard-00000.h5").unlink()
    changed = dataset_dir / "train" / "shard-00001.h5"
    with h5py.File(changed, "a") as h5:
        h5.attrs["note"] = "edited"
    (dataset_dir / "train" / "shard-00009.h5").write_bytes(b"stray")
    (dataset_dir / "train" / "shard-00002.h5.partial").write_bytes(b"half")
    problems = verify_dataset(dataset_dir)
    assert any("test/shard-00000.h5: shard file missing" in p for p in problems)
    assert any("shard-00001.h5: sha256 differs" in p for p in problems)
    assert any("shard-00009.h5: shard file not listed" in p for p in problems)
    assert not any(".partial" in p for p in problems)


def test_verify_names_a_truncated_shard_in_one_line(dataset_dir: Path) -> None:
    path = dataset_dir / "train" / "shard-00000.h5"
    path.write_bytes(path.read_bytes()[:3000])
    manifest = read_manifest(dataset_dir)
    shard = manifest.split("train").shards[0]
    # the manifest agrees with the damaged file, so only the format check can catch it
    manifest.add_shard("train", ShardRecord(shard.file, 0, shard.count, file_sha256(path)))
    write_manifest(dataset_dir, manifest)
    assert verify_dataset(dataset_dir) == [
        f"{path}: not a readable HDF5 file (truncated or not HDF5); delete it and render again"]
