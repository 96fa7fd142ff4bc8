"""The report's numbers are recomputations of the record tables, and its files are real."""

import json
import math
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from mindseye.attacks.experiments import run_attack
from mindseye.attacks.ifgsm import Variant
from mindseye.attacks.records import RecordTable
from mindseye.attacks.sources import load_test_images, load_victims, outputs_and_decisions
from mindseye.cli import main
from mindseye.eval.clip import clip_row
from mindseye.eval.figures import beside_paper_panels
from mindseye.eval.markdown import report_text
from mindseye.eval.report import reach_alike, write_report
from mindseye.eval.stats import (
    Z_95,
    effort_table,
    group,
    paired_table,
    transfer_table,
    wilson_interval,
)
from mindseye.models.triple_staged import decide
from tests.fixtures.reported import SETTINGS
from tests.fixtures.synthetic_shapes import CLASSES


def read_records(folder):
    return RecordTable(folder).read()


@pytest.mark.parametrize(("errors", "samples"), [(0, 10), (3, 40), (25, 25), (1, 10000)])
def test_wilson_bounds_solve_the_score_equation(errors, samples):
    low, high = wilson_interval(errors, samples)
    rate = errors / samples
    for bound in (low, high):
        if bound in (0.0, 1.0):
            continue  # clipped to the unit interval at the edges
        assert math.isclose((rate - bound) ** 2, Z_95**2 * bound * (1 - bound) / samples,
                            rel_tol=1e-6, abs_tol=1e-12)
    assert low <= rate <= high


def test_table1_equals_a_recomputation_from_the_clean_records(reported):
    metrics = json.loads((reported["report"] / "metrics.json").read_text())
    (clean_folder,) = (reported["report"] / "clean").iterdir()
    clean = read_records(clean_folder)
    rows = {(r["network"], r["threshold"]): r for r in metrics["table1"]}
    assert set(rows) == {("direct", None), ("direct-param", None), ("triple-staged", 0.2),
                         ("triple-staged", 0.7)}
    for (network, threshold), row in rows.items():
        mine = [r for r in clean if r["network"] == network and r["threshold"] == threshold]
        assert len(mine) == metrics["test_samples"] == row["samples"]
        errors = sum(r["decision"] != r["label"] for r in mine)
        assert row["errors"] == errors and row["error_rate"] == errors / len(mine)
        assert (row["ci_low"], row["ci_high"]) == wilson_interval(errors, len(mine))
        none_label = len(metrics["classes"]) - 1
        none = [r for r in mine if r["label"] == none_label]
        none_errors = sum(r["decision"] != none_label for r in none)
        assert (row["none_errors"], row["none_samples"]) == (none_errors, len(none)) != (0, 0)
        assert (row["positive_errors"], row["positive_samples"]) == (
            errors - none_errors, len(mine) - len(none))
        assert (row["none_ci_low"], row["none_ci_high"]) == wilson_interval(none_errors, len(none))
        matrix = np.array(metrics["confusion"][network if threshold is None
                                               else f"{network} @{threshold:g}"])
        assert matrix.sum() == len(mine) and matrix.trace() == len(mine) - errors
    report = (reported["report"] / "report.md").read_text()
    assert "1.34%" in report and "3.09%" in report  # the paper's numbers beside ours


def test_recorded_ratios_give_the_recorded_decisions(reported):
    (clean_folder,) = (reported["report"] / "clean").iterdir()
    clean = read_records(clean_folder)
    triple = [r for r in clean if r["network"] == "triple-staged"]
    assert triple and all(len(r["ratios"]) == len(CLASSES) - 1 for r in triple)
    for r in triple:
        # float32 ratios are exact in JSON's doubles, so ties and borderline cases come back too
        ratios = torch.tensor([r["ratios"]], dtype=torch.float32)
        assert decide(ratios, r["threshold"]).item() == r["decision"]
    metrics = json.loads((reported["report"] / "metrics.json").read_text())
    lowest_own = min(r["ratios"][r["label"]] for r in triple if r["label"] < len(CLASSES) - 1)
    assert metrics["ratio_margins"]["own_ratio"]["min"] == lowest_own
    assert "clean_ratios.png" in metrics["figures"]


