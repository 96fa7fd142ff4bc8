"""eval.stats on hand-made records, where the right answer can be worked out by hand."""

import math

import numpy as np
import torch

from mindseye.eval.stats import (
    cascade_summary,
    closest_by_source,
    masking_cases,
    masking_checked,
    median_interval,
    network_ratio_table,
    paired_difference_interval,
    paired_robustness,
    paired_table,
    paired_within_reach,
    ratio_margins,
    transfer_table,
    unit_costs,
    wilson_interval,
    within_reach,
    worst_case_records,
)
from mindseye.models.triple_staged import decide


def record(source: int, steps: int, success: bool, distortion: float, **fields) -> dict:
    return {"network": "triple-staged", "threshold": 0.7, "kind": "false-positive",
            "status": "attacked", "source": source, "target": 1, "steps": steps,
            "success": success, "distortion": distortion, "max_steps": 100, **fields}


def test_paired_table_compares_only_the_pairs_both_attacks_ran():
    plain = [record(0, 10, True, 0.1), record(1, 40, True, 0.3), record(2, 100, False, 0.5),
             record(3, 5, True, 0.05)]  # source 3 is not in the other attack: left out
    other = [record(0, 4, True, 0.2), record(1, 50, True, 0.2), record(2, 70, True, 0.4),
             {**record(9, 1, True, 0.0), "status": "misclassified"}]
    (row,) = paired_table(plain, other)
    assert (row["network"], row["threshold"], row["kind"], row["pairs"]) == (
        "triple-staged", 0.7, "false-positive", 3)
    assert row["plain_success"] == 2 / 3 and row["other_success"] == 1.0
    assert row["both_succeeded"] == 2
    assert row["plain_steps"]["median"] == 25 and row["other_steps"]["median"] == 27
    assert row["plain_distortion"]["median"] == 0.2 and row["other_distortion"]["median"] == 0.2
    # Fewer steps on source 0 (4 < 10) and source 2 (70 < a failure); more on source 1.
    assert row["other_fewer_steps"] == 2 / 3
    assert (row["other_fewer"], row["same_effort"], row["other_more"]) == (2, 0, 1)
    assert row["effort_difference"]["median"] == -6  # of -6, +10 and 70 - 101
    assert row["sign_test_p"] == 1.0  # 2 against 1 says nothing
    assert (row["plain_clip_met"], row["plain_clip_counted"], row["copied"]) == (0, 0, 0)


def test_paired_table_sign_test_leaves_ties_out():
    plain = [record(source, 20, True, 0.1) for source in range(14)]
    other = ([record(source, 15, True, 0.1) for source in range(10)]  # fewer on 10 pairs
             + [record(source, 20, True, 0.1) for source in range(10, 14)])  # 4 ties
    (row,) = paired_table(plain, other)
    assert (row["other_fewer"], row["same_effort"], row["other_more"]) == (10, 4, 0)
    assert row["sign_test_p"] == 2 * 0.5**10
    assert row["effort_difference"]["median"] == -5
    assert row["effort_difference"]["median_ci"] == (-5, 0)  # ranks 3 and 12 of 14


def test_paired_table_counts_clipped_paths_and_copies():
    plain = [record(0, 10, True, 0.1, clipped_steps=0), record(1, 40, True, 0.3, clipped_steps=7),
             record(2, 9, True, 0.1)]  # recorded before the clip was counted
    other = [record(0, 10, True, 0.1, clipped_steps=0, copied_from="ifgsm"),
             record(1, 30, True, 0.3, clipped_steps=5), record(2, 9, True, 0.1)]
    (row,) = paired_table(plain, other)
    assert (row["plain_clip_met"], row["plain_clip_counted"], row["copied"]) == (1, 2, 1)


def test_paired_table_keeps_settings_apart():
    plain = [record(0, 10, True, 0.1), record(0, 3, True, 0.1, kind="false-negative")]
    other = [record(0, 12, True, 0.1), record(0, 2, True, 0.1, kind="false-negative")]
    rows = {row["kind"]: row for row in paired_table(plain, other)}
    assert rows["false-positive"]["other_fewer_steps"] == 0.0
    assert rows["false-negative"]["other_fewer_steps"] == 1.0


