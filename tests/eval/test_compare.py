"""`mindseye compare`: runs of one experiment with different seeds, side by side."""

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mindseye.attacks.experiments import record_table, run_attack
from mindseye.cli import main
from mindseye.core.errors import UserError
from mindseye.eval.compare import (
    compare_runs,
    comparison_markdown,
    finished_records,
    quantities,
)
from mindseye.eval.report import write_report
from tests.fixtures.environment import child_env
from tests.fixtures.reported import SETTINGS
from tests.fixtures.rng import isolated_rng
from tests.fixtures.runs import untrained_run
from tests.fixtures.synthetic_shapes import CLASSES, write_synthetic_dataset


@pytest.fixture(scope="module")
def seeded_runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("seeds")
    data = write_synthetic_dataset(root / "data", per_class=4, test_per_class=6)
    runs = []
    with isolated_rng(0):
        for seed in (0, 1, 2):
            run = untrained_run(root / f"run-{seed}", CLASSES, seed=seed)
            for attack in ("ifgsm", "pgd"):
                run_attack(run, data, attack, SETTINGS)
            write_report(run, data, run / "report", SETTINGS)
            runs.append(run)
    return {"data": data, "runs": runs, "root": root}


def test_each_quantity_is_summarised_across_the_seeds(seeded_runs):
    runs = seeded_runs["runs"]
    comparison = compare_runs(runs)
    assert comparison["seeds"] == [0, 1, 2]
    per_run = [quantities(json.loads((run / "report" / "metrics.json").read_text()))
               for run in runs]
    names = comparison["quantities"]
    assert any(name.startswith("clean error") for name in names)
    assert any(name.startswith("ifgsm success (%)") for name in names)
    assert any(name.startswith("PGD robust accuracy (%) @8") for name in names)
    for name, summary in names.items():
        assert summary["values"] == [run.get(name) for run in per_run]
        values = [run[name] for run in per_run if name in run]
        assert summary["runs"] == len(values)
        if len(values) < 3:
            continue
        assert summary["mean"] == pytest.approx(np.mean(values))
        assert summary["sd"] == pytest.approx(np.std(values, ddof=1))
        # Student's t with 2 degrees of freedom has a closed-form quantile, (2q - 1) /
        # sqrt(2q(1 - q)): 4.3027 standard errors either side at q = 0.975.
        t_975 = 0.95 / np.sqrt(2 * 0.975 * 0.025)
        half = t_975 * np.std(values, ddof=1) / np.sqrt(3)
        assert summary["ci"] == pytest.approx([np.mean(values) - half, np.mean(values) + half],
                                              rel=1e-9, abs=1e-9)
    # Untrained networks with different seeds decide differently somewhere.
    assert any(summary.get("sd", 0) > 0 for summary in names.values())
    for claim in comparison["claims"]:
        assert len(claim["holds"]) == 3


def test_the_command_writes_the_page_and_refuses_runs_of_other_experiments(seeded_runs, tmp_path):
    runs, out = seeded_runs["runs"], tmp_path / "compare"
    done = subprocess.run([sys.executable, "-m", "mindseye", "compare", *map(str, runs),
                           "--out", str(out)], capture_output=True, text=True, env=child_env())
    assert done.returncode == 0, done.stderr
    page = (out / "compare.md").read_text()
    assert "seed 0 | seed 1 | seed 2" in page and "holds in" in page
    # Every row of a table has its header's cells: no name spills into the next column.
    for table in page.split("\n\n"):
        rows = [line for line in table.splitlines() if line.startswith("|")]
        assert all(row.count("|") == rows[0].count("|") for row in rows), table
    assert json.loads((out / "compare.json").read_text())["seeds"] == [0, 1, 2]
    # A run of another preset is another experiment.
    other = untrained_run(tmp_path / "other", CLASSES, seed=3)
    for network in ("direct", "estimator"):
        config = json.loads((other / network / "config.json").read_text())
        (other / network / "config.json").write_text(json.dumps({**config, "preset": "medium"}))
    refused = subprocess.run([sys.executable, "-m", "mindseye", "compare", str(runs[0]),
                              str(other), "--out", str(out)], capture_output=True, text=True,
                             env=child_env())
    assert refused.returncode == 2
    assert "differ in preset" in refused.stderr and "Traceback" not in refused.stderr
    twice = subprocess.run([sys.executable, "-m", "mindseye", "compare", str(runs[0]),
                            str(runs[0]), "--out", str(out)], capture_output=True, text=True,
                           env=child_env())
    assert twice.returncode == 2 and "given twice" in twice.stderr
    missing = subprocess.run([sys.executable, "-m", "mindseye", "compare", str(runs[0]),
                              str(Path(seeded_runs["root"]) / "nowhere"), "--out", str(out)],
                             capture_output=True, text=True, env=child_env())
    assert missing.returncode == 2 and "not a trained run" in missing.stderr