def test_effort_and_robust_accuracy_equal_recomputations(reported):
    metrics = json.loads((reported["report"] / "metrics.json").read_text())
    ifgsm = read_records(reported["run"] / "attacks" / "ifgsm")
    # A finished run is not "still running" anywhere, whatever sizes the report was asked for:
    # every network's records are in the tables.
    assert metrics["running"] == []
    assert {row["network"] for row in metrics["effort"]["ifgsm"]} == {r["network"] for r in ifgsm}
    for row in metrics["effort"]["ifgsm"]:
        mine = [r for r in ifgsm if (r["network"], r["threshold"], r["kind"])
                == (row["network"], row["threshold"], row["kind"])]
        attacked = [r for r in mine if r["status"] == "attacked"]
        flipped = [r for r in attacked if r["success"]]
        assert (row["attacked"], row["succeeded"], row["capped"]) == (
            len(attacked), len(flipped), len(attacked) - len(flipped))
        if flipped:
            assert row["steps"]["median"] == np.median([r["steps"] for r in flipped])
    pgd = read_records(reported["run"] / "attacks" / "pgd")
    for row in metrics["robust_accuracy"]["pgd"]:
        mine = [r for r in pgd if (r["network"], r["threshold"]) ==
                (row["network"], row["threshold"])]
        assert row["robust_accuracy"] == np.mean([r["robust"] for r in mine])
        none_label = len(metrics["classes"]) - 1
        nones = [r for r in mine if r["source_class"] == none_label]
        assert 0 < len(nones) < len(mine)
        assert (row["none_robust"], row["none_samples"]) == (
            sum(r["robust"] for r in nones), len(nones))
        assert row["positive_robust"] + row["none_robust"] == sum(r["robust"] for r in mine)


def test_figures_exist_and_are_not_empty(reported):
    metrics = json.loads((reported["report"] / "metrics.json").read_text())
    names = metrics["figures"]
    assert "confusion.png" in names and "robust_accuracy.png" in names
    assert "fig4_false_positives.png" in names and "fig6_false_negatives.png" in names
    for name in names:
        with Image.open(reported["report"] / name) as image:
            pixels = np.asarray(image.convert("L"))
        assert pixels.size > 100_000 and pixels.std() > 5  # drawn on, not a blank canvas
    for name in names:
        assert f"`{name}`" in (reported["report"] / "report.md").read_text() or name.startswith(
            ("fig4", "fig6", "fig5"))


def test_claims_are_verdicts_on_the_measured_numbers(reported):
    metrics = json.loads((reported["report"] / "metrics.json").read_text())
    rows = {(r["network"], r["threshold"]): r["error_rate"] for r in metrics["table1"]}
    first = metrics["claims"][0]
    assert first["claim"].startswith("The direct networks have the lowest")
    direct = max(rows[("direct", None)], rows[("direct-param", None)])
    triple = min(rows[("triple-staged", 0.2)], rows[("triple-staged", 0.7)])
    assert first["holds"] == (direct <= triple)


