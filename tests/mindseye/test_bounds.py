"""Runaway sizes and unusable output folders end in one line and exit code 2, before anything is
written (issue 21)."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from mindseye.cli import main
from tests.fixtures.runs import untrained_run
from tests.fixtures.synthetic_shapes import CLASSES, write_synthetic_dataset

HUGE = str(10**20)


def one_line_refusal(arguments: list[str], words: str) -> None:
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output


def test_a_runaway_render_size_is_refused_before_a_manifest_is_written(tmp_path: Path):
    one_line_refusal(["render", str(tmp_path / "data"), "--per-class", HUGE], "--per-class")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(("option", "words"), [("--batch-size", "give 1 to"),
                                               ("--steps", "give 1 to")])
def test_a_runaway_training_size_is_refused_before_a_config_is_written(tmp_path, option, words):
    data = write_synthetic_dataset(tmp_path / "data", per_class=2, test_per_class=2)
    run = tmp_path / "run"
    one_line_refusal(["train", "direct", str(data), "--out", str(run), option, "99999999999"],
                     words)
    assert not (run / "direct" / "config.json").exists()


def test_a_runaway_attack_size_is_refused_before_the_lock_is_written(tmp_path: Path):
    data = write_synthetic_dataset(tmp_path / "data", per_class=2, test_per_class=2)
    run = untrained_run(tmp_path / "run", CLASSES)
    one_line_refusal(["attack", str(run), str(data), "--max-steps", HUGE], "give 1 to 100,000")
    assert not (run / "attacks" / "settings.json").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path: Path):
    data = write_synthetic_dataset(tmp_path / "data", per_class=2, test_per_class=2)
    run = untrained_run(tmp_path / "run", CLASSES)
    one_line_refusal(["eval", str(run), str(data), "--out", "/proc/mindseye-report"], "--out")
    one_line_refusal(["train", "direct", str(data), "--out", "/proc/mindseye-run"], "--out")
    blocker = tmp_path / "file"
    blocker.write_text("")
    one_line_refusal(["eval", str(run), str(data), "--out", str(blocker / "report")], "--out")


@pytest.fixture()
def full_disk(tmp_path: Path):
    """A 4 MB file system with 64 KB left (needs root for the mount; skipped without)."""
    import subprocess

    folder = tmp_path / "full"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("mounting a small file system needs root")
    try:
        (folder / "filler").write_bytes(bytes(4 * 1024 * 1024 - 64 * 1024))
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_is_said_in_one_line(tmp_path: Path, full_disk: Path):
    data = write_synthetic_dataset(tmp_path / "data", per_class=2, test_per_class=2)
    one_line_refusal(["train", "direct", str(data), "--out", str(full_disk / "run"),
                      "--steps", "2"], "the disk is full")