@pytest.mark.parametrize(("file", "remedy"), [
    ("direct/config.json", "delete"),
    ("estimator/config.json", "delete"),
    ("report/metrics.json", "write it again with `mindseye eval"),
])
def test_a_corrupt_file_of_a_run_is_named_with_what_to_do(seeded_runs, tmp_path, file, remedy):
    first, second = seeded_runs["runs"][:2]
    broken = tmp_path / "broken"
    shutil.copytree(second, broken)
    (broken / file).write_text("{")
    with pytest.raises(UserError, match=f"{file} is not valid JSON; {remedy}") as raised:
        compare_runs([first, broken])
    assert str(broken) in str(raised.value)


def test_a_run_not_yet_attacked_is_named(seeded_runs, tmp_path):
    first, second = seeded_runs["runs"][:2]
    unattacked = tmp_path / "unattacked"
    shutil.copytree(second, unattacked, ignore=shutil.ignore_patterns("attacks"))
    with pytest.raises(UserError, match=f"^{unattacked}: not attacked yet"):
        compare_runs([first, unattacked])


def test_an_out_that_cannot_be_a_folder_is_refused_and_a_refusal_leaves_no_out(seeded_runs,
                                                                             tmp_path):
    runs = [str(run) for run in seeded_runs["runs"][:2]]
    a_file = tmp_path / "compare.md"
    a_file.write_text("")
    for out, words in ((a_file, "is a file"), (a_file / "out", "--out " + str(a_file / "out"))):
        result = CliRunner().invoke(main, ["compare", *runs, "--out", str(out)])
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert words in result.output
    refused = CliRunner().invoke(main, ["compare", runs[0], "--out", str(tmp_path / "new")])
    assert refused.exit_code == 2 and "at least two" in refused.output
    assert not (tmp_path / "new").exists()


def test_runs_of_two_training_recipes_are_laid_side_by_side(seeded_runs, tmp_path):
    # Seed 2's run, as an adversarially trained run's configs describe one (the recipe is read
    # from each network's config.json, as `mindseye train --adversarial` writes it).
    clean = seeded_runs["runs"][:2]
    trained = tmp_path / "fgsm-run"
    shutil.copytree(seeded_runs["runs"][2], trained)
    recipe = {"method": "fgsm", "epsilon": 8.0, "steps": 1, "step_size": 10.0}
    for config_path in trained.glob("*/config.json"):
        config = json.loads(config_path.read_text())
        if config["network"] != "projector":  # it never sees an image: trained as always
            config_path.write_text(json.dumps({**config, "adversarial": recipe}))
    comparison = compare_runs([*clean, trained])
    assert [r["recipe"] for r in comparison["recipes"]] == ["clean", "fgsm 8"]
    assert [r["seeds"] for r in comparison["recipes"]] == [[0, 1], [2]]
    assert "quantities" not in comparison  # no summary across recipes
    alone = quantities(json.loads((trained / "report" / "metrics.json").read_text()))
    adversarial = comparison["recipes"][1]["quantities"]
    assert {name: summary["values"] for name, summary in adversarial.items()} == {
        name: [value] for name, value in alone.items()}
    page = comparison_markdown(comparison)
    assert "| quantity | clean (seeds 0, 1) | fgsm 8 (seed 2) |" in page
    for table in page.split("\n\n"):
        rows = [line for line in table.splitlines() if line.startswith("|")]
        assert all(row.count("|") == rows[0].count("|") for row in rows), table
    # Within a recipe the seeds must differ; across recipes they may repeat.
    again = tmp_path / "fgsm-run-again"
    shutil.copytree(trained, again)
    with pytest.raises(UserError, match="fgsm 8 share a training seed"):
        compare_runs([*clean, trained, again])


