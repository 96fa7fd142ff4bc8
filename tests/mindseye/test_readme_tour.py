"""The README's tour in order on a tiny run: the pipeline, then `mindseye attack` and `mindseye
eval` on the run it made, as a newcomer types them (no size options)."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from mindseye.attacks.experiments import record_table
from mindseye.attacks.ifgsm import ORIGINAL
from mindseye.attacks.settings import ATTACK_PRESETS
from mindseye.cli import main
from mindseye.pipeline import run_pipeline
from tests.fixtures.rendered import TINY


@pytest.mark.blender
def test_attack_and_eval_after_the_pipeline(rendered_dataset: Path, tmp_path: Path) -> None:
    data, run = tmp_path / "data", tmp_path / "run"
    shutil.copytree(rendered_dataset, data)
    sizes = {name: TINY[name] for name in ("per_class", "test_per_class", "shard_size")}
    # The pipeline as the README's first command runs it, on the tiny dataset (its render stage
    # finds it complete), networks trained for a few steps, attacks at the demo preset's sizes.
    # `--original` as the pipeline passes it, its 10000-step cap cut to 3 for the test.
    authors = replace(ORIGINAL, max_steps=3)
    report = run_pipeline("demo", run, data, attack_name="pgd", workers=1, seed=TINY["seed"],
                          device="cpu", render_sizes=sizes, train_steps=2, variants=(authors,))
    assert report.is_file()
    assert {r["max_steps"] for r in record_table(run, authors.table()).read()} == {3}

    def mindseye(*args: object):
        return CliRunner().invoke(main, [str(arg) for arg in args])

    result = mindseye("attack", run, data, "--attack", "ifgsm", "--device", "cpu")
    assert result.exit_code == 0, result.output
    records = record_table(run, "ifgsm").read()
    demo = ATTACK_PRESETS["demo"]
    assert records and {r["max_steps"] for r in records} == {demo.max_steps}
    assert len({r["source"] for r in records}) <= demo.per_class * 3
    # An option that contradicts the recorded sizes is refused in one line, naming both values.
    result = mindseye("attack", run, data, "--attack", "square", "--square-queries", "300")
    assert result.exit_code == 2 and "square_queries 25 -> 300" in result.output
    result = mindseye("eval", run, data, "--out", run / "report", "--device", "cpu")
    assert result.exit_code == 0, result.output
    text = (run / "report" / "report.md").read_text()
    assert "## Adversarial effort: ifgsm" in text
    assert f"## {authors.table()} against the paper's attack" in text
