"""eval.claims on hand-made metrics: verdicts follow the numbers, intervals decide `clear`."""

from mindseye.eval.claims import check_claims
from mindseye.eval.stats import paired_within_reach, within_reach


def effort(network, threshold, kind, steps, steps_ci, distortion=0.05, distortion_ci=(0.04, 0.06)):
    return {"network": network, "threshold": threshold, "kind": kind,
            "steps": {"median": steps, "median_ci": list(steps_ci)},
            "distortion": {"median": distortion, "median_ci": list(distortion_ci)}}


def claim(claims, start):
    (found,) = [c for c in claims if c["claim"].startswith(start)]
    return found


def metrics_with(triple_steps_ci):
    rows = [effort("direct", None, "false-positive", 15, (13, 17)),
            effort("direct-param", None, "false-positive", 11, (10, 13)),
            effort("triple-staged", 0.7, "false-positive", 300, triple_steps_ci)]
    return {"effort": {"ifgsm": rows}}


def test_more_steps_claim_is_clear_only_when_the_intervals_separate():
    clear = claim(check_claims(metrics_with((250, 350)), (0.7,)), "False positives need more")
    assert clear["holds"] and clear["clear"]
    noisy = claim(check_claims(metrics_with((16, 900)), (0.7,)), "False positives need more")
    assert noisy["holds"] and not noisy["clear"]
    assert "[16-900]" in noisy["evidence"]


def test_a_failing_claim_says_whether_the_failure_is_clear():
    rows = [effort("triple-staged", 0.2, "false-negative", 4, (3, 5)),
            effort("triple-staged", 0.7, "false-negative", 15, (12, 18))]
    found = claim(check_claims({"effort": {"ifgsm": rows}}, (0.2, 0.7)), "False negatives are")
    assert not found["holds"] and found["clear"]  # 0.2 needs clearly fewer steps, not more
    rows[1] = effort("triple-staged", 0.7, "false-negative", 5, (3, 8))
    found = claim(check_claims({"effort": {"ifgsm": rows}}, (0.2, 0.7)), "False negatives are")
    assert not found["holds"] and not found["clear"]


def test_error_rate_claim_uses_wilson_intervals():
    def rate(network, threshold, value, low, high):
        return {"network": network, "threshold": threshold, "error_rate": value,
                "ci_low": low, "ci_high": high}

    table = [rate("direct", None, 0.001, 0.0005, 0.003), rate("direct-param", None, 0.0, 0, 0.001),
             rate("triple-staged", 0.45, 0.0, 0, 0.001)]
    found = claim(check_claims({"table1": table}, (0.45,)), "The direct networks")
    assert not found["holds"] and not found["clear"]  # 0.1% against 0%, intervals overlap


def test_reasonable_error_claim_compares_the_wilson_bound_with_five_percent():
    def table(rate, low, high):
        return {"table1": [{"network": "triple-staged", "threshold": 0.2, "error_rate": rate,
                            "ci_low": low, "ci_high": high}]}

    found = claim(check_claims(table(0.04, 0.035, 0.047), (0.2,)), "The triple-staged network's")
    assert found["holds"] and found["clear"]
    found = claim(check_claims(table(0.04, 0.02, 0.07), (0.2,)), "The triple-staged network's")
    assert found["holds"] and not found["clear"]
    found = claim(check_claims(table(0.09, 0.07, 0.11), (0.2,)), "The triple-staged network's")
    assert not found["holds"] and found["clear"]


def test_false_negatives_at_the_lowest_threshold_against_every_other_setting():
    rows = [effort("direct", None, "false-negative", 6, (5, 7)),
            effort("triple-staged", 0.2, "false-negative", 15, (14, 17)),
            effort("triple-staged", 0.7, "false-negative", 4, (3, 5))]
    found = claim(check_claims({"effort": {"ifgsm": rows}}, (0.2, 0.7)),
                  "False negatives need more steps")
    assert found["holds"] and found["clear"]
    rows[0] = effort("direct", None, "false-negative", 16, (10, 20))
    found = claim(check_claims({"effort": {"ifgsm": rows}}, (0.2, 0.7)),
                  "False negatives need more steps")
    assert not found["holds"] and not found["clear"]


