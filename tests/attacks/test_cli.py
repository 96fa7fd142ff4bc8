"""`mindseye attack` on real run folders: bad input is one line and exit code 2."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mindseye.cli import main
from models.runs import FORMAT_VERSION, build_network
from tests.fixtures.synthetic_shapes import CLASSES

STAGES = ("direct", "direct-param", "estimator", "projector", "comparator")


def untrained_run(run_dir: Path, classes: list[str], networks=STAGES) -> Path:
    """A run folder in the layout models/runs.py reads, with freshly initialised weights."""
    torch.manual_seed(0)
    for network in networks:
        folder = run_dir / network
        folder.mkdir(parents=True)
        model = build_network(network, len(classes) - 1)
        torch.save(model.state_dict(), folder / "weights.pt")
        config = {"network": network, "classes": classes, "format_version": FORMAT_VERSION}
        (folder / "config.json").write_text(json.dumps(config))
    return run_dir


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
    records = (run_dir / "attacks" / "ifgsm.jsonl").read_text().splitlines()
    networks = {json.loads(line)["network"] for line in records}
    assert networks == {"direct", "direct-param", "triple-staged"}
    # 6 positive sources in units of 4: two units per network.
    units = {json.loads(line)["unit"] for line in records}
    assert {unit[-5:] for unit in units} == {"00000", "00001"} and len(units) == 6
    assert invoke(*args).exit_code == 0
    assert (run_dir / "attacks" / "ifgsm.jsonl").read_text().splitlines() == records

    # The adaptive attack (beyond the paper) takes the first --extra-per-class of the same images.
    assert invoke(*args, "--attack", "adaptive").exit_code == 0
    def sources(attack: str) -> dict[int, set[int]]:
        found: dict[int, set[int]] = {}
        for line in (run_dir / "attacks" / f"{attack}.jsonl").read_text().splitlines():
            record = json.loads(line)
            found.setdefault(record["source_class"], set()).add(record["source"])
        return found

    paper, adaptive = sources("ifgsm"), sources("adaptive")
    assert len(paper) == len(adaptive) == len(CLASSES) - 1  # the positives
    assert all(len(paper[label]) == 2 and adaptive[label] == {min(paper[label])}
               for label in paper)


def test_chunk_must_be_positive(tmp_path, shapes_dataset):
    run_dir = untrained_run(tmp_path / "run", CLASSES)
    assert_one_line_error(invoke(run_dir, shapes_dataset, "--chunk", "0"), "--chunk 0")


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
    table = run_dir / "attacks" / "ifgsm.jsonl"
    first = table.read_text().splitlines()
    untrained_run(run_dir, CLASSES, ("direct",))
    assert invoke(*args, "--networks", "direct").exit_code == 0
    lines = table.read_text().splitlines()
    assert lines[: len(first)] == first  # the triple-staged records stay as they were
    assert {json.loads(line)["network"] for line in lines[len(first):]} == {"direct"}
    # Transfer on the triple-staged network alone needs the direct network's records only.
    shutil.rmtree(run_dir / "direct")
    result = invoke(*args, "--networks", "triple-staged", "--attack", "transfer")
    assert result.exit_code == 0, result.output
