"""The report says what made it, and where its sizes cannot speak for the paper."""

import json
import shutil
import subprocess
from dataclasses import replace

import pytest

from mindseye.attacks.registry import attack_names, attack_specs
from mindseye.attacks.settings import ATTACK_PRESETS, RECORDED_SETTINGS, lock_settings
from mindseye.eval.markdown import (
    SETTING_WORDS,
    attack_settings_text,
    attacks_run_text,
    provenance_text,
)
from mindseye.eval.provenance import CODE_DIR, code_commit, provenance


def test_the_report_starts_with_what_made_it(reported):
    report = (reported["report"] / "report.md").read_text()
    metrics = json.loads((reported["report"] / "metrics.json").read_text())
    made = metrics["provenance"]
    assert made["training_presets"] == ["demo"] and not made["sizes_enough_for_verdicts"]
    recorded = json.loads((reported["run"] / "attacks" / "settings.json").read_text())
    assert made["attacks"] == {name: recorded[name] for name in RECORDED_SETTINGS}
    # And what the numbers were made on: the data's digest and every network's weights'.
    assert made["data_sha256"] == recorded["data"]
    assert made["weights_sha256"] == recorded["weights"]
    head = report[: report.index("## Table 1")]
    assert f"at {made['commit']}" in head
    # The attacks that ran, each with the test images per class it took.
    ran = {row["name"]: row["per_class"] for row in made["attacks_run"]}
    assert ran["ifgsm"] == recorded["per_class"]
    assert {name.partition("+")[0] for name in ran} <= set(attack_names())
    attacks_line = next(line for line in head.splitlines() if line.startswith("- attacks:"))
    assert attacks_line.startswith(f"- attacks: {attacks_run_text(made['attacks_run'])}; ")
    assert f"on {recorded['per_class']} test images per class" in attacks_line
    assert "not the paper" in head and "results/README.md" in head
    assert "check the pipeline, not the paper" in report[report.index("## What the numbers"):]


def test_the_attacks_line_groups_what_ran_by_its_images_per_class():
    # As the reviewer's suite ran: HopSkipJump on fewer images than the rest of its cascade.
    ran = [{"name": "ifgsm", "per_class": 50}, {"name": "pgd", "per_class": 25},
           {"name": "reviewer", "per_class": 25, "members": [
               {"name": "apgd-ce", "per_class": 25}, {"name": "square-5000", "per_class": 25},
               {"name": "hsj", "per_class": 10}]}]
    assert attacks_run_text(ran) == (
        "ifgsm on 50 test images per class; pgd, reviewer (apgd-ce, square-5000 on 25; hsj on "
        "10) on 25 test images per class")
    settings = {"pgd_iterations": 20, "square_queries": 300, "fmn_steps": 100,
                "hsj_iterations": 40, "hsj_evaluations": 1000, "gradient_precision": "bfloat16"}
    # Only the settings of attacks that ran, a cascade's members included.
    assert attack_settings_text(ran, settings) == (
        " (bfloat16 gradients of the triple-staged network, 20 PGD iterations, 40 HopSkipJump "
        "iterations, up to 1000 HopSkipJump probes per estimate)")
    assert attack_settings_text(ran[1:2], settings) == " (20 PGD iterations)"
    # Every setting an attack names is a lock setting the line has words for.
    named = {field for spec in attack_specs() for field in spec.settings}
    assert named and named <= set(SETTING_WORDS) <= set(RECORDED_SETTINGS)


def medium_trained_copy(run_dir, copy):
    """The demo run's networks, unattacked, with configs saying the medium preset trained them."""
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("attacks"))
    for config_path in copy.glob("*/config.json"):
        config = json.loads(config_path.read_text())
        config_path.write_text(json.dumps({**config, "preset": "medium"}))
    return copy