def test_settings_without_a_successful_attack_are_left_out_not_fatal():
    rows = [effort("direct", None, "false-negative", None, (0, 0)),
            effort("triple-staged", 0.2, "false-negative", 15, (14, 17)),
            effort("triple-staged", 0.7, "false-negative", 4, (3, 5))]
    rows[0]["steps"]["median_ci"] = None
    found = claim(check_claims({"effort": {"ifgsm": rows}}, (0.2, 0.7)),
                  "False negatives need more steps")
    assert found["holds"] and "direct " not in found["evidence"]


def paired_row(plain_flipped, other_flipped, pairs=20, difference=(0, 0, 0), fewer=0, more=0):
    return {"network": "triple-staged", "threshold": 0.7, "kind": "false-positive",
            "pairs": pairs, "plain_flipped": plain_flipped, "other_flipped": other_flipped,
            "plain_success": plain_flipped / pairs, "other_success": other_flipped / pairs,
            "effort_difference": {"median": difference[0], "median_ci": list(difference[1:])},
            "other_fewer": fewer, "other_more": more, "sign_test_p": 1.0}


def test_an_adaptive_attack_that_flips_more_breaks_the_claim_even_without_shared_flips():
    metrics = {"paired": {"adaptive": [paired_row(0, 15)]}}
    found = claim(check_claims(metrics, (0.7,)), "The triple-staged network's false-positive")
    assert not found["holds"] and found["clear"]  # 0/20 against 15/20: Wilson intervals apart
    metrics = {"paired": {"adaptive": [paired_row(18, 18, difference=(0, -2, 5), more=3)]}}
    found = claim(check_claims(metrics, (0.7,)), "The triple-staged network's false-positive")
    assert found["holds"] and found["clear"] is None  # "no fewer" cannot be confirmed


def test_a_paired_step_difference_below_zero_breaks_the_claim():
    # Same flip rates, but the adaptive attack is faster on most pairs.
    metrics = {"paired": {"adaptive": [paired_row(18, 18, difference=(-40, -60, -10), fewer=15,
                                                  more=2)]}}
    found = claim(check_claims(metrics, (0.7,)), "The triple-staged network's false-positive")
    assert not found["holds"] and found["clear"]  # the difference's interval lies below 0
    assert "steps this minus paper -40 [-60 to -10] (fewer in 15, more in 2 of 20 pairs" in (
        found["evidence"])


def test_masking_is_judged_cell_by_cell_over_budgeted_attacks_and_cascades():
    def case(source):
        return {"network": "direct", "threshold": None, "epsilon": 8.0, "source": source,
                "attack": "square"}

    text = "Gradient attacks are not masked"
    clean = {"masking": [], "masking_checked": 40,
             "cascades": {"reviewer": {"masking": [], "masking_checked": 60}}}
    found = claim(check_claims(clean, ()), text)
    assert found["holds"] and "0 of the 40" in found["evidence"]
    assert "0 of the 60" in found["evidence"]
    # Two gradient-free attacks breaking one cell count once; a cascade's cell counts too.
    masked = {**clean, "masking": [case(1), {**case(1), "attack": "hsj"}],
              "cascades": {"reviewer": {"masking": [case(2)], "masking_checked": 60}}}
    found = claim(check_claims(masked, ()), text)
    assert not found["holds"] and found["clear"]
    assert "broke 1 of the 40" in found["evidence"] and "broke 1 of the 60" in found["evidence"]
    # Nothing looked at: no claim.
    assert not [c for c in check_claims({"masking": None, "masking_checked": None}, ())
                if c["claim"].startswith(text)]


def minimal(network, threshold, kind, value, low, high, field):
    row = effort(network, threshold, kind, 100, (100, 100))
    row[field] = {"median": value, "median_ci": [low, high]}
    return row