def test_a_clean_and_a_trained_run_of_one_seed_are_paired_image_by_image(seeded_runs, tmp_path):
    # Seed 1's networks, described as an adversarially trained run of seed 0: two recipes of
    # one seed, attacked on the same test images, whose decisions differ image by image.
    clean = seeded_runs["runs"][0]
    trained = tmp_path / "fgsm-seed0"
    shutil.copytree(seeded_runs["runs"][1], trained)
    recipe = {"method": "fgsm", "epsilon": 8.0, "steps": 1, "step_size": 10.0}
    for config_path in trained.glob("*/config.json"):
        config = {**json.loads(config_path.read_text()), "seed": 0}
        if config["network"] != "projector":
            config["adversarial"] = recipe
        config_path.write_text(json.dumps(config))
    other_seed = seeded_runs["runs"][2]  # clean seed 2: no trained partner, nothing paired
    comparison = compare_runs([clean, trained, other_seed])
    (pairing,) = comparison["paired"]
    assert (pairing["seed"], pairing["recipe"]) == (0, "fgsm 8")

    def robust_by_source(run: Path, network: str, threshold: float | None) -> dict:
        # PGD's cells, broken too by a success of the paper's attack within 8 grey levels
        flipped = {r["source"] for r in record_table(run, "ifgsm").read()
                   if r["network"] == network and r["threshold"] == threshold
                   and r["status"] == "attacked" and r["success"] and r["linf"] <= 8}
        return {r["source"]: r["robust"] and r["source"] not in flipped
                for r in record_table(run, "pgd").read()
                if r["network"] == network and r["threshold"] == threshold
                and r["epsilon"] == 8}

    pairs = {(p["question"], p["first"]["setting"], p["first"]["recipe"],
              p["second"]["setting"], p["second"]["recipe"]): p for p in pairing["robustness"]}
    # Counted again from the raw PGD records: the clean direct network against the trained one,
    # and the clean triple-staged network @0.7 against the trained direct network.
    for key, first, second in (
            (("training", "direct", "clean", "direct", "fgsm 8"),
             robust_by_source(clean, "direct", None), robust_by_source(trained, "direct", None)),
            (("drawing instead of training", "direct", "fgsm 8", "triple-staged @0.7", "clean"),
             robust_by_source(trained, "direct", None),
             robust_by_source(clean, "triple-staged", 0.7))):
        (row,) = pairs[key]["rows"]
        assert (pairs[key]["attacks"], pairs[key]["targeted_attacks"]) == (["pgd"], ["ifgsm"])
        assert row["images"] == len(first) == len(second) > 0
        assert row["first_only"] == sum(first[s] and not second[s] for s in first)
        assert row["second_only"] == sum(second[s] and not first[s] for s in first)
        assert row["ci_low"] <= row["difference"] <= row["ci_high"]
    assert {key[0] for key in pairs} == {"training", "drawing", "drawing instead of training"}
    # The paper's attack pair by pair, on the pairs both runs attacked (an image one network
    # already misclassifies is not attacked there; eval.stats.paired_table is tested apart).
    def attacked(run: Path) -> set:
        return {(r["network"], r["threshold"], r["kind"], r["source"], r["target"])
                for r in record_table(run, "ifgsm").read() if r["status"] == "attacked"}

    paper = pairing["targeted"]["ifgsm"]
    assert sum(row["pairs"] for row in paper) == len(attacked(clean) & attacked(trained))
    page = comparison_markdown(comparison)
    assert "## Image by image: clean against fgsm 8, seed 0" in page
    for table in page.split("\n\n"):
        rows = [line for line in table.splitlines() if line.startswith("|")]
        assert all(row.count("|") == rows[0].count("|") for row in rows), table


