"""The render driver on real Blender renders: determinism, resume after SIGKILL, user classes
beside built-in ones, Dask workers that cannot see the user's files, bad input."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mindseye.blender_assets.registry import (
    PACKAGE_DIR,
    file_sha256,
    read_classes_file,
    select_classes,
    write_classes,
)
from mindseye.cli import main
from mindseye.core.constants import DEFAULT_BACKGROUNDS
from mindseye.dataset.backgrounds import open_background_source
from mindseye.dataset.composite import composite, contrast_stretch
from mindseye.dataset.manifest import read_manifest
from mindseye.dataset.photos import photo_list, photos_file
from mindseye.dataset.samples import SPLITS, draw_sample
from mindseye.dataset.shards import FIELDS, load_split, read_shard
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
    # rotation are draw_sample's, its image is the stored render over draw_sample's crop, and
    # its `background` names the photo of the split that crop came from.
    manifest = read_manifest(rendered_dataset)
    assert manifest.config["render"]["backgrounds"] == DEFAULT_BACKGROUNDS == "photos"
    for split in SPLITS:
        stored = load_split(rendered_dataset, split, (*FIELDS, "background"))
        source = open_background_source(manifest.config["render"]["backgrounds"], split)
        assert set(stored["background"]) <= {photo.index for photo in photo_list()
                                             if photo.split == split}
        for index in range(len(stored["label"])):
            sample = draw_sample(TINY["seed"], split, index, len(manifest.classes), source)
            assert stored["label"][index] == sample.label
            assert stored["background"][index] == sample.photo
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
    assert f"render.per_class ({SMALL['per_class']} there, 7 asked)" in refused.output
    accepted = CliRunner().invoke(main, [*args, "--shard-size", "5", "--overwrite"])
    assert accepted.exit_code == 0, accepted.output
    assert len(load_split(data, "train")["label"]) == 7 * len(read_manifest(data).classes)


def test_a_command_without_backgrounds_resumes_with_the_recorded_ones(tmp_path: Path) -> None:
    # A dataset made over `builtin` (the default before `photos`) resumes with its own command
    # line; naming other backgrounds is still refused.
    data = render_tiny(tmp_path / "data", backgrounds="builtin", **SMALL)
    args = ["render", str(data), "--per-class", "6", "--test-per-class", "3", "--shard-size",
            "5", "--seed", "7", "--workers", "1"]
    resumed = CliRunner().invoke(main, args)
    assert resumed.exit_code == 0, resumed.output
    assert read_manifest(data).config["render"]["backgrounds"] == "builtin"
    refused = CliRunner().invoke(main, [*args, "--backgrounds", DEFAULT_BACKGROUNDS])
    assert refused.exit_code == 2 and "backgrounds" in refused.output


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


def marked_processes(marker: str) -> dict[int, str]:
    """Process id -> command line of every live process whose environment holds `marker`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":  # a zombie has ended; only its exit status waits
                    found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(
                        b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="needs Linux's /proc")
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_render_leaves_no_worker_and_no_frame_folder(tmp_path: Path, stop) -> None:
    marker = f"MINDSEYE_TEST_RUN={os.getpid()}-{time.monotonic_ns()}"
    name, value = marker.split("=")
    command = [sys.executable, "-m", "mindseye", "render", str(tmp_path / "data"), "--workers",
               "2", "--per-class", "400", "--test-per-class", "3", "--shard-size", "50"]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL, env=child_env(**{name: value}))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and sum(
            "mindseye.render.worker" in line for line in marked_processes(marker).values()) < 2:
        time.sleep(0.1)
    workers = marked_processes(marker)
    folders = {path for pid in workers
               for path in Path("/dev/shm").glob(f"mindseye-frames-{pid}-*")}
    assert sum("mindseye.render.worker" in line for line in workers.values()) == 2 and folders
    process.send_signal(stop)  # the render alone: its workers get no word
    process.wait()
    deadline = time.monotonic() + 15
    while marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not marked_processes(marker)
    assert not [folder for folder in folders if folder.exists()]


MIXED = ("tetra", "monkey")  # a user class and a built-in one, in the order of --classes


@pytest.fixture(scope="module")
def mixed_dataset(tmp_path_factory: pytest.TempPathFactory, tetra_assets: Path) -> Path:
    """The user's tetra and the built-in monkey rendered together by local workers."""
    from mindseye.render.driver import render_dataset
    from mindseye.render.settings import render_settings

    data = tmp_path_factory.mktemp("mixed") / "data"
    settings = render_settings("demo", **{**TINY, **SMALL, "classes": MIXED})
    render_dataset(data, settings, workers=1, assets_dir=tetra_assets)
    return data