def clean_record(source: int, label: int, ratios: list[float], threshold: float) -> dict:
    return {"network": "triple-staged", "threshold": threshold, "source": source, "label": label,
            "decision": -1, "ratios": ratios}


def test_ratio_margins_find_the_error_free_thresholds():
    images = [(0, [0.9, 0.3]), (1, [0.2, 0.6]), (2, [0.35, 0.1])]  # labels 0, 1 and None (2)
    clean = [clean_record(source, label, ratios, threshold) for threshold in (0.2, 0.7)
             for source, (label, ratios) in enumerate(images)]
    margins = ratio_margins(clean)
    assert margins["own_ratio"]["min"] == 0.6 and margins["best_other_ratio"]["max"] == 0.3
    assert margins["none_best_ratio"]["max"] == 0.35
    # Above the None image's 0.35 and up to the penguin's own 0.6, nothing errs.
    assert margins["error_free_thresholds"] == [0.35, 0.6]
    clean.append(clean_record(3, 2, [0.1, 0.65], 0.2))  # a None image above the lowest own ratio
    assert ratio_margins(clean)["error_free_thresholds"] is None


def test_a_wrong_class_below_the_own_class_does_not_narrow_the_error_free_range():
    images = [(0, [0.9, 0.7]), (1, [0.2, 0.6]), (2, [0.3, 0.1])]
    clean = [clean_record(source, label, ratios, 0.45)
             for source, (label, ratios) in enumerate(images)]
    low, high = ratio_margins(clean)["error_free_thresholds"]
    assert (low, high) == (0.3, 0.6)
    ratios = torch.tensor([r for _, r in images])
    labels = torch.tensor([label for label, _ in images])
    for threshold in (0.31, 0.45, 0.6):  # low < t <= high: no error
        assert (decide(ratios, threshold) == labels).all()
    for threshold in (0.3, 0.61):
        assert not (decide(ratios, threshold) == labels).all()


def test_ratio_margins_need_triple_staged_records():
    assert ratio_margins([{"network": "direct", "threshold": None, "source": 0, "label": 0,
                           "decision": 0}]) is None


def test_median_interval_covers_the_median_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    for size in (15, 200):
        covered = [low <= 0 <= high for low, high in
                   (median_interval(rng.standard_normal(size)) for _ in range(2000))]
        assert 0.94 <= np.mean(covered) <= 0.98  # at least 95%, by whole ranks
    assert median_interval([5.0, 1.0, 3.0, 2.0, 4.0]) is None  # no 95% interval from 5 values
    assert median_interval([6.0, 1.0, 3.0, 2.0, 4.0, 5.0]) == (1.0, 6.0)  # 96.9% from 6


def test_transfer_table_counts_with_intervals():
    made = {"origin": "direct", "network": "triple-staged", "threshold": 0.45,
            "kind": "false-positive"}
    records = [{**made, "fooled": fooled, "still_correct": correct}
               for fooled, correct in ((True, False), (False, True), (False, True), (False, False))]
    (row,) = transfer_table(records)
    assert (row["adversarials"], row["fooled"], row["still_correct"]) == (4, 1, 2)
    assert row["fooled_rate"] == 0.25 and row["still_correct_rate"] == 0.5
    assert tuple(row["fooled_ci"]) == wilson_interval(1, 4)


def test_masking_cases_are_images_only_a_gradient_free_attack_broke():
    def record(source, epsilon, robust, clean=0):
        return {"network": "triple-staged", "threshold": 0.45, "epsilon": epsilon,
                "source": source, "source_class": 0, "clean_decision": clean,
                "decision": 0 if robust else 3, "robust": robust, "linf": epsilon}

    gradient = {"pgd": [record(1, 8, True), record(2, 8, False), record(3, 8, True),
                        record(5, 8, True)],
                "apgd-ce": [record(1, 8, True), record(2, 8, True), record(3, 8, False)]}
    free = {"hsj": [record(1, 8, False), record(2, 8, False), record(3, 8, False),
                    record(4, 8, False, clean=3), record(5, 8, True)]}
    (case,) = masking_cases(gradient, free)
    assert (case["attack"], case["source"], case["epsilon"]) == ("hsj", 1, 8)
    # what it looked through: the images every gradient attack left robust (1 and 5)
    assert masking_checked(gradient, free) == 2