def test_minimal_norm_attacks_judge_the_distortion_claims_by_their_own_norm():
    def rows(field, triple_low):
        return [minimal("direct", None, "false-positive", 0.02, 0.018, 0.022, field),
                minimal("triple-staged", 0.2, "false-positive", triple_low, triple_low - 0.002,
                        triple_low + 0.002, field),
                minimal("triple-staged", 0.7, "false-positive", 0.09, 0.08, 0.10, field),
                minimal("direct", None, "false-negative", 0.01, 0.009, 0.011, field),
                minimal("triple-staged", 0.2, "false-negative", 0.03, 0.02, 0.04, field),
                minimal("triple-staged", 0.7, "false-negative", 0.008, 0.007, 0.009, field)]

    # fmn-linf is judged by L-inf: its "distortion" (0.05 in every row) plays no part.
    claims = check_claims({"effort": {"fmn-linf": rows("linf", 0.04)}}, (0.2, 0.7))
    larger = claim(claims, "False positives need a larger minimal L-inf distance (fmn-linf)")
    assert larger["holds"] and larger["clear"]
    higher = claim(claims, "The higher the threshold, the larger the minimal L-inf")
    assert higher["holds"] and higher["clear"]
    negatives = claim(claims, "False negatives need a larger minimal L-inf distance")
    assert negatives["holds"] and negatives["clear"]
    lower = claim(claims, "False negatives are resisted better at a lower threshold (a larger")
    assert lower["holds"] and lower["clear"]
    # @0.2 a false positive needs less than on the direct network: the first claim falls.
    claims = check_claims({"effort": {"fmn-l2": rows("distortion", 0.01)}}, (0.2, 0.7))
    assert not claim(claims, "False positives need a larger minimal L2")["holds"]
    assert claim(claims, "The higher the threshold, the larger the minimal L2")["holds"]
    # The paper's attack minimises nothing: it makes none of these claims.
    plain = check_claims({"effort": {"ifgsm": rows("distortion", 0.04)}}, (0.2, 0.7))
    assert not [c for c in plain if "minimal" in c["claim"]]


def test_minimal_norm_claims_need_a_triple_staged_network():
    rows = [minimal("direct", None, "false-negative", 0.01, 0.009, 0.011, "distortion"),
            minimal("direct", None, "false-positive", 0.02, 0.018, 0.022, "distortion")]
    claims = check_claims({"effort": {"fmn-l2": rows}}, ())
    assert not [c for c in claims if "minimal" in c["claim"]]


def test_none_images_resisting_a_class_is_judged_at_the_higher_thresholds_only():
    def none_row(network, threshold, value, low, high, flipped=20):
        row = minimal(network, threshold, "none-to-class", value, low, high, "distortion")
        return {**row, "succeeded": flipped, "attacked": 30}

    rows = [none_row("direct", None, 0.02, 0.018, 0.022),
            none_row("direct-param", None, 0.03, 0.025, 0.035),
            # @0.2 a None image is nearer a class than on the direct networks: not claimed there
            none_row("triple-staged", 0.2, 0.01, 0.008, 0.012),
            none_row("triple-staged", 0.45, 0.05, 0.04, 0.06),
            none_row("triple-staged", 0.7, 0.08, 0.07, 0.09, flipped=3)]
    claims = check_claims({"effort": {"fmn-l2": rows}}, (0.2, 0.45, 0.7))
    larger = claim(claims, "None images need a larger minimal L2 distortion (fmn-l2)")
    assert larger["holds"] and larger["clear"]
    assert "@0.7 0.08 [0.07-0.09] (flipped 3 of 30)" in larger["evidence"]
    assert "@0.2" not in larger["evidence"]
    order = claim(claims, "The higher the threshold, the more a None image resists")
    assert order["holds"] and order["clear"]
    # Nearer a class @0.7 than on direct-param: the claim falls, though not clearly.
    rows[-1] = none_row("triple-staged", 0.7, 0.029, 0.02, 0.04)
    claims = check_claims({"effort": {"fmn-l2": rows}}, (0.2, 0.45, 0.7))
    fallen = claim(claims, "None images need a larger minimal L2 distortion (fmn-l2)")
    assert not fallen["holds"] and not fallen["clear"]
    assert not claim(claims, "The higher the threshold, the more a None image resists")["holds"]