def test_a_user_class_and_a_built_in_class_render_into_one_dataset(
    mixed_dataset: Path, tetra_assets: Path, rendered_dataset: Path
) -> None:
    manifest = read_manifest(mixed_dataset)
    assert manifest.classes == [*MIXED, "none"]
    tetra, monkey = select_classes(MIXED, tetra_assets)
    recorded = manifest.config["assets"]
    assert recorded["tetra"] == {"sha256": tetra.sha256, "origin": "user",
                                 "blend_file": str(tetra_assets / "tetra.blend"),
                                 "object_name": "tetra", "source": tetra.source}
    assert recorded["monkey"] == {"sha256": monkey.sha256, "origin": "built-in",
                                  "blend_file": str(PACKAGE_DIR / "monkey.blend"),
                                  "object_name": "monkey", "source": "built-in"}
    assert manifest.config["assets_sha256"] == {"tetra": tetra.sha256, "monkey": monkey.sha256}
    train = load_split(mixed_dataset, "train")
    positive = train["label"] < len(MIXED)
    assert (train["alpha"][positive].reshape(positive.sum(), -1).max(axis=1) == 255).all()
    assert train["alpha"][~positive].max() == 0
    # Sample i's rotation depends on (seed, split, i) alone: where sample i is the monkey both
    # here (label i % 3 == 1) and in the built-in dataset of the same seed (i % 4 == 0), the
    # pixels are the same.
    built_in = load_split(rendered_dataset, "train")
    both = [i for i in range(len(train["label"])) if i % 3 == 1 and i % 4 == 0]
    assert both
    for index in both:
        np.testing.assert_array_equal(train["object"][index], built_in["object"][index])
        np.testing.assert_array_equal(train["alpha"][index], built_in["alpha"][index])


def test_dask_workers_render_user_classes_without_the_users_folder(
    tmp_path: Path, mixed_dataset: Path, tetra_assets: Path
) -> None:
    from dask.distributed import LocalCluster
    from distributed.diagnostics.plugin import SchedulerPlugin

    from mindseye.render.driver import render_dataset
    from mindseye.render.settings import render_settings

    assets = shutil.copytree(tetra_assets, tmp_path / "assets")
    hidden = tmp_path / "hidden"

    class HideTheUsersFolder(SchedulerPlugin):
        """When the driver's client connects it has read every .blend; from then on the
        user's assets folder is gone, so a worker that looked for it would fail."""

        def add_client(self, scheduler, client: str) -> None:
            if assets.exists():
                assets.rename(hidden)

    # Workers of a machine of their own: another home, user assets folder and cache, and the
    # photos set its own install fetched (here: a copy of ours).
    worker_photos = tmp_path / "worker-photos.h5"
    shutil.copyfile(photos_file(), worker_photos)
    worker_env = {"HOME": str(tmp_path / "worker-home"),
                  "MINDSEYE_ASSETS": str(tmp_path / "worker-home" / "assets"),
                  "MINDSEYE_CACHE": str(tmp_path / "worker-cache"),
                  "MINDSEYE_PHOTOS": str(worker_photos)}
    settings = render_settings("demo", **{**TINY, **SMALL, "classes": MIXED})
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      env=worker_env) as cluster:
        cluster.scheduler.add_plugin(HideTheUsersFolder())
        render_dataset(tmp_path / "dask", settings, scheduler=cluster.scheduler_address,
                       assets_dir=assets)
    assert hidden.is_dir() and not assets.exists()
    assert_same_dataset(mixed_dataset, tmp_path / "dask")
    # Each worker wrote the models it was sent into its cache, named by their sha256.
    shipped = {asset.sha256 for asset in select_classes(MIXED, hidden)}
    cached = {path.stem for path in (tmp_path / "worker-cache" / "models").glob("*.blend")}
    assert cached == shipped
    recorded = read_manifest(tmp_path / "dask").config["assets"]["tetra"]
    assert recorded["blend_file"] == str(assets / "tetra.blend")  # the driver's file


def render_args(data: Path, assets: Path) -> list[str]:
    """`mindseye render` with the options the mixed dataset was made with."""
    return ["render", str(data), "--classes", ",".join(MIXED), "--seed", str(TINY["seed"]),
            "--per-class", str(SMALL["per_class"]), "--test-per-class",
            str(SMALL["test_per_class"]), "--shard-size", str(SMALL["shard_size"]),
            "--workers", "1", "--assets-dir", str(assets)]