def test_eval_command_writes_the_report_again(reported, tmp_path):
    result = CliRunner().invoke(main, ["eval", str(reported["run"]), str(reported["data"]),
                                       "--out", str(tmp_path), "--thresholds", "0.2,0.7"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.md").is_file() and (tmp_path / "metrics.json").is_file()
    assert json.loads((tmp_path / "metrics.json").read_text())["table1"] == json.loads(
        (reported["report"] / "metrics.json").read_text())["table1"]


@pytest.mark.parametrize("args", [["--thresholds", "1.2"], ["--thresholds", "0"]])
def test_eval_rejects_thresholds_outside_zero_one(reported, tmp_path, args):
    result = CliRunner().invoke(main, ["eval", str(reported["run"]), str(reported["data"]),
                                       "--out", str(tmp_path), *args])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


def test_eval_rejects_a_run_missing_a_network(reported, tmp_path):
    from tests.fixtures.runs import untrained_run
    from tests.fixtures.synthetic_shapes import CLASSES

    run = untrained_run(tmp_path / "run", CLASSES, ("direct", "direct-param", "estimator"))
    result = CliRunner().invoke(main, ["eval", str(run), str(reported["data"]),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "projector" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("network", ["direct", "comparator"])
def test_eval_on_weights_cut_short_is_one_line_naming_the_file(reported, tmp_path, network):
    """A copy of the run interrupted halfway: no traceback, the file and what to do."""
    run = tmp_path / "run"
    shutil.copytree(reported["run"], run, ignore=shutil.ignore_patterns("attacks"))
    weights = run / network / "weights.pt"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    result = CliRunner().invoke(main, ["eval", str(run), str(reported["data"]),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert str(weights) in lines[0] and f"mindseye train {network}" in lines[0]


def test_table1_without_the_clip_is_the_unclipped_networks(reported):
    metrics = json.loads((reported["report"] / "metrics.json").read_text())
    unclipped = metrics["table1_unclipped"]
    classes, test = load_test_images(reported["data"])
    decisions = {}
    for clip in ("hard", "none"):
        (victim,) = load_victims(reported["run"], classes, SETTINGS, ("triple-staged",), clip=clip)
        decisions[clip] = outputs_and_decisions(victim, test["image"], 64)[1]
    for column, threshold in enumerate(SETTINGS.thresholds):
        (row,) = [r for r in unclipped["rows"] if r["threshold"] == threshold]
        none = decisions["none"][:, column]
        assert row["network"] == "triple-staged-unclipped"
        assert row["samples"] == len(test["label"])
        assert row["errors"] == int((none != test["label"]).sum())
        assert unclipped["changed"][str(threshold)] == int(
            (none != decisions["hard"][:, column]).sum())
    report = (reported["report"] / "report.md").read_text()
    assert "The triple-staged network without the estimator's clip" in report


def test_report_text_shows_the_clip_paired_and_transfer_sections(reported):
    metrics = json.loads((reported["report"] / "metrics.json").read_text())
    made = {"network": "triple-staged", "threshold": 0.7, "kind": "false-positive",
            "status": "attacked", "source": 3, "target": 1, "max_steps": 100}
    paper = [{**made, "steps": 40, "success": True, "distortion": 0.2, "clipped_steps": 3}]
    bpda = [{**made, "steps": 30, "success": True, "distortion": 0.1, "clipped_steps": 2}]
    shown = {"origin": "direct", "network": "triple-staged", "threshold": 0.7,
             "kind": "false-positive", "fooled": False, "still_correct": True}
    metrics.update({
        "clip": [clip_row("ifgsm", 0.7, "false-positive", np.array([True, False]),
                          np.array([False, False]))],
        "paired": {"ifgsm-bpda": paired_table(paper, bpda)},
        "transfer": transfer_table([shown, {**shown, "fooled": True, "still_correct": False},
                                    *[{**shown, "origin": "triple-staged", "network": "direct",
                                       "threshold": None, "origin_attack": "ifgsm",
                                       "origin_threshold": 0.45, "fooled": fooled}
                                      for fooled in (True, False, False, False)]]),
    })
    # A minimal-norm attack's steps are fixed: the report shows none, and pairs by distortion.
    fmn = [{**made, "steps": 100, "success": True, "distortion": 0.15, "linf": 0.05,
            "ssim": 0.9}]
    assert "none_to_class" not in report_text(metrics)
    # FMN also took a None image towards a class: its own row, left out of the pairing with
    # the paper's attack (which never attacks None images), and its figure in the caption.
    none = {**fmn[0], "kind": "none-to-class", "source": 9, "source_class": 3,
            "distortion": 0.07}
    metrics["effort"]["fmn-l2"] = effort_table([*fmn, none])
    metrics["paired"]["fmn-l2"] = paired_table(paper, [*fmn, none], by="distortion")
    text = report_text(metrics)
    assert "| triple-staged @0.7 | none-to-class | 1 | 0 | 1 | - | - | 0.07 (0.07-0.07) |" in text
    assert "`none_to_class*.png` (None images made a class)" in text
    assert [row["kind"] for row in metrics["paired"]["fmn-l2"]] == ["false-positive"]
    assert "| triple-staged @0.7 | false-positive | 1 | 0 | 1 | - | - | 0.15 (0.15-0.15) |" in text
    assert "| 1 | 100.00% / 100.00% | 40 / - | 0.2 / 0.15 | 1 / 0 / 0 (1) | -0.05 |" in text
    assert "| ifgsm | @0.7 | false-positive | 2 | 50.00% [" in text
    assert "| triple-staged @0.7 | false-positive | 1 | 100.00% / 100.00% | 40 / 30 |" in text
    # BPDA needed fewer steps on the one pair (30 - 40); the paper's path met the clip.
    assert "| 1 / 0 / 0 (1) | -10 | 1 of 1 | 0 |" in text
    assert "| direct | triple-staged @0.7 | false-positive | 2 | 50.00% [" in text
    assert "## Did the false positive become the target?" in text
    assert "| ifgsm @0.45 | direct | 4 | 25.00% [" in text
    assert "is called its target: @0.45 direct 25.00% [" in text
    pgd = next(r for r in metrics["robust_accuracy"]["pgd"] if r["network"] == "direct")
    assert (f"| direct | {100 * pgd['robust_accuracy']:.2f}% [{100 * pgd['ci_low']:.1f}-"
            f"{100 * pgd['ci_high']:.1f}] |") in text
    assert (f"| direct | none | {pgd['none_robust']} of {pgd['none_samples']} |") in text


def test_a_variant_of_the_paper_attack_is_reported_beside_it(reported, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reported["run"], run)
    variant = Variant(stop_at="any-other", loss="euclidean")
    run_attack(run, reported["data"], "ifgsm", SETTINGS, variant=variant)
    unclipped = Variant(clip="none")
    run_attack(run, reported["data"], "ifgsm", SETTINGS, variant=unclipped,
               networks=("triple-staged",))
    metrics = write_report(run, reported["data"], tmp_path / "report", SETTINGS)
    # Without the clip the attack met another network than the triple-staged one: its
    # successes break none of that network's cells.
    assert metrics["worst_case_attacks"]["targeted"] == ["ifgsm", variant.table()]
    assert RecordTable(run / "attacks" / unclipped.table()).read()
    name = variant.table()
    records = RecordTable(run / "attacks" / name).read()
    assert records and name in metrics["effort"] and name in metrics["paired"]
    pairs = sum(row["pairs"] for row in metrics["paired"][name])
    assert pairs == sum(r["status"] == "attacked" for r in records)
    report = (tmp_path / "report" / "report.md").read_text()
    assert f"## Adversarial effort: {name}" in report
    assert f"## {name} against the paper's attack" in report
    assert any(figure.endswith(f"_{name}.png") for figure in metrics["figures"])


def test_the_worst_case_over_the_budgeted_attacks_is_reported(reported, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reported["run"], run)
    run_attack(run, reported["data"], "apgd-ce", SETTINGS)
    run_attack(run, reported["data"], "fmn-linf", SETTINGS, networks=("direct",))
    metrics = write_report(run, reported["data"], tmp_path / "report", SETTINGS)
    curves = metrics["robust_accuracy"]
    assert {"pgd", "apgd-ce", "worst-case"} <= set(curves)
    worst = {(r["network"], r["threshold"], r["epsilon"]): r for r in curves["worst-case"]}
    for attack in ("pgd", "apgd-ce"):
        for row in curves[attack]:
            key = (row["network"], row["threshold"], row["epsilon"])
            assert worst[key]["robust_accuracy"] <= row["robust_accuracy"]
    # Recounted image by image: robust where both budgeted attacks left it robust and no
    # targeted attack found a target within the budget (by L-inf) at that threshold (here
    # none does: tests/eval/test_stats.py has the cells a targeted success breaks).
    nearest = {}
    for r in read_records(run / "attacks" / "ifgsm") + read_records(run / "attacks" / "fmn-linf"):
        if r["status"] == "attacked" and r["success"]:
            key = (r["network"], r["threshold"], r["source"])
            nearest[key] = min(nearest.get(key, math.inf), r["linf"])
    robust = {}
    for attack in ("pgd", "apgd-ce"):
        for r in read_records(run / "attacks" / attack):
            key = (r["network"], r["threshold"], r["epsilon"], r["source"])
            robust[key] = robust.get(key, True) and r["robust"] and nearest.get(
                (r["network"], r["threshold"], r["source"]), math.inf) > r["epsilon"]
    by_setting = group([{"key": key, "robust": value} for key, value in robust.items()],
                       lambda row: row["key"][:3])
    assert {key: sum(row["robust"] for row in rows) for key, rows in by_setting.items()} == {
        key: round(row["robust_accuracy"] * row["samples"]) for key, row in worst.items()}
    # FMN ran on one network: its records there count, and the caption names what counted
    assert metrics["worst_case_attacks"] == {"budgeted": ["apgd-ce", "pgd"],
                                             "targeted": ["fmn-linf", "ifgsm"]}
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Robust accuracy against L-inf budget: worst-case" in text
    assert ("budgeted attacks and cascades apgd-ce, pgd; targeted attacks fmn-linf, ifgsm"
            in text)


def test_out_of_reach_counts_no_source_the_paper_attack_reached_within_the_budget(reported):
    metrics = json.loads((reported["report"] / "metrics.json").read_text())
    assert ("## Out of reach of an L-inf budget, one direction at a time"
            in (reported["report"] / "report.md").read_text())
    rows = metrics["within_reach"]
    assert {r["kind"] for r in rows} == {"false-positive", "false-negative"}
    ifgsm = read_records(reported["run"] / "attacks" / "ifgsm")
    for row in rows:
        mine = [r for r in ifgsm if r["status"] == "attacked" and (
            r["network"], r["threshold"], r["kind"]) == (row["network"], row["threshold"],
                                                        row["kind"])]
        # Every targeted attack here took the same sources as the paper's.
        assert row["sources"] == len({r["source"] for r in mine}) > 0
        reached = {r["source"] for r in mine if r["success"] and r["linf"] <= row["epsilon"]}
        assert row["out_of_reach"] <= row["sources"] - len(reached)
        assert "ifgsm" in row["attacks"] and "pgd" in row["attacks"]
    # A larger budget never puts more out of reach.
    for key, items in group(rows, lambda r: (r["network"], r["threshold"], r["kind"])).items():
        counts = [r["out_of_reach"] for r in sorted(items, key=lambda r: r["epsilon"])]
        assert counts == sorted(counts, reverse=True), key


def test_within_reach_counts_only_attacks_that_ran_alike_on_every_network():
    def targeted(network, threshold, source, success, linf):
        return {"network": network, "threshold": threshold, "kind": "false-positive",
                "status": "attacked", "source": source, "source_class": 0, "target": 1,
                "success": success, "linf": linf}

    settings = [("direct", None), ("triple-staged", 0.7)]
    far = {"ifgsm": [targeted(n, t, s, True, 30.0) for n, t in settings for s in (0, 1)]}
    tables = {
        **far,
        # FMN on the direct network alone would make the triple-staged one look the stronger
        "fmn-linf": [targeted("direct", None, s, True, 2.0) for s in (0, 1)],
        # BPDA applies to the triple-staged network alone: it counts there
        "ifgsm-bpda": [targeted("triple-staged", 0.7, 0, True, 3.0),
                       targeted("triple-staged", 0.7, 1, False, 0.0)],
        # without the clip, another network than the triple-staged one: left out
        "ifgsm+clip-none": [targeted(n, t, s, True, 1.0) for n, t in settings for s in (0, 1)],
    }
    square = [{"network": n, "threshold": t, "epsilon": 4.0, "source": 0, "source_class": 0,
               "robust": True, "decision": 0, "linf": 4.0} for n, t in settings]
    reach = reach_alike(tables, {"square-5000": square}, none_label=3)
    direct = reach[("direct", None, "false-positive")]
    triple = reach[("triple-staged", 0.7, "false-positive")]
    assert direct["attacks"] == ["ifgsm", "square-5000"]
    assert triple["attacks"] == ["ifgsm", "ifgsm-bpda", "square-5000"]
    # Square took source 0 alone (what the gradient attacks left): it narrows nothing.
    assert direct["closest"] == {0: 30.0, 1: 30.0} and triple["closest"] == {0: 3.0, 1: 30.0}
    # An attack still running at one threshold (the adaptive attack's @0.7 units, say) would
    # make that threshold look the stronger: it counts nowhere until it ran on as many images.
    running = {**tables, "adaptive": [targeted(n, t, s, True, 1.0) for n, t in settings
                                      for s in (0, 1)][:-1]}
    assert reach_alike(running, {}, none_label=3)[("direct", None, "false-positive")][
        "attacks"] == ["ifgsm"]
    # So would a budgeted attack that has reached some budgets of a threshold and not others.
    pgd = [{**square[0], "network": n, "threshold": t, "epsilon": e, "robust": False,
            "decision": 2, "linf": e, "clean_decision": 0} for n, t in settings for e in (4.0, 8.0)]
    assert "pgd" in reach_alike(tables, {"pgd": pgd}, none_label=3)[
        ("direct", None, "false-positive")]["attacks"]
    assert "pgd" not in reach_alike(tables, {"pgd": pgd[:-1]}, none_label=3)[
        ("direct", None, "false-positive")]["attacks"]


def test_minimal_distances_are_drawn_beside_the_paper_attack(reported, tmp_path):
    assert not [name for name in json.loads((reported["report"] / "metrics.json").read_text())[
        "figures"] if name.endswith("_minimal.png")]  # no minimal-norm attack ran there
    run = tmp_path / "run"
    shutil.copytree(reported["run"], run, ignore=shutil.ignore_patterns("attacks"))
    settings = replace(SETTINGS, fmn_steps=4)  # a fresh attacks folder: its own settings
    for attack in ("ifgsm", "fmn-l2", "fmn-linf"):
        run_attack(run, reported["data"], attack, settings)
    metrics = write_report(run, reported["data"], tmp_path / "report", settings)
    assert "fig4_false_positives_minimal.png" in metrics["figures"]
    assert "`*_minimal.png`" in (tmp_path / "report" / "report.md").read_text()
    with Image.open(tmp_path / "report" / "fig4_false_positives_minimal.png") as image:
        assert np.asarray(image.convert("L")).std() > 5
    # Each panel's boxes are the flipped pairs' own values, setting by setting.
    kind = "false-positive"
    paper = [r for r in read_records(run / "attacks" / "ifgsm") if r["kind"] == kind]
    minimal = {name: [r for r in read_records(run / "attacks" / name) if r["kind"] == kind]
               for name in ("fmn-l2", "fmn-linf")}
    keys, panels = beside_paper_panels(paper, minimal)
    assert [title.split(":")[0] for title, _ in panels] == ["paper's attack", "fmn-l2",
                                                             "fmn-linf"]
    for (_, values), (records, field) in zip(
            panels, [(paper, "steps"), (minimal["fmn-l2"], "distortion"),
                     (minimal["fmn-linf"], "linf")], strict=True):
        for key, box in zip(keys, values, strict=True):
            flipped = [r[field] for r in records if r["status"] == "attacked" and r["success"]
                       and (r["network"], r["threshold"]) == key]
            assert sorted(box.tolist()) == sorted(flipped)
    assert sum(len(box) for box in panels[1][1]) > 0
    # The networks' distances, pair by pair: one row recounted from the records.
    row = next(r for r in metrics["network_ratios"]["fmn-l2"]
               if (r["kind"], r["threshold"], r["direct"]) == ("false-positive", 0.2, "direct"))
    pairs = {(r["network"], r["source"], r["target"]): r for r in minimal["fmn-l2"]
             if r["status"] == "attacked" and r["threshold"] in (0.2, None)}
    shared = [(pairs[("triple-staged", s, t)], r) for (n, s, t), r in pairs.items()
              if n == "direct" and ("triple-staged", s, t) in pairs]
    assert row["pairs"] == len(shared) > 0
    far = [(a["distortion"] if a["success"] else 1.0) > (b["distortion"] if b["success"] else 1.0)
           for a, b in shared]
    assert row["larger"] == sum(far)
    assert "fmn-l2: the triple-staged network's minimal L2 distortion over the direct" in (
        tmp_path / "report" / "report.md").read_text()