def test_an_attack_that_flips_one_pair_more_fails_the_survival_claim_and_says_by_how_many():
    def paired_row(threshold, paper, this, difference=(0, 0, 0)):
        median, low, high = difference
        return {"network": "triple-staged", "threshold": threshold, "kind": "false-positive",
                "pairs": 300, "plain_flipped": paper, "other_flipped": this,
                "plain_success": paper / 300, "other_success": this / 300,
                "effort_difference": {"median": median, "median_ci": [low, high]},
                "other_fewer": 34, "other_more": 61, "sign_test_p": 0.0073}

    survives = "The triple-staged network's false-positive robustness survives the straight"
    same = check_claims({"paired": {"ifgsm-bpda": [paired_row(0.7, 296, 296)]}}, (0.7,))
    assert claim(same, survives)["holds"]
    one_more = claim(check_claims({"paired": {"ifgsm-bpda": [paired_row(0.7, 296, 297)]}},
                                  (0.7,)), survives)
    assert not one_more["holds"] and not one_more["clear"]
    assert "flipped by the paper's attack 296, by this 297 of 300" in one_more["evidence"]
    faster = claim(check_claims({"paired": {"ifgsm-bpda": [
        paired_row(0.7, 296, 296, (-24.5, -33, -17))]}}, (0.7,)), survives)
    assert not faster["holds"] and faster["clear"]


def test_out_of_reach_claims_are_judged_source_by_source_where_a_budget_tells_them_apart():
    def found(out_at):
        """75 sources: `out_at[e]` of them out of reach at budget e, the same ones at each."""
        closest = {}
        for source in range(75):
            closest[source] = max([e + 1 for e, out in out_at.items() if source < out] + [0.5])
        return {"closest": closest, "attacks": ["ifgsm", "pgd"]}

    def metrics(triple_at_8):
        reach = {("direct", None, "false-positive"): found({2: 75, 4: 73, 8: 40}),
                 ("direct-param", None, "false-positive"): found({2: 75, 4: 75, 8: 42}),
                 ("triple-staged", 0.7, "false-positive"): found({2: 75, 4: 75,
                                                                  8: triple_at_8})}
        epsilons = (2.0, 4.0, 8.0, 32.0)
        return {"within_reach": within_reach(reach, epsilons),
                "within_reach_paired": paired_within_reach(reach, epsilons)}

    text = "A false positive is out of reach of a larger share of positives"
    found_claim = claim(check_claims(metrics(70), (0.7,)), text)
    # Only 8 grey levels tell them apart: at 2 and 4 a direct network has every positive out
    # of reach, at 32 none is out of reach anywhere.
    assert found_claim["holds"] and found_claim["clear"]
    assert found_claim["evidence"].startswith(
        "eps 8: direct 40 of 75, direct-param 42 of 75, triple-staged @0.7 70 of 75 (least "
        "paired difference: @0.7 minus direct-param 37.3 [")
    # the difference is of shares, in percentage points, not a count of the 75 sources
    assert "] percentage points on 75 sources, McNemar p " in found_claim["evidence"]
    assert found_claim["evidence"].endswith(
        "; attacks counted: direct, direct-param, triple-staged @0.7: ifgsm, pgd")
    assert not claim(check_claims(metrics(30), (0.7,)), text)["holds"]
    # 45 against 42, source by source (the 42 among the 45): more, but not clearly.
    noisy = claim(check_claims(metrics(45), (0.7,)), text)
    assert noisy["holds"] and not noisy["clear"]


def test_none_images_are_judged_above_the_lowest_threshold_and_false_negatives_at_it():
    def found(out, sources=75):
        return {"closest": {s: (9.0 if s < out else 1.0) for s in range(sources)},
                "attacks": ["fmn-l2"]}

    reach = {("direct", None, "none-to-class"): found(10, 25),
             ("direct-param", None, "none-to-class"): found(12, 25),
             ("triple-staged", 0.2, "none-to-class"): found(2, 25),
             ("triple-staged", 0.7, "none-to-class"): found(25, 25),
             ("direct", None, "false-negative"): found(5),
             ("direct-param", None, "false-negative"): found(2),
             ("triple-staged", 0.2, "false-negative"): found(60),
             ("triple-staged", 0.7, "false-negative"): found(0)}
    metrics = {"within_reach": within_reach(reach, (8.0,)),
               "within_reach_paired": paired_within_reach(reach, (8.0,))}
    claims = check_claims(metrics, (0.2, 0.7))
    resisted = claim(claims, "A class is out of reach of a larger share of None images")
    assert resisted["holds"] and resisted["clear"] and "@0.2" not in resisted["evidence"]
    negatives = claim(claims, "A false negative is out of reach of a larger share of positives")
    assert negatives["holds"] and negatives["clear"] and "@0.7" not in negatives["evidence"]