def test_medium_sizes_are_enough_and_carry_no_warning(reported, tmp_path):
    run = medium_trained_copy(reported["run"], tmp_path / "run")
    lock_settings(run, ATTACK_PRESETS["medium"])
    made = provenance(run, reported["data"])
    assert made["training_presets"] == ["medium"] and made["sizes_enough_for_verdicts"]
    assert not any("not the paper" in line for line in provenance_text(made))
    lock_settings(tmp_path / "small", ATTACK_PRESETS["demo"])  # medium networks, demo attacks
    shutil.copytree(run, tmp_path / "small", ignore=shutil.ignore_patterns("attacks"),
                    dirs_exist_ok=True)
    assert not provenance(tmp_path / "small", reported["data"])["sizes_enough_for_verdicts"]


def test_medium_networks_attacked_at_smaller_sizes_are_judged_at_those_sizes(reported, tmp_path):
    # As the photos seeds ran: medium training, 50 and 25 attacked images per class.
    run = medium_trained_copy(reported["run"], tmp_path / "run")
    lock_settings(run, replace(ATTACK_PRESETS["medium"], per_class=50, extra_per_class=25))
    made = provenance(run, reported["data"])
    assert made["trained_for_verdicts"] and not made["sizes_enough_for_verdicts"]
    assert made["sizes_short_of_preset"] == {
        "per_class": {"ran": 50, "preset": ATTACK_PRESETS["medium"].per_class},
        "extra_per_class": {"ran": 25, "preset": ATTACK_PRESETS["medium"].extra_per_class}}
    head = "\n".join(provenance_text(made))
    assert "not the paper" not in head and "below the medium preset's" in head
    assert ("the paper's attack and BPDA: 50 test images per class, the preset "
            f"{ATTACK_PRESETS['medium'].per_class}") in head


def test_an_adversarially_trained_run_says_its_recipe(reported, tmp_path):
    # As `mindseye train --adversarial fgsm --adv-epsilon 8` writes the configs: every network
    # that reads an image carries the recipe, the projector (which never does) none.
    run = tmp_path / "run"
    shutil.copytree(reported["run"], run, ignore=shutil.ignore_patterns("attacks"))
    assert provenance(run, reported["data"])["recipe"] == "clean"
    recipe = {"method": "fgsm", "epsilon": 8.0, "steps": 1, "step_size": 10.0}
    for config_path in run.glob("*/config.json"):
        config = json.loads(config_path.read_text())
        if config["network"] != "projector":
            config_path.write_text(json.dumps({**config, "adversarial": recipe}))
    made = provenance(run, reported["data"])
    assert made["recipe"] == "fgsm 8"
    assert "adversarial training fgsm 8" in provenance_text(made)[1]


def test_the_commit_is_this_checkouts(tmp_path):
    found = subprocess.run(["git", "-C", str(CODE_DIR), "rev-parse", "--short=12", "HEAD"],
                           capture_output=True, text=True)
    if found.returncode:
        pytest.skip("the code under test is not a git checkout")
    head = found.stdout.strip()
    assert code_commit().split()[0] == head
    assert code_commit(tmp_path).startswith("version ")  # not a git checkout


def test_records_written_under_results_are_not_code_changes(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t",
                        *args], check=True, capture_output=True)

    for name in ("eval", "attacks", "results"):
        (tmp_path / name).mkdir()
    (tmp_path / "eval" / "provenance.py").write_text("x = 1\n")
    (tmp_path / "attacks" / "pgd.py").write_text("x = 1\n")
    (tmp_path / "results" / "unit.json").write_text("{}\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    (tmp_path / "results" / "unit.json").write_text('{"count": 1}\n')  # a running attack's
    assert "+changes" not in code_commit(tmp_path / "eval")
    # Asked from the package's own folder, an edit anywhere else in the checkout still counts.
    (tmp_path / "attacks" / "pgd.py").write_text("x = 2\n")
    assert code_commit(tmp_path / "eval").endswith(" +changes")