def test_minimal_norm_distances_are_paired_across_networks(seeded_runs, tmp_path):
    # Copies (the module's runs stay as they are): seed 0 clean, seed 1's networks described
    # as seed 0 trained.
    clean, trained = tmp_path / "clean-seed0", tmp_path / "fgsm-seed0"
    shutil.copytree(seeded_runs["runs"][0], clean)
    shutil.copytree(seeded_runs["runs"][1], trained)
    for config_path in trained.glob("*/config.json"):
        config = {**json.loads(config_path.read_text()), "seed": 0}
        if config["network"] != "projector":
            config["adversarial"] = {"method": "fgsm", "epsilon": 8.0, "steps": 1,
                                     "step_size": 10.0}
        config_path.write_text(json.dumps(config))
    # FMN alone, small (no paper's attack to start from: from the sources only).
    small = replace(SETTINGS, extra_per_class=2, fmn_steps=10)
    with isolated_rng(0):
        for run in (clean, trained):
            shutil.rmtree(run / "attacks")
            run_attack(run, seeded_runs["data"], "fmn-l2", small)
    comparison = compare_runs([clean, trained])
    (pairing,) = comparison["paired"]
    across = {(p["question"], p["first"]["setting"], p["first"]["recipe"],
               p["second"]["setting"], p["second"]["recipe"]): p for p in pairing["minimal_norm"]}
    assert {key[0] for key in across} == {"drawing", "drawing instead of training"}
    # Counted again from the raw records, source and target pair by pair, for every pair of
    # settings and kind both attacked (untrained networks misclassify many sources).
    settings = {"direct": ("direct", None), "direct-param": ("direct-param", None),
                "triple-staged @0.2": ("triple-staged", 0.2),
                "triple-staged @0.7": ("triple-staged", 0.7)}
    runs = {"clean": clean, "fgsm 8": trained}

    def distances(side: dict, kind: str) -> dict:
        network, threshold = settings[side["setting"]]
        return {(r["source"], r["target"]): r["distortion"] if r["success"] else 1.0
                for r in record_table(runs[side["recipe"]], "fmn-l2").read()
                if r["network"] == network and r["threshold"] == threshold
                and r["status"] == "attacked" and r["kind"] == kind}

    checked = set()
    for pair in across.values():
        for row in pair["rows"]:
            first, second = (distances(pair[side], row["kind"]) for side in ("first", "second"))
            shared = sorted(first.keys() & second.keys())
            assert row["pairs"] == len(shared) > 0
            assert row["other_more"] == sum(second[key] > first[key] for key in shared)
            assert row["other_fewer"] == sum(second[key] < first[key] for key in shared)
            assert row["effort_difference"]["median"] == pytest.approx(
                np.median([second[key] - first[key] for key in shared]))
            checked.add(pair["question"])
    assert checked  # some pair of settings had pairs both attacked
    assert "Minimal-norm distances across networks" in comparison_markdown(comparison)


def test_a_comparison_leaves_out_what_a_runs_report_found_still_running(tmp_path) -> None:
    run = tmp_path / "run"
    (run / "report").mkdir(parents=True)
    (run / "report" / "metrics.json").write_text(json.dumps({
        "classes": [*CLASSES, "none"],
        "running": [{"attack": "fmn-linf", "network": "triple-staged", "none_sources": False,
                     "units_done": 1, "units_planned": 3}]}))
    none_label = len(CLASSES)
    rows = [{"unit": "some-unit", "network": network, "source_class": label, "source": number}
            for number, (network, label) in enumerate(
                [("triple-staged", 0), ("triple-staged", none_label), ("direct", 0)])]
    record_table(run, "fmn-linf").write_unit("some-unit", rows)
    record_table(run, "fmn-l2").write_unit("some-unit", rows)
    # fmn-linf's positives on triple-staged are running: its None sources and other networks stay
    assert [r["source"] for r in finished_records(run, "fmn-linf")] == [1, 2]
    assert [r["source"] for r in finished_records(run, "fmn-l2")] == [0, 1, 2]
