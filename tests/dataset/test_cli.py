import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from mindseye.cli import main
from mindseye.core.errors import UserError
from mindseye.dataset.fingerprint import data_fingerprint
from mindseye.dataset.manifest import read_manifest, write_manifest
from mindseye.dataset.shards import load_split, read_attrs
from mindseye.dataset.verify import verify_dataset
from mindseye.models.jobs import check_data
from tests.fixtures.synthetic_discs import CLASSES, make_dataset


def run(*args: object) -> Result:
    return CliRunner().invoke(main, ["dataset", *map(str, args)])


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_info(dataset_dir: Path) -> None:
    result = run("info", dataset_dir)
    assert result.exit_code == 0, result.output
    assert "classes: disc, ring, none" in result.stdout
    assert "train: 24 of 24 samples in 2 shards (complete)" in result.stdout
    assert "test: 12 of 12 samples in 1 shards (complete)" in result.stdout
    assert result.stdout.count("disc         8") == 1  # 24 train samples cycle over 3 labels
    assert '"seed": 3' in result.stdout and "size on disk:" in result.stdout
    assert f"content sha256: {data_fingerprint(dataset_dir)}" in result.stdout


def test_verify_ok_and_problems(dataset_dir: Path) -> None:
    result = run("verify", dataset_dir)
    assert result.exit_code == 0 and result.stdout.strip() == "ok"
    (dataset_dir / "test" / "shard-00000.h5").unlink()
    result = run("verify", dataset_dir)
    assert result.exit_code == 2
    assert "shard file missing" in result.stderr and "problem(s) found" in result.stderr


def test_verify_truncated_and_foreign_shards(dataset_dir: Path) -> None:
    shard = dataset_dir / "train" / "shard-00001.h5"
    shard.write_bytes(shard.read_bytes()[:2000])
    result = run("verify", dataset_dir)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{shard}: sha256 differs" in result.stderr
    foreign = dataset_dir / "train" / "shard-00007.h5"
    foreign.write_bytes(b"not hdf5 at all")
    result = run("verify", dataset_dir)
    assert f"{foreign}: shard file not listed in the manifest" in result.stderr


def test_bad_inputs_exit_2_with_one_line(tmp_path: Path, dataset_dir: Path) -> None:
    assert_one_line_error(run("info", tmp_path / "missing"), "missing", "mindseye render")
    assert_one_line_error(run("verify", tmp_path), "manifest.json not found")
    assert_one_line_error(run("recomposite", dataset_dir, "--backgrounds", "clouds"),
                          "--backgrounds clouds", "unknown source")
    assert_one_line_error(
        run("recomposite", dataset_dir, "--backgrounds", f"folder:{tmp_path / 'none'}"),
        "does not exist")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file.txt").write_text("x")
    assert_one_line_error(
        run("recomposite", dataset_dir, "--backgrounds", "builtin", "--out", tmp_path / "busy"),
        "--out", "not empty")
    # a shard replaced by a truncated file: one line naming it, no traceback
    shard = dataset_dir / "train" / "shard-00000.h5"
    shard.write_bytes(shard.read_bytes()[:2000])
    assert_one_line_error(run("info", dataset_dir), str(shard), "truncated")


def test_preview_writes_one_grid_per_split_and_class(dataset_dir: Path, tmp_path: Path) -> None:
    result = run("preview", dataset_dir, "--n", 3)
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (dataset_dir / "preview").iterdir())
    assert written == sorted(f"{split}-{name}.png" for split in ("train", "test")
                             for name in CLASSES)
    grid = np.asarray(Image.open(dataset_dir / "preview" / "train-disc.png"))
    assert grid.shape == (3 * (256 + 4) + 4, 3 * (256 + 4) + 4)
    first_alpha = grid[2 * 260 + 4:3 * 260, 4:260][::4, ::4]  # third row, first tile
    disc = load_split(dataset_dir, "train")
    np.testing.assert_array_equal(first_alpha, disc["alpha"][0])
    assert run("preview", dataset_dir, "--out", tmp_path / "p").exit_code == 0
    assert len(list((tmp_path / "p").glob("*.png"))) == 6