def test_a_cascade_counts_the_cells_its_gradient_free_members_looked_through():
    def row(member, source, wrong, threshold=0.7, epsilon=None, linf=0.0):
        return {"unit": f"{member}-u", "member": member, "network": "triple-staged",
                "attacked_threshold": threshold, "attacked_epsilon": epsilon,
                "source": source, "source_class": 0, "thresholds": [0.7],
                "decisions": [3 if wrong else 0], "wrong": wrong, "linf": linf, "l2": linf}

    # Source 0 survives Auto-PGD at both budgets and HopSkipJump (one run, every budget)
    # breaks it within 8 only; source 1 falls to Auto-PGD at 8; source 2 is never attacked by
    # a gradient-free member.
    records = [row("clean", 0, False), row("clean", 1, False), row("clean", 2, False),
               row("apgd-ce", 0, False, epsilon=4.0), row("apgd-ce", 1, False, epsilon=4.0),
               row("apgd-ce", 2, False, epsilon=4.0), row("apgd-ce", 0, False, epsilon=8.0),
               row("apgd-ce", 1, True, epsilon=8.0, linf=8.0),
               row("apgd-ce", 2, False, epsilon=8.0),
               row("hsj", 0, True, linf=6.0), row("hsj", 1, False)]
    summary = cascade_summary(records, {}, ("apgd-ce", "hsj"),
                              {"apgd-ce": True, "hsj": False}, (4.0, 8.0), none_label=3)
    # looked at: source 0 at 4 and 8, source 1 at 4; broken by HopSkipJump: source 0 at 8
    assert summary["masking_checked"] == 3
    assert [(c["source"], c["epsilon"]) for c in summary["masking"]] == [(0, 8.0)]


def test_a_cascade_counts_a_cell_its_flip_broke_at_another_threshold_as_looked_at():
    # Square attacked @0.7 within 8 only; its adversarial (L-inf 4) is a class @0.45 and @0.7:
    # it breaks (0.45, 8) and, within the smaller budget, (0.7, 4) and (0.45, 4) unattacked.
    def row(member, wrong, threshold=None, epsilon=None, linf=0.0):
        return {"unit": f"{member}-u", "member": member, "network": "triple-staged",
                "attacked_threshold": threshold, "attacked_epsilon": epsilon, "source": 0,
                "source_class": 3, "thresholds": [0.45, 0.7], "decisions": [1, 1] if wrong
                else [3, 3], "wrong": wrong, "linf": linf, "l2": linf}

    records = [row("clean", False), row("apgd-ce", False, 0.45, 4.0),
               row("apgd-ce", False, 0.45, 8.0), row("apgd-ce", False, 0.7, 4.0),
               row("apgd-ce", False, 0.7, 8.0), row("square-5000", True, 0.7, 8.0, 4.0)]
    summary = cascade_summary(records, {}, ("apgd-ce", "square-5000"),
                              {"apgd-ce": True, "square-5000": False}, (4.0, 8.0), none_label=3)
    assert len(summary["masking"]) == 4
    assert summary["masking_checked"] == 4  # never fewer looked at than broken


def test_a_minimal_norm_attack_is_paired_by_distortion():
    made = {"network": "direct", "threshold": None, "kind": "false-positive",
            "status": "attacked", "max_steps": 100}
    paper = [{**made, "source": i, "target": 1, "steps": 10 + i, "success": True,
              "distortion": 0.05} for i in range(4)]
    fmn = [{**made, "source": i, "target": 1, "steps": 100, "success": i < 3,
            "distortion": 0.02 if i < 3 else 0.0} for i in range(4)]
    (row,) = paired_table(paper, fmn, by="distortion")
    # Three pairs where FMN needed less distortion; the failure counts as distortion 1.
    assert (row["other_fewer"], row["same_effort"], row["other_more"]) == (3, 0, 1)
    assert row["effort_by"] == "distortion"
    (by_steps,) = paired_table(paper, fmn)
    assert by_steps["other_fewer"] == 0  # by steps FMN's fixed 100 looks like more effort


