"""`mindseye train`: bad input gives one line on stderr and exit code 2; `all` trains everything."""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mindseye.cli import main


def _fails_cleanly(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(main, ["train", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], result.output


def test_missing_data_folder(tmp_path: Path) -> None:
    _fails_cleanly(["direct", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")],
                   "nowhere")


def test_foreign_data_folder(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    _fails_cleanly(["direct", str(tmp_path / "photos"), "--out", str(tmp_path / "run")],
                   "manifest.json")


@pytest.mark.parametrize(("option", "expected"), [
    (["--adversarial", "pgd"], "--adversarial pgd needs --adv-epsilon"),
    (["--adversarial", "pgd", "--adv-epsilon", "8", "--adv-steps", "0"], "--adv-steps 0"),
    (["--adversarial", "pgd", "--adv-epsilon", "8", "--adv-step-size", "0"], "--adv-step-size 0"),
    (["--adversarial", "fgsm", "--adv-epsilon", "8", "--adv-step-size", "-1"],
     "--adv-step-size -1"),
])
def test_bad_options_fail_before_the_data_is_read(tmp_path: Path, option: list,
                                                  expected: str) -> None:
    _fails_cleanly(["direct", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"),
                    *option], expected)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_a_seed_numpy_cannot_take_is_refused_by_click(tmp_path: Path, seed: str) -> None:
    result = CliRunner().invoke(main, ["train", "direct", str(tmp_path / "nowhere"), "--out",
                                       str(tmp_path / "run"), "--seed", seed])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"Invalid value for '--seed': {seed} is not in the range" in result.output


@pytest.mark.blender
def test_dataset_without_test_split(model_dataset: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(model_dataset, data)
    manifest = json.loads((data / "manifest.json").read_text())
    del manifest["splits"]["test"]
    (data / "manifest.json").write_text(json.dumps(manifest))
    _fails_cleanly(["direct", str(data), "--out", str(tmp_path / "run")], "no test split")


@pytest.mark.blender
@pytest.mark.parametrize(("option", "expected"), [
    (["--steps", "0"], "--steps 0"),
    (["--device", "tpu"], "--device 'tpu'"),
    (["--preset", "huge"], "--preset 'huge'"),
])
def test_bad_options(model_dataset: Path, tmp_path: Path, option: list, expected: str) -> None:
    _fails_cleanly(["direct", str(model_dataset), "--out", str(tmp_path), *option], expected)


@pytest.mark.blender
def test_unknown_network(model_dataset: Path, tmp_path: Path) -> None:
    _fails_cleanly(["resnet", str(model_dataset), "--out", str(tmp_path)], "'resnet'")


@pytest.mark.blender
@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")
def test_cuda_asked_for_but_absent(model_dataset: Path, tmp_path: Path) -> None:
    _fails_cleanly(["direct", str(model_dataset), "--out", str(tmp_path), "--device", "cuda"],
                   "--device cuda")


@pytest.mark.blender
def test_train_all_skips_what_is_complete(model_dataset: Path, tmp_path: Path) -> None:
    """A finished network is not trained again (its weights file is left untouched)."""
    args = ["direct", str(model_dataset), "--out", str(tmp_path), "--steps", "2",
            "--batch-size", "4", "--device", "cpu"]
    first = CliRunner().invoke(main, ["train", *args])
    assert first.exit_code == 0, first.output
    assert "direct: test error" in first.output
    weights = tmp_path / "direct" / "weights.pt"
    stamp = weights.stat().st_mtime_ns
    second = CliRunner().invoke(main, ["train", *args])
    assert second.exit_code == 0 and weights.stat().st_mtime_ns == stamp


@pytest.mark.blender
def test_train_all_trains_side_by_side_then_the_comparator(
    model_dataset: Path, tmp_path: Path
) -> None:
    args = ["train", "all", str(model_dataset), "--out", str(tmp_path), "--steps", "3",
            "--batch-size", "4", "--device", "cpu", "--processes", "2"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    networks = ("direct", "direct-param", "estimator", "projector", "comparator")
    summary = re.compile(r"([a-z-]+): (test error|mean abs|PSNR|AUC)")  # not progress bars
    finished = [match[1] for match in summary.finditer(result.output)]
    assert sorted(finished) == sorted(networks)
    assert finished[-1] == "comparator"  # it learns from the others' outputs
    for network in networks:
        metrics = (tmp_path / network / "metrics.jsonl").read_text().splitlines()
        assert (tmp_path / network / "weights.pt").is_file() and len(metrics) == 3