def test_resuming_with_another_user_model_names_the_class(
    tmp_path: Path, mixed_dataset: Path, tetra_assets: Path
) -> None:
    data = shutil.copytree(mixed_dataset, tmp_path / "data")
    assets = shutil.copytree(tetra_assets, tmp_path / "moved-assets")
    # The same model in another folder is the same dataset: nothing to do.
    before = {path: path.stat().st_mtime_ns for path in data.rglob("*")}
    resumed = CliRunner().invoke(main, render_args(data, assets))
    assert resumed.exit_code == 0, resumed.output
    assert {path: path.stat().st_mtime_ns for path in data.rglob("*")} == before
    # Another model registered under the same name is not.
    tetra = read_classes_file(assets)["tetra"]
    tetra.blend_file.write_bytes(tetra.blend_file.read_bytes() + b"\0")
    write_classes([replace(tetra, sha256=file_sha256(tetra.blend_file))], assets)
    refused = CliRunner().invoke(main, render_args(data, assets))
    assert refused.exit_code == 2
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "class 'tetra': user model" in refused.stderr
    assert str(tetra_assets / "tetra.blend") in refused.stderr  # what it was rendered with
    assert "restore that model, or pass --overwrite" in refused.stderr
    assert {path: path.stat().st_mtime_ns for path in data.rglob("*")} == before


def test_a_missing_user_model_names_the_class(tmp_path: Path, tetra_assets: Path) -> None:
    assets = shutil.copytree(tetra_assets, tmp_path / "assets")
    (assets / "tetra.blend").unlink()
    result = CliRunner().invoke(main, render_args(tmp_path / "data", assets))
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "class 'tetra' (user)" in result.stderr and "is missing" in result.stderr
    assert "mindseye assets add tetra FILE --overwrite" in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("extra", "culprit"),
    [
        (["--classes", "unicorn"], "unicorn"),
        (["--classes", "monkey,,penguin"], "an empty name between commas"),
        (["--classes", "monkey,none"], "'none' is the background class"),
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


def test_a_stretched_dataset_is_the_plain_one_with_each_models_range_stretched(
        tmp_path: Path) -> None:
    plain = render_tiny(tmp_path / "plain", **SMALL)
    stretched = render_tiny(tmp_path / "stretched", **SMALL, contrast_stretch=True,
                            stretch_calibration=60)
    config = read_manifest(stretched).config
    assert config["render"]["contrast_stretch"] and "contrast_stretch" not in (
        read_manifest(plain).config["render"])
    ranges = config["contrast_stretch"]
    assert list(ranges) == read_manifest(stretched).classes[:-1]
    for split in SPLITS:
        before, after = load_split(plain, split), load_split(stretched, split)
        np.testing.assert_array_equal(before["alpha"], after["alpha"])
        np.testing.assert_array_equal(before["params"], after["params"])
        for label, (low, high) in enumerate(ranges.values()):
            rows = before["label"] == label
            np.testing.assert_array_equal(
                after["object"][rows],
                contrast_stretch(before["object"][rows], before["alpha"][rows], low, high))
        assert not np.array_equal(before["object"], after["object"])
        # The composite is made from the stretched object, so recompositing reproduces it.
        source = open_background_source(config["render"]["backgrounds"], split)
        backgrounds = np.stack([draw_sample(TINY["seed"], split, i, len(ranges) + 1,
                                            source).background
                                for i in range(len(after["label"]))])
        np.testing.assert_array_equal(after["image"],
                                      composite(after["object"], after["alpha"], backgrounds))


def test_a_stretched_dataset_resumes_without_rendering_its_calibration_again(
        tmp_path: Path) -> None:
    data = render_tiny(tmp_path / "data", **SMALL, contrast_stretch=True, stretch_calibration=60)
    manifest = read_manifest(data)
    recorded = manifest.config["contrast_stretch"]
    # A range the calibration could never give: if resuming rendered the calibration again,
    # the configs would differ and the finished dataset would be refused.
    manifest.config["contrast_stretch"] = {name: [1.0, 2.0] for name in recorded}
    (data / "manifest.json").write_text(json.dumps(manifest.to_json()))
    render_tiny(data, **SMALL, contrast_stretch=True, stretch_calibration=60)
    assert read_manifest(data).config["contrast_stretch"] == {n: [1.0, 2.0] for n in recorded}