def test_paired_table_does_not_depend_on_the_records_order():
    # Means summed in another order differ in their last bits: the pairs are taken in a fixed
    # order, whatever order the records (or a set of their keys) come in.
    rng = np.random.default_rng(3)
    distortions = rng.random(40) / 3
    plain = [record(source, 10 + source, True, float(distortions[source]), network=network,
                    threshold=threshold)
             for source in range(40) for network, threshold in (("direct", None),
                                                                 ("triple-staged", 0.7))]
    other = [{**row, "steps": row["steps"] + 1} for row in plain]
    forward = paired_table(plain, other)
    order = rng.permutation(len(plain))
    shuffled = paired_table([plain[i] for i in order], [other[i] for i in order[::-1]])
    assert forward == shuffled and len(forward) == 2


def test_none_errors_are_counted_by_the_photo_their_crop_came_from():
    from mindseye.eval.markdown import photo_error_text
    from mindseye.eval.stats import errors_by_photo

    # Six None images (label 3) from photos 40, 40, 40, 7, 7 and a generated one (-1); two
    # positives. The network calls a class on two of photo 40's, one of photo 7's, and a
    # positive wrongly (not a None error).
    photos = np.array([40, 40, 40, 7, 7, -1, 40, 7])
    labels = [3, 3, 3, 3, 3, 3, 0, 1]
    decisions = [0, 3, 2, 1, 3, 3, 2, 1]
    clean = [{"network": "direct", "threshold": None, "source": i, "label": label,
              "decision": decision}
             for i, (label, decision) in enumerate(zip(labels, decisions, strict=True))]
    rows = errors_by_photo(clean, photos, none_label=3)
    assert [(r["photo"], r["none_images"], r["errors"]) for r in rows] == [(40, 3, 2), (7, 2, 1)]
    text = "\n".join(photo_error_text({"rows": [{**r, "name": f"p{r['photo']}"} for r in rows],
                                       "photos_in_test": 3}))
    assert "40 p40 (2 / 3), 7 p7 (1 / 2); 3 errors on 2 photos" in text


def test_unit_costs_sum_each_groups_units_and_count_its_images():
    # two units of one member (3 and 1 images) and one of another, on two networks
    records = [{"unit": unit, "network": network, "member": member}
               for unit, network, member, images in (("a-0", "direct", "apgd-ce", 3),
                                                     ("a-1", "direct", "apgd-ce", 1),
                                                     ("h-0", "triple-staged", "hsj", 2))
               for _ in range(images)]
    metas = {"a-0": {"cost": {"forward": 10, "backward": 9, "wall_s": 1.5}},
             "a-1": {"cost": {"forward": 4, "backward": 3, "wall_s": 0.5}},
             "h-0": {"cost": {"forward": 700, "backward": 0, "wall_s": 9.0}}}
    by_member = unit_costs(records, metas, lambda record: record["member"])
    assert by_member == {
        "apgd-ce": {"units": 2, "images": 4, "forward": 14, "backward": 12, "wall_s": 2.0},
        "hsj": {"units": 1, "images": 2, "forward": 700, "backward": 0, "wall_s": 9.0}}
    by_network = unit_costs(records, metas, lambda record: record["network"])
    assert sum(cost["forward"] for cost in by_network.values()) == 714


def test_the_paired_difference_interval_covers_the_true_difference_about_95_percent():
    # Pairs drawn from a known joint distribution (both robust, first only, second only,
    # neither): the true difference p2 - p1 is 0.15 - 0.05 = 0.1.
    rng = np.random.default_rng(0)
    truth = np.array([0.6, 0.05, 0.15, 0.2])
    covered = widths = 0
    trials = 2000
    for counts in rng.multinomial(60, truth, size=trials):
        low, high = paired_difference_interval(*map(int, counts))
        covered += low <= 0.1 <= high
        widths += high - low
    assert 0.93 <= covered / trials <= 0.98
    # Pairing helps: narrower than the two Wilson intervals' independent-samples combination.
    wilson_width = 2 * 1.96 * np.sqrt(0.65 * 0.35 / 60 + 0.75 * 0.25 / 60)
    assert widths / trials < wilson_width


def test_the_paired_difference_interval_at_the_edges():
    # The two agree on every image: no difference, and an interval around 0 that is not a
    # point (no discordant pair is weak evidence at 40 images, not proof).
    for agreeing in ((40, 0, 0, 0), (20, 0, 0, 20)):
        low, high = paired_difference_interval(*agreeing)
        assert low < 0 < high and high - low < 0.2
    # The second robust on every image, the first on none: within [-1, 1], near 1.
    low, high = paired_difference_interval(0, 0, 30, 0)
    assert 0.8 < low < 1 and high == 1.0
    assert paired_difference_interval(0, 0, 0, 0) == (-1.0, 1.0)