def test_recomposite_with_same_backgrounds_reproduces_images(
    dataset_dir: Path, npy_backgrounds: Path, tmp_path: Path
) -> None:
    out = tmp_path / "again"
    result = run("recomposite", dataset_dir, "--backgrounds", f"npy:{npy_backgrounds}",
                 "--out", out)
    assert result.exit_code == 0, result.output
    assert verify_dataset(out) == []
    for split in ("train", "test"):
        np.testing.assert_array_equal(load_split(out, split)["image"],
                                      load_split(dataset_dir, split)["image"])
    assert read_manifest(out).config == read_manifest(dataset_dir).config


def test_recomposite_in_place_over_new_backgrounds_and_resume(dataset_dir: Path) -> None:
    before = {split: load_split(dataset_dir, split) for split in ("train", "test")}
    shutil.copy(dataset_dir / "train" / "shard-00000.h5", dataset_dir / "old-shard.h5")
    result = run("recomposite", dataset_dir, "--backgrounds", "builtin")
    assert result.exit_code == 0, result.output
    assert verify_dataset(dataset_dir) == []
    assert "builtin split=test" in read_manifest(dataset_dir).config["backgrounds"]["test"]
    for split, old in before.items():
        new = load_split(dataset_dir, split)
        for field in ("object", "alpha", "label", "params"):
            np.testing.assert_array_equal(new[field], old[field])
        opaque = new["alpha"] == 255
        assert np.array_equal(new["image"][opaque], old["image"][opaque])
        assert not np.array_equal(new["image"][~opaque], old["image"][~opaque])

    # a run killed after some shards: put back one old shard, run again, only it is redone
    modified = {p: p.stat().st_mtime_ns for p in dataset_dir.glob("*/*.h5")}
    shutil.copy(dataset_dir / "old-shard.h5", dataset_dir / "train" / "shard-00000.h5")
    assert run("recomposite", dataset_dir, "--backgrounds", "builtin").exit_code == 0
    assert verify_dataset(dataset_dir) == []
    assert "builtin" in read_attrs(dataset_dir / "train" / "shard-00000.h5")["backgrounds"]
    for path, mtime in modified.items():
        if path.name != "shard-00000.h5" or path.parent.name != "train":
            assert path.stat().st_mtime_ns == mtime, path


def test_copy_stands_for_the_dataset_it_copies(dataset_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    result = run("copy", dataset_dir, copy)
    assert result.exit_code == 0, result.output
    assert not (copy / "train").exists() and verify_dataset(copy) == []
    assert data_fingerprint(copy) == data_fingerprint(dataset_dir)
    copied = load_split(copy, "test")
    for name, values in load_split(dataset_dir, "test").items():
        assert np.array_equal(copied[name], values, equal_nan=values.dtype.kind == "f")
    info = run("info", copy).stdout
    assert "is a copy of the test split(s) of data" in info
    test_digest = next(line for line in info.splitlines() if "test samples:" in line)
    assert test_digest in run("info", dataset_dir).stdout  # the same samples, the same digest
    assert "train samples:" not in info
    assert_one_line_error(run("copy", dataset_dir, copy), "already holds a dataset")
    assert_one_line_error(run("copy", dataset_dir, tmp_path / "other", "--splits", "val"),
                          "--splits val: ", "has no split 'val'; choose from")
    assert_one_line_error(run("copy", dataset_dir, tmp_path / "other", "--splits", ","),
                          "--splits")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert_one_line_error(run("copy", dataset_dir, tmp_path / "busy"), "not empty")
    with pytest.raises(UserError, match="train on the dataset it copies"):
        check_data(copy)
    # A copy whose samples changed since (here: a test shard of another dataset in its place,
    # its manifest updated to match) no longer stands for the dataset it names.
    other = make_dataset(tmp_path / "other-data", "builtin")
    manifest = read_manifest(copy)
    shard = manifest.split("test").shards[0]
    shutil.copyfile(other / shard.file, copy / shard.file)
    shard.sha256 = read_manifest(other).split("test").shards[0].sha256
    write_manifest(copy, manifest)
    with pytest.raises(UserError, match="not the ones copied"):
        data_fingerprint(copy)
    assert any("not the ones copied" in problem for problem in verify_dataset(copy))


def test_copy_refuses_an_unfinished_dataset(dataset_dir: Path, tmp_path: Path) -> None:
    manifest = read_manifest(dataset_dir)
    manifest.split("train").samples += 12  # as a render killed before its last shard
    write_manifest(dataset_dir, manifest)
    assert_one_line_error(run("copy", dataset_dir, tmp_path / "copy"), "not finished")
