import json
from pathlib import Path

import pytest

from mindseye.core.errors import UserError
from mindseye.dataset.manifest import (
    Manifest,
    ShardRecord,
    SplitRecord,
    read_manifest,
    write_manifest,
)


def test_round_trip_and_add_shard(tmp_path: Path) -> None:
    manifest = Manifest(["a", "none"], {"seed": 1, "engine": {"samples": 4}},
                        {"train": SplitRecord(20), "test": SplitRecord(10)})
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]

    for shard in (ShardRecord("train/shard-00001.h5", 10, 10, "b" * 64),
                  ShardRecord("train/shard-00000.h5", 0, 10, "a" * 64),
                  ShardRecord("train/shard-00000.h5", 0, 10, "c" * 64)):
        manifest = read_manifest(tmp_path)
        manifest.add_shard("train", shard)  # as the render driver records a finished shard
        write_manifest(tmp_path, manifest)
    shards = read_manifest(tmp_path).split("train").shards
    assert [(s.first_index, s.sha256[0]) for s in shards] == [(0, "c"), (10, "b")]
    assert read_manifest(tmp_path).split("train").finished_samples == 20


def test_missing_and_malformed_manifest(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such dataset folder.*mindseye render"):
        read_manifest(tmp_path / "nowhere")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(UserError, match="a-file is a file, not a dataset folder"):
        read_manifest(tmp_path / "a-file")
    with pytest.raises(UserError, match="manifest.json not found.*mindseye render"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"classes": ["a"]')
    with pytest.raises(UserError, match="manifest.json is malformed"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"classes": ["a"]}))
    with pytest.raises(UserError, match="malformed"):
        read_manifest(tmp_path)


@pytest.mark.parametrize("file", ["../x.h5", "/etc/shadow", "train/../../src/test.h5"])
def test_a_shard_path_outside_the_folder_is_refused(tmp_path: Path, file: str) -> None:
    manifest = Manifest(["a", "none"], {}, {"train": SplitRecord(10), "test": SplitRecord(0)})
    manifest.add_shard("train", ShardRecord(file, 0, 10, "a" * 64))
    write_manifest(tmp_path, manifest)
    with pytest.raises(UserError, match="points outside"):
        read_manifest(tmp_path)