def test_paired_robustness_pairs_images_budget_by_budget():
    def robust(source: int, epsilon: float, is_robust: bool) -> dict:
        return {"network": "direct", "threshold": None, "epsilon": epsilon, "source": source,
                "robust": is_robust}

    first = [robust(0, 8, True), robust(1, 8, True), robust(2, 8, False), robust(3, 8, False),
             robust(4, 8, True),  # source 4 is not in the second table: left out
             robust(0, 4, True)]
    second = [robust(0, 8, True), robust(1, 8, False), robust(2, 8, True), robust(3, 8, True),
              robust(0, 4, False), robust(0, 2, True)]  # budget 2 only in the second: left out
    at_4, at_8 = paired_robustness(first, second)
    assert (at_4["epsilon"], at_4["images"], at_4["first_only"], at_4["second_only"]) == (
        4, 1, 1, 0)
    assert (at_8["images"], at_8["first_robust"], at_8["second_robust"]) == (4, 2, 3)
    assert (at_8["first_only"], at_8["second_only"], at_8["difference"]) == (1, 2, 0.25)
    assert at_8["ci_low"] < 0.25 < at_8["ci_high"]
    assert at_8["mcnemar_p"] == 1.0  # 1 against 2 discordant pairs: no evidence either way


def test_paired_table_by_linf_counts_a_failure_as_the_largest_change():
    plain = [record(0, 100, True, 0.1, linf=8.0), record(1, 100, False, 0.0, linf=0.0)]
    other = [record(0, 100, True, 0.2, linf=12.0), record(1, 100, True, 0.3, linf=40.0)]
    (row,) = paired_table(plain, other, by="linf")
    assert row["effort_by"] == "linf"
    assert (row["plain_linf"]["median"], row["other_linf"]["median"]) == (8.0, 12.0)
    # +4 grey levels on source 0; on source 1 the other's 40 against a failure's 255.
    assert (row["other_fewer"], row["other_more"]) == (1, 1)
    assert row["effort_difference"]["mean"] == (4.0 + 40.0 - 255.0) / 2


def test_within_reach_takes_the_closest_success_of_each_kind_from_every_attack():
    def targeted(table, source, kind, success, linf, target=1):
        return {"network": "direct", "threshold": None, "kind": kind, "status": "attacked",
                "source": source, "source_class": 0, "target": target, "success": success,
                "linf": linf, "attack": table}

    def cell(source, decision, linf, **extra):
        return {"network": "direct", "threshold": None, "epsilon": 8.0, "source": source,
                "source_class": 0, "robust": False, "decision": decision, "linf": linf,
                **extra}

    tables = {
        "ifgsm": [targeted("ifgsm", 0, "false-positive", True, 6.0),
                  targeted("ifgsm", 1, "false-positive", False, 40.0),
                  # attacked by one table only: not every attack met it, so it is left out
                  targeted("ifgsm", 2, "false-positive", True, 1.0),
                  targeted("ifgsm", 0, "false-negative", True, 10.0, target=3),
                  {**targeted("ifgsm", 4, "false-positive", False, 0.0),
                   "status": "misclassified"}],
        "fmn-linf": [targeted("fmn-linf", 0, "false-positive", True, 3.0),
                     targeted("fmn-linf", 0, "false-positive", False, 0.0, target=2),
                     targeted("fmn-linf", 1, "false-positive", False, 0.0)],
    }
    budgeted = {"reviewer": [
        cell(1, 2, 7.0, broken_by="apgd-dlr-targeted"),  # source 1 made class 2 within 7
        cell(1, 3, 1.0, broken_by="clean"),  # a clean error is no attack's
        cell(0, 3, 2.0, broken_by="apgd-ce"),  # a false negative within 2
    ], "pgd": [{**cell(1, 1, 0.0), "clean_decision": 1},  # wrong before the attack
               {**cell(0, 0, 0.0), "robust": True, "clean_decision": 0}]}
    rows = within_reach(closest_by_source(tables, budgeted, none_label=3), (2.0, 4.0, 8.0))
    positives = [r for r in rows if r["kind"] == "false-positive"]
    assert [r["sources"] for r in positives] == [2, 2, 2]
    # closest: source 0 at 3 (FMN), source 1 at 7 (the cascade's targeted member)
    assert [r["out_of_reach"] for r in positives] == [2, 1, 0]
    assert positives[0]["attacks"] == ["fmn-linf", "ifgsm", "pgd", "reviewer"]
    assert (positives[1]["ci_low"], positives[1]["ci_high"]) == tuple(
        1 - bound for bound in reversed(wilson_interval(1, 2)))
    # Source 0's closest false positive lies exactly at 3: within a budget of 3.
    (at_three,) = [r for r in within_reach(closest_by_source(tables, budgeted, none_label=3),
                                           (3.0,))
                   if r["kind"] == "false-positive"]
    assert at_three["out_of_reach"] == 1
    negatives = [r for r in rows if r["kind"] == "false-negative"]
    # ifgsm's false negative at 10, the cascade's at 2: within every budget here
    assert [(r["sources"], r["out_of_reach"]) for r in negatives] == [(1, 0)] * 3
    # A budgeted attack that took fewer images narrows the sources to those it took too.
    budgeted["square"] = [{**cell(1, 1, 0.0), "robust": True, "clean_decision": 0}]
    narrowed = [r for r in within_reach(closest_by_source(tables, budgeted, none_label=3), (4.0,))
                if r["kind"] == "false-positive"]
    assert [(r["sources"], r["out_of_reach"]) for r in narrowed] == [(1, 1)]


