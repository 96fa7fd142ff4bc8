"""`mindseye attack` on real run folders: bad input is one line and exit code 2."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from mindseye.attacks.experiments import record_table
from mindseye.cli import main
from tests.fixtures.environment import child_env
from tests.fixtures.runs import untrained_run
from tests.fixtures.synthetic_shapes import CLASSES


def invoke(*args: str):
    return CliRunner().invoke(main, ["attack", *map(str, args)])


def assert_one_line_error(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    for word in words:
        assert word in lines[0]


def test_unknown_attack(tmp_path, shapes_dataset):
    assert_one_line_error(invoke(tmp_path, shapes_dataset, "--attack", "fgsm"), "fgsm")


@pytest.mark.parametrize("thresholds", ["0.2,1.0", "0", "-0.1", "0.2,abc"])
def test_threshold_outside_zero_one(tmp_path, shapes_dataset, thresholds):
    assert_one_line_error(invoke(tmp_path, shapes_dataset, "--thresholds", thresholds),
                          "--thresholds")


@pytest.mark.parametrize("epsilons", ["2,8.5", "0", "255", "4,x"])
def test_budgets_are_whole_grey_levels_inside_the_range(tmp_path, shapes_dataset, epsilons):
    # An adversarial is an 8-bit image: a budget between grey levels would be the one below it.
    assert_one_line_error(invoke(tmp_path, shapes_dataset, "--epsilons", epsilons),
                          "--epsilons")


def test_an_unknown_network_is_named(tmp_path, shapes_dataset):
    assert_one_line_error(invoke(tmp_path, shapes_dataset, "--networks", "direct,resnet"),
                          "--networks", "unknown network 'resnet'")


def test_a_folder_or_file_that_is_no_run_is_said_to_be_none(tmp_path, shapes_dataset):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(invoke(tmp_path / "empty", shapes_dataset),
                          "is not a run folder", "mindseye train all")
    assert list((tmp_path / "empty").iterdir()) == []
    (tmp_path / "a-file").write_text("")
    assert_one_line_error(invoke(tmp_path / "a-file", shapes_dataset),
                          "a-file is a file, not a run folder")


def test_jobs_and_a_scheduler_are_refused_together(tmp_path, shapes_dataset):
    assert_one_line_error(invoke(tmp_path, shapes_dataset, "--attack", "reviewer", "--jobs", 2,
                                 "--scheduler", "tcp://localhost:8786"), "--jobs")


def test_run_folder_missing_a_network(tmp_path, shapes_dataset):
    run_dir = untrained_run(tmp_path / "run", CLASSES, ("direct", "estimator"))
    assert_one_line_error(invoke(run_dir, shapes_dataset, "--per-class", "1"), "direct-param")


def test_dataset_classes_differ_from_the_run(tmp_path, shapes_dataset):
    other = ["cube", "square", "triangle", "none"]
    run_dir = untrained_run(tmp_path / "run", other, ("direct",))
    assert_one_line_error(invoke(run_dir, shapes_dataset, "--attack", "pgd"), "classes")


def test_missing_run_and_data_folders(tmp_path, shapes_dataset):
    assert_one_line_error(invoke(tmp_path / "nope", shapes_dataset), "nope")
    assert_one_line_error(invoke(tmp_path, tmp_path / "nodata"), "nodata")


def test_attack_command_on_real_networks_resumes(tmp_path, shapes_dataset):
    run_dir = untrained_run(tmp_path / "run", CLASSES)
    args = (run_dir, shapes_dataset, "--per-class", "2", "--extra-per-class", "1",
            "--max-steps", "2", "--thresholds", "0.2,0.7", "--chunk", "4")
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    records = record_table(run_dir, "ifgsm").read()
    networks = {record["network"] for record in records}
    assert networks == {"direct", "direct-param", "triple-staged"}
    # 6 positive sources in units of 4: two units per network.
    units = {record["unit"] for record in records}
    assert {unit[-5:] for unit in units} == {"00000", "00001"} and len(units) == 6
    assert invoke(*args).exit_code == 0
    assert record_table(run_dir, "ifgsm").read() == records

    # The adaptive attack (beyond the paper) takes the first --extra-per-class of the same images.
    assert invoke(*args, "--attack", "adaptive").exit_code == 0
    def sources(attack: str) -> dict[int, set[int]]:
        found: dict[int, set[int]] = {}
        for record in record_table(run_dir, attack).read():
            found.setdefault(record["source_class"], set()).add(record["source"])
        return found

    paper, adaptive = sources("ifgsm"), sources("adaptive")
    assert len(paper) == len(adaptive) == len(CLASSES) - 1  # the positives
    assert all(len(paper[label]) == 2 and adaptive[label] == {min(paper[label])}
               for label in paper)


def test_chunk_must_be_positive(tmp_path, shapes_dataset):
    run_dir = untrained_run(tmp_path / "run", CLASSES)
    assert_one_line_error(invoke(run_dir, shapes_dataset, "--chunk", "0"), "--chunk 0")


def test_hopskipjump_takes_at_most_the_extra_images(tmp_path, shapes_dataset):
    run_dir = untrained_run(tmp_path / "run", CLASSES)
    assert_one_line_error(invoke(run_dir, shapes_dataset, "--attack", "hsj", "--extra-per-class",
                                 "2", "--hsj-per-class", "3"), "--hsj-per-class 3", "2 per")
    assert not (run_dir / "attacks" / "settings.json").exists()  # refused before the lock


def test_unknown_network(tmp_path, shapes_dataset):
    run_dir = untrained_run(tmp_path / "run", CLASSES)
    assert_one_line_error(invoke(run_dir, shapes_dataset, "--networks", "direct,resnet"),
                          "resnet", "triple-staged")


def test_networks_split_across_runs_add_up(tmp_path, shapes_dataset):
    """A machine with only the triple-staged stages attacks them; another adds a direct
    network to the same records."""
    run_dir = untrained_run(tmp_path / "run", CLASSES, ("estimator", "projector", "comparator"))
    args = (run_dir, shapes_dataset, "--per-class", "1", "--max-steps", "2")
    result = invoke(*args, "--networks", "triple-staged")
    assert result.exit_code == 0, result.output
    first = record_table(run_dir, "ifgsm").read()
    untrained_run(run_dir, CLASSES, ("direct",))
    assert invoke(*args, "--networks", "direct").exit_code == 0
    records = record_table(run_dir, "ifgsm").read()
    assert [r for r in records if r["network"] == "triple-staged"] == first  # as they were
    assert {r["network"] for r in records} - {"triple-staged"} == {"direct"}
    # Transfer on the triple-staged network alone needs the direct network's records only.
    shutil.rmtree(run_dir / "direct")
    result = invoke(*args, "--networks", "triple-staged", "--attack", "transfer")
    assert result.exit_code == 0, result.output


def test_two_attack_processes_on_one_run_lose_and_corrupt_nothing(tmp_path, shapes_dataset):
    """The README's way to split a run over machines, at its worst: both processes attack the
    same networks into one RUN/attacks/ at the same time."""
    args = ["--attack", "ifgsm", "--per-class", "3", "--max-steps", "20", "--chunk", "2",
            "--networks", "direct,direct-param", "--device", "cpu"]
    shared = untrained_run(tmp_path / "shared", CLASSES)
    command = [sys.executable, "-m", "mindseye", "attack", str(shared), str(shapes_dataset), *args]
    processes = [subprocess.Popen(command, env=child_env(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for process in processes:
        assert process.wait(timeout=600) == 0, process.stderr.read()
        assert "damaged" not in process.stderr.read()
    alone = untrained_run(tmp_path / "alone", CLASSES)
    assert invoke(alone, shapes_dataset, *args).exit_code == 0
    together, by_itself = record_table(shared, "ifgsm"), record_table(alone, "ifgsm")
    assert together.done_units() == by_itself.done_units() and len(by_itself.done_units()) == 10
    assert together.read() == by_itself.read()
    for record in (r for r in by_itself.read() if r["status"] == "attacked"):
        np.testing.assert_array_equal(together.load_image(record), by_itself.load_image(record))
