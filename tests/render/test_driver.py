"""The render driver on real Blender renders: determinism, resume after SIGKILL, Dask, bad input."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dataset.backgrounds import open_background_source
from dataset.composite import composite
from dataset.manifest import read_manifest
from dataset.samples import SPLITS, draw_sample
from dataset.shards import load_split, read_shard
from mindseye.cli import main
from tests.fixtures.environment import child_env
from tests.fixtures.rendered import TINY, render_tiny

pytestmark = pytest.mark.blender

SMALL = {"per_class": 6, "test_per_class": 3, "shard_size": 5}


def assert_same_dataset(a: Path, b: Path) -> None:
    for split in SPLITS:
        left, right = load_split(a, split), load_split(b, split)
        assert left.keys() == right.keys()
        for name in left:
            np.testing.assert_array_equal(left[name], right[name], err_msg=f"{split}/{name}")


def test_tiny_dataset_is_balanced_and_real(rendered_dataset: Path) -> None:
    manifest = read_manifest(rendered_dataset)
    train = load_split(rendered_dataset, "train")
    n_labels = len(manifest.classes)
    assert len(train["label"]) == TINY["per_class"] * n_labels
    assert np.bincount(train["label"]).tolist() == [TINY["per_class"]] * n_labels
    positive = train["label"] < n_labels - 1
    # Every positive sample shows an object, no None sample does.
    assert (train["alpha"][positive].reshape(positive.sum(), -1).max(axis=1) == 255).all()
    assert train["alpha"][~positive].max() == 0
    assert np.isnan(train["params"][~positive]).all()
    assert (np.abs(train["params"][positive]) <= 0.5).all()


def test_every_rendered_sample_is_the_one_draw_sample_describes(rendered_dataset: Path) -> None:
    # The driver and `dataset recomposite` share one definition of sample i: its stored label and
    # rotation are draw_sample's, and its image is the stored render over draw_sample's crop.
    manifest = read_manifest(rendered_dataset)
    for split in SPLITS:
        stored = load_split(rendered_dataset, split)
        source = open_background_source(manifest.config["render"]["backgrounds"], split)
        for index in range(len(stored["label"])):
            sample = draw_sample(TINY["seed"], split, index, len(manifest.classes), source)
            assert stored["label"][index] == sample.label
            np.testing.assert_array_equal(stored["params"][index],
                                          sample.rotation.astype(np.float32))
            np.testing.assert_array_equal(
                stored["image"][index],
                composite(stored["object"][index], stored["alpha"][index], sample.background))


def test_one_and_two_workers_give_identical_arrays(tmp_path: Path) -> None:
    render_tiny(tmp_path / "one", workers=1, **SMALL)
    render_tiny(tmp_path / "two", workers=2, **SMALL)
    assert_same_dataset(tmp_path / "one", tmp_path / "two")


def test_rerun_of_finished_render_changes_nothing(tmp_path: Path) -> None:
    data = render_tiny(tmp_path / "data", **SMALL)
    before = {p: p.stat().st_mtime_ns for p in data.rglob("*")}
    render_tiny(data, **SMALL)
    assert {p: p.stat().st_mtime_ns for p in data.rglob("*")} == before


def test_other_settings_are_refused_unless_overwrite(tmp_path: Path) -> None:
    data = render_tiny(tmp_path / "data", **SMALL)
    args = ["render", str(data), "--per-class", "7", "--test-per-class", "3", "--workers", "1"]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2
    assert "--overwrite" in refused.output and "Traceback" not in refused.output
    accepted = CliRunner().invoke(main, [*args, "--shard-size", "5", "--overwrite"])
    assert accepted.exit_code == 0, accepted.output
    assert len(load_split(data, "train")["label"]) == 7 * len(read_manifest(data).classes)


def test_resume_after_sigkill_finishes_with_exactly_the_requested_samples(tmp_path: Path) -> None:
    settings = {**SMALL, "per_class": 12, "shard_size": 4}
    reference = render_tiny(tmp_path / "reference", **settings)
    data = tmp_path / "killed"
    command = [
        sys.executable, "-m", "mindseye", "render", str(data), "--workers", "1",
        "--seed", str(TINY["seed"]), "--per-class", "12", "--test-per-class", "3",
        "--shard-size", "4",
    ]
    process = subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL,
                               env=child_env())
    deadline = time.monotonic() + 120
    while not list((data / "train").glob("shard-*.h5")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    # Whatever is visible as a shard is complete.
    for shard in data.rglob("shard-*.h5"):
        read_shard(shard)
    assert len(list(data.rglob("shard-*.h5"))) < len(list(reference.rglob("shard-*.h5")))

    subprocess.run(command, check=True, stderr=subprocess.DEVNULL, env=child_env())
    assert not list(data.rglob("*.partial*"))
    assert_same_dataset(reference, data)


def test_render_on_a_dask_local_cluster(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    from render.driver import render_dataset
    from render.settings import render_settings

    reference = render_tiny(tmp_path / "local", **SMALL)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        settings = render_settings("demo", **{**TINY, **SMALL})
        render_dataset(tmp_path / "dask", settings, scheduler=cluster.scheduler_address)
    assert_same_dataset(reference, tmp_path / "dask")


@pytest.mark.parametrize(
    ("extra", "culprit"),
    [
        (["--classes", "unicorn"], "unicorn"),
        (["--per-class", "0"], "--per-class"),
        (["--workers", "0"], "--workers"),
        (["--backgrounds", "folder:/nonexistent/backgrounds"], "/nonexistent/backgrounds"),
        (["--backgrounds", "pictures:x"], "pictures"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(
    tmp_path: Path, extra: list[str], culprit: str
) -> None:
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["render", str(data), *extra])
    assert result.exit_code == 2
    assert culprit in result.output
    assert "Traceback" not in result.output
    assert not data.exists()


def test_unwritable_output_folder_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(main, ["render", str(blocker / "data"), "--per-class", "2"])
    assert result.exit_code == 2
    assert str(blocker / "data") in result.output


def test_empty_background_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(
        main, ["render", str(tmp_path / "data"), "--backgrounds", f"folder:{tmp_path / 'empty'}"]
    )
    assert result.exit_code == 2
    assert "empty" in result.output
    assert not (tmp_path / "data").exists()