def test_worst_case_counts_a_targeted_success_within_the_budget_at_its_threshold():
    def cell(source, threshold, epsilon, robust):
        return {"network": "triple-staged", "threshold": threshold, "epsilon": epsilon,
                "source": source, "source_class": 0, "robust": robust}

    def flip(source, threshold, success, linf, status="attacked"):
        return {"network": "triple-staged", "threshold": threshold, "source": source,
                "status": status, "success": success, "linf": linf}

    cascade = [cell(source, threshold, epsilon, robust=epsilon < 32)
               for source in (0, 1, 2) for threshold in (0.2, 0.7) for epsilon in (4, 8, 32)]
    targeted = {"fmn-linf": [
        flip(0, 0.7, False, 0.0), flip(0, 0.7, True, 8.0),  # the nearer of two targets: 8
        flip(1, 0.2, True, 5.0),  # @0.2 only
        flip(2, 0.7, True, 1.0, status="misclassified"),  # never attacked: breaks nothing
        flip(7, 0.7, True, 1.0),  # an image the cascade did not take adds no cell
    ]}
    worst = {(r["source"], r["threshold"], r["epsilon"]): r
             for r in worst_case_records({"reviewer": cascade}, targeted)}
    assert len(worst) == len(cascade)
    broken = sorted(key for key, row in worst.items() if not row["robust"] and key[2] < 32)
    # exactly at the budget counts as within it, as in within_reach
    assert broken == [(0, 0.7, 8), (1, 0.2, 8)]
    assert worst[(0, 0.7, 8)]["broken_by"] == ["fmn-linf"]
    assert worst[(0, 0.7, 4)]["attacks"] == ["reviewer", "fmn-linf"]
    assert worst[(0, 0.2, 4)]["attacks"] == ["reviewer"]
    assert worst[(2, 0.7, 32)]["broken_by"] == ["reviewer"]
    assert worst_case_records({"reviewer": cascade}) == worst_case_records(
        {"reviewer": cascade}, {})


def test_within_reach_counts_a_none_image_made_any_class():
    def fmn(source, target, success, linf):
        return {"network": "direct", "threshold": None, "kind": "none-to-class",
                "status": "attacked", "source": source, "source_class": 3, "target": target,
                "success": success, "linf": linf}

    targeted = {"fmn-l2": [fmn(7, 0, True, 20.0), fmn(7, 1, False, 0.0),
                           fmn(8, 0, False, 0.0), fmn(8, 1, False, 0.0)]}
    # The cascade made None image 8 class 2 within 4 (any class counts); on positive 5 it made
    # None, a false negative, which says nothing of None images.
    cells = [{"network": "direct", "threshold": None, "epsilon": 8.0, "source": source,
              "source_class": source_class, "robust": False, "decision": decision, "linf": 4.0,
              "broken_by": "apgd-ce"} for source, source_class, decision in ((8, 3, 2),
                                                                             (5, 0, 3))]
    cells.append({**cells[0], "source": 7, "robust": True, "decision": None, "linf": None})
    rows = within_reach(closest_by_source(targeted, {"reviewer": cells}, none_label=3),
                        (4.0, 16.0, 32.0))
    nones = [r for r in rows if r["kind"] == "none-to-class"]
    assert [(r["sources"], r["out_of_reach"]) for r in nones] == [(2, 1), (2, 1), (2, 0)]
    assert [r["kind"] for r in rows] == ["none-to-class"] * 3


def test_paired_within_reach_sets_each_triple_staged_threshold_against_each_direct_network():
    def found(closest):
        return {"closest": dict(enumerate(closest)), "attacks": ["ifgsm"]}

    reach = {("direct", None, "false-positive"): found([2, 6, 6, 40, math.inf]),
             ("triple-staged", 0.7, "false-positive"): found([9, 9, 3, 40, math.inf]),
             ("triple-staged", 0.7, "false-negative"): found([1, 1, 1, 1, 1])}
    (row,) = paired_within_reach(reach, (8.0,))
    # out of reach within 8: direct sources 3 and 4; triple-staged 0, 1, 3 and 4
    assert (row["kind"], row["first"], row["threshold"]) == ("false-positive", "direct", 0.7)
    assert (row["images"], row["first_robust"], row["second_robust"]) == (5, 2, 4)
    assert (row["first_only"], row["second_only"], row["difference"]) == (0, 2, 0.4)
    assert (row["ci_low"], row["ci_high"]) == paired_difference_interval(2, 0, 2, 1)


def test_network_ratio_table_pairs_each_threshold_with_each_direct_network_by_source_and_target():
    def fmn(network, threshold, source, target, distance, success=True, kind="false-positive"):
        return {"network": network, "threshold": threshold, "kind": kind, "source": source,
                "target": target, "status": "attacked", "success": success, "linf": distance}

    records = [
        # direct: three pairs; the triple-staged network @0.7 is twice as far on two of them
        fmn("direct", None, 0, 1, 10.0), fmn("direct", None, 0, 2, 20.0),
        fmn("direct", None, 1, 0, 30.0),
        fmn("triple-staged", 0.7, 0, 1, 20.0), fmn("triple-staged", 0.7, 0, 2, 40.0),
        # a failure there counts as the largest distance: larger, but no ratio
        fmn("triple-staged", 0.7, 1, 0, 0.0, success=False),
        # another target than any direct pair: not paired
        fmn("triple-staged", 0.7, 1, 2, 5.0),
        # @0.2 nearer on its one pair
        fmn("triple-staged", 0.2, 0, 1, 5.0),
        {**fmn("triple-staged", 0.2, 0, 2, 1.0), "status": "misclassified"},
        # another kind, and another direct network: rows of their own
        fmn("direct", None, 3, 0, 4.0, kind="none-to-class"),
        fmn("triple-staged", 0.7, 3, 0, 12.0, kind="none-to-class"),
        fmn("direct-param", None, 0, 1, 40.0),
    ]
    table = network_ratio_table(records, "linf")
    rows = {(r["threshold"], r["direct"]): r for r in table if r["kind"] == "false-positive"}
    assert set(rows) == {(0.2, "direct"), (0.7, "direct"), (0.2, "direct-param"),
                         (0.7, "direct-param")}
    (none,) = [r for r in table if r["kind"] == "none-to-class"]
    assert (none["direct"], none["threshold"], none["pairs"], none["ratio"]["median"]) == (
        "direct", 0.7, 1, 3.0)
    assert (rows[(0.7, "direct-param")]["pairs"], rows[(0.7, "direct-param")]["smaller"],
            rows[(0.7, "direct-param")]["ratio"]["median"]) == (1, 1, 0.5)
    far, near = rows[(0.7, "direct")], rows[(0.2, "direct")]
    assert (far["pairs"], far["larger"], far["same"], far["smaller"]) == (3, 3, 0, 0)
    assert far["both_flipped"] == 2 and far["ratio"]["median"] == 2.0
    assert (near["pairs"], near["larger"], near["smaller"], near["ratio"]["median"]) == (
        1, 0, 1, 0.5)
    assert far["sign_test_p"] == 0.25  # 3 of 3 larger, two-sided
