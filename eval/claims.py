"""The paper's claims (and a reviewer's), each checked against the computed numbers.

A claim is checked only where its numbers exist. `holds` is True (the numbers agree) or False
(they contradict it), by the point estimates (medians, rates). `clear` says whether the 95%
intervals (the median's order-statistic interval, Wilson's for rates) agree with the verdict,
so a reader can tell a clear result from one the sample size cannot settle. Nothing here is
hard-coded to an outcome: every verdict is a comparison of measured values.
"""

import math
from collections import defaultdict

from mindseye.attacks.ifgsm import PAPER_ATTACK
from mindseye.attacks.registry import spec_of_table
from mindseye.core.constants import (
    DIRECT_NETWORKS,
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    NONE_TO_CLASS,
    TRIPLE_STAGED,
)
from mindseye.eval.stats import MINIMIZED_WORDS, group, setting_name, wilson_interval

DISTORTION_CLAIM = 0.1  # "the median of their distortion is still below 0.1" (paper, section 4)
# "the error rate on normal samples is still reasonable" (paper, section 4) made a number: the
# paper's worst threshold errs 3.09%; issue 3 asked below 5%.
REASONABLE_ERROR = 0.05

# An estimate with its 95% interval: (value, low, high).
Estimate = tuple[float, float, float]


def _rows(metrics: dict, attack: str, kind: str) -> dict:
    rows = metrics.get("effort", {}).get(attack, [])
    return {(r["network"], r["threshold"]): r for r in rows if r["kind"] == kind}


def _median(row: dict | None, field: str) -> Estimate | None:
    """The median of a field of an effort row, with its interval (unbounded where too few
    values give none)."""
    if row is None or row[field]["median"] is None:
        return None
    low, high = row[field]["median_ci"] or (-math.inf, math.inf)
    return row[field]["median"], low, high


def _rate(row: dict) -> Estimate:
    return row["error_rate"], row["ci_low"], row["ci_high"]


def _success(row: dict, attack: str) -> Estimate:
    """Share of a paired row's pairs that `attack` ("plain" or "other") flipped, with Wilson's
    interval."""
    return (row[f"{attack}_success"], *wilson_interval(row[f"{attack}_flipped"], row["pairs"]))


def _exact(value: float) -> Estimate:
    """A fixed bound (the paper's 0.1, say) as an estimate with no uncertainty."""
    return value, value, value


def _show(estimate: Estimate, digits: int = 3) -> str:
    value, low, high = estimate
    between = " to " if low < 0 else "-"  # "[-4 to -1]", not "[-4--1]"
    return f"{value:.{digits}g} [{low:.{digits}g}{between}{high:.{digits}g}]"


def _show_percent(rate: Estimate) -> str:
    return _show((100 * rate[0], 100 * rate[1], 100 * rate[2]))


def _claim(text: str, comparisons: list[tuple[Estimate, Estimate]], evidence: str,
           strict: bool = True) -> dict:
    """A claim that every (smaller, larger) pair is in that order by its point estimates
    (`holds`). `clear` says whether the 95% intervals agree with the verdict: for a claim that
    holds, every smaller interval lies wholly below its larger one (None for a "no more than"
    claim, which intervals cannot confirm); for one that fails, some violation is that clear."""
    in_order = [small[0] < large[0] if strict else small[0] <= large[0]
                for small, large in comparisons]
    holds = all(in_order)
    if holds:
        clear = all(small[2] < large[1] for small, large in comparisons) if strict else None
    else:
        clear = any(large[2] < small[1]
                    for (small, large), ok in zip(comparisons, in_order, strict=True) if not ok)
    return {"claim": text, "holds": holds, "clear": clear, "evidence": evidence}


def check_claims(metrics: dict, thresholds: tuple[float, ...]) -> list[dict]:
    claims = []
    table = {(r["network"], r["threshold"]): r for r in metrics.get("table1", [])}
    direct = [(name, _rate(table[(name, None)])) for name in ("direct", "direct-param")
              if (name, None) in table]
    triple = [(t, _rate(table[(TRIPLE_STAGED, t)])) for t in thresholds
              if (TRIPLE_STAGED, t) in table]
    if direct and triple:
        claims.append(_claim(
            "The direct networks have the lowest clean error rate.",
            [(d, t) for _, d in direct for _, t in triple],
            "error rates (%): " + ", ".join(
                f"{name} {_show_percent(rate)}" for name, rate in direct)
            + "; triple-staged " + ", ".join(
                f"@{t:g} {_show_percent(rate)}" for t, rate in triple),
            strict=False))
    if triple:
        claims.append(_claim(
            f"The triple-staged network's clean error rate stays reasonable (below "
            f"{REASONABLE_ERROR:.0%}) at every threshold.",
            [(rate, _exact(REASONABLE_ERROR)) for _, rate in triple],
            "error rates (%): " + ", ".join(
                f"@{t:g} {_show_percent(rate)}" for t, rate in triple)))

    positives = _rows(metrics, PAPER_ATTACK.name, "false-positive")
    negatives = _rows(metrics, PAPER_ATTACK.name, "false-negative")
    direct_fp = [(name, _median(positives.get((name, None)), "distortion"))
                 for name in ("direct", "direct-param")]
    direct_fp = [(name, value) for name, value in direct_fp if value is not None]
    if direct_fp:
        claims.append(_claim(
            f"False positives on the direct networks need little change (median distortion "
            f"below {DISTORTION_CLAIM}).",
            [(value, _exact(DISTORTION_CLAIM)) for _, value in direct_fp],
            ", ".join(f"{name}: {_show(value)}" for name, value in direct_fp)))

    claims += _larger_on_triple_claim(positives, thresholds, "steps", "more steps",
                                      "median steps")
    claims += _hardest_at_lowest_claim(negatives, thresholds, "steps", "more steps",
                                       "median steps")
    claims += _threshold_order_claim(
        positives, thresholds, "distortion",
        "The higher the threshold, the larger the distortion a false positive needs.",
        "median distortion", grows=True)
    claims += _threshold_order_claim(
        negatives, thresholds, "steps",
        "False negatives are resisted better at a lower threshold (more steps needed).",
        "median steps", grows=False)
    claims += _minimal_norm_claims(metrics, thresholds)
    claims += _within_reach_claims(metrics, thresholds)
    claims += _beyond_paper_claims(metrics, thresholds)
    return claims


def _within_reach_claims(metrics: dict, thresholds: tuple[float, ...]) -> list:
    """The effort claims under fixed L-inf budgets, every attack that ran alike counted
    (eval.stats.within_reach, paired source by source: `paired_within_reach`): false positives
    at every threshold (Fig. 4), false negatives at the lowest threshold (Fig. 6), and ours,
    None images at the thresholds above it."""
    ordered = sorted(thresholds)
    if not metrics.get("within_reach_paired") or not ordered:
        return []
    return [
        *_out_of_reach_claim(metrics, FALSE_POSITIVE, ordered, "A false positive", "positives",
                             "at every threshold"),
        *_out_of_reach_claim(metrics, FALSE_NEGATIVE, ordered[:1], "A false negative",
                             "positives", f"@{ordered[0]:g}"),
        *_out_of_reach_claim(metrics, NONE_TO_CLASS, ordered[1:], "A class", "None images",
                             "at every threshold above the lowest"),
    ]


def _out_of_reach_claim(metrics: dict, kind: str, thresholds: list[float], subject: str,
                        sources: str, where: str) -> list:
    """`kind` is out of reach of a larger share of `sources` on the triple-staged network at
    `thresholds` than on each direct network, judged source by source (the paired difference
    of the shares, triple-staged minus direct, must be above 0; `clear` where its interval is
    too) at every budget that tells the two apart: where every direct network has one within
    reach, and not both have every one within reach. The evidence's counts are each setting's
    own (`within_reach`); the paired difference is on the sources both share."""
    paired = [r for r in metrics["within_reach_paired"]
              if r["kind"] == kind and r["threshold"] in thresholds]
    counts = {(r["network"], r["threshold"], r["epsilon"]): r
              for r in metrics.get("within_reach", []) if r["kind"] == kind}
    comparisons, evidence, attacks = [], [], defaultdict(list)
    for epsilon, rows in sorted(group(paired, lambda r: r["epsilon"]).items()):
        if any(row["first_robust"] == row["images"] for row in rows):
            continue  # a direct network with nothing within reach: no budget to compare at
        rows = [row for row in rows if row["first_robust"] + row["second_robust"] > 0]
        if not rows:
            continue
        comparisons += [(_exact(0.0), (row["difference"], row["ci_low"], row["ci_high"]))
                        for row in rows]
        settings = [*sorted({(row["first"], None) for row in rows}),
                    *((TRIPLE_STAGED, t) for t in sorted({row["threshold"] for row in rows}))]
        least = min(rows, key=lambda row: row["difference"])
        evidence.append(
            f"eps {epsilon:g}: " + ", ".join(
                f"{setting_name(*setting)} {counts[(*setting, epsilon)]['out_of_reach']} of "
                f"{counts[(*setting, epsilon)]['sources']}" for setting in settings
                if (*setting, epsilon) in counts)
            + f" (least paired difference: @{least['threshold']:g} minus {least['first']} "
            f"{_show((100 * least['difference'], 100 * least['ci_low'], 100 * least['ci_high']))}"
            f" percentage points on {least['images']} sources, McNemar p {least['mcnemar_p']:.2g})")
        for setting in settings:
            row = counts.get((*setting, epsilon))
            if row and setting_name(*setting) not in attacks[tuple(row["attacks"])]:
                attacks[tuple(row["attacks"])].append(setting_name(*setting))
    if not comparisons:
        return []
    # A claimed threshold with no rows (not attacked, say) is not judged: the evidence says so.
    missing = [f"@{t:g}" for t in thresholds if not any(row["threshold"] == t for row in paired)]
    return [_claim(
        f"{subject} is out of reach of a larger share of {sources} on the triple-staged network "
        f"{where} than on the direct ones, source by source, within every L-inf budget that "
        "tells them apart (every attack that ran alike counted).", comparisons,
        "; ".join(evidence)
        + (f"; not measured {', '.join(missing)}" if missing else "")
        + "; attacks counted: " + "; ".join(
            f"{', '.join(names)}: {', '.join(tables)}" for tables, names in attacks.items()))]

# The four effort claims of the paper's Figs. 4 and 6, each for one measured field of the
# effort rows: the paper's attack's steps or distortion, or a minimal-norm attack's distance.
# `need` is the claim's words for the field, `label` the evidence's.

def _larger_on_triple_claim(positives: dict, thresholds: tuple[float, ...], field: str,
                            need: str, label: str) -> list:
    """False positives need more of `field` on the triple-staged network than on the direct
    ones, at every threshold."""
    direct = [(name, _median(positives.get((name, None)), field)) for name in DIRECT_NETWORKS]
    direct = [(name, value) for name, value in direct if value is not None]
    triple = [(t, _median(positives.get((TRIPLE_STAGED, t)), field)) for t in thresholds]
    triple = [(t, value) for t, value in triple if value is not None]
    if not (direct and triple):
        return []
    return [_claim(
        f"False positives need {need} on the triple-staged network than on the direct ones, "
        "at every threshold.",
        [(d, t) for _, d in direct for _, t in triple],
        f"{label} " + ", ".join(f"{name} {_show(value)}" for name, value in direct)
        + "; triple-staged " + ", ".join(f"@{t:g} {_show(value)}" for t, value in triple))]


def _hardest_at_lowest_claim(negatives: dict, thresholds: tuple[float, ...], field: str,
                             need: str, label: str) -> list:
    """Paper, Fig. 6: false negatives are "significantly higher for 0.20 compared to the other
    networks"."""
    lowest = min(thresholds, default=None)
    if lowest is None:
        return []  # direct networks alone: no claim about the triple-staged network
    at_lowest = _median(negatives.get((TRIPLE_STAGED, lowest)), field)
    others = [(setting_name(network, threshold), _median(row, field))
              for (network, threshold), row in negatives.items()
              if (network, threshold) != (TRIPLE_STAGED, lowest)]
    others = [(name, value) for name, value in others if value is not None]
    if at_lowest is None or not others:
        return []
    return [_claim(
        f"False negatives need {need} on the triple-staged network @{lowest:g} than on "
        "every other network and threshold.",
        [(other, at_lowest) for _, other in others],
        f"{label} @{lowest:g} {_show(at_lowest)}; "
        + ", ".join(f"{name} {_show(value)}" for name, value in others))]


def _threshold_order_claim(rows: dict, thresholds: tuple[float, ...], field: str, text: str,
                           label: str, grows: bool) -> list:
    """`field` of the triple-staged network's rows grows with the threshold (`grows`), or
    shrinks."""
    ordered = sorted(thresholds)
    values = [_median(rows.get((TRIPLE_STAGED, t)), field) for t in ordered]
    if len(ordered) < 2 or None in values:
        return []
    pairs = zip(values, values[1:], strict=False) if grows else zip(values[1:], values,
                                                                    strict=False)
    return [_claim(text, list(pairs), f"{label} " + ", ".join(
        f"@{t:g} {_show(value)}" for t, value in zip(ordered, values, strict=True)))]


def _minimal_norm_claims(metrics: dict, thresholds: tuple[float, ...]) -> list:
    """The paper's effort claims (Figs. 4 and 6) judged by the smallest perturbation a
    minimal-norm attack found to each target, not by where the paper's one path first flips:
    the claims without the paper's attack's step size in them."""
    claims = []
    for attack in metrics.get("effort", {}):
        spec = spec_of_table(attack)
        if spec.name != attack or spec.minimizes is None:
            continue
        field, words = spec.minimizes, f"minimal {MINIMIZED_WORDS[spec.minimizes]} ({attack})"
        positives = _rows(metrics, attack, "false-positive")
        negatives = _rows(metrics, attack, "false-negative")
        claims += _larger_on_triple_claim(positives, thresholds, field, f"a larger {words}",
                                          "medians")
        claims += _threshold_order_claim(
            positives, thresholds, field,
            f"The higher the threshold, the larger the {words} a false positive needs.",
            "medians", grows=True)
        claims += _hardest_at_lowest_claim(negatives, thresholds, field, f"a larger {words}",
                                           "medians")
        claims += _threshold_order_claim(
            negatives, thresholds, field,
            f"False negatives are resisted better at a lower threshold (a larger {words}).",
            "medians", grows=False)
        claims += _none_to_class_claims(_rows(metrics, attack, NONE_TO_CLASS), thresholds,
                                        field, words)
    return claims


def _none_to_class_claims(rows: dict, thresholds: tuple[float, ...], field: str,
                          words: str) -> list:
    """Ours, not the paper's: None images resist becoming a class at the higher thresholds,
    judged by a minimal-norm attack's distance from each None image to each positive class.
    The medians are of the pairs it flipped; the evidence says how many it did, since a
    median of few flips is of the easiest pairs."""
    def measured(settings: list[tuple[str, tuple]]) -> list[tuple[str, dict, Estimate]]:
        found = [(name, rows.get(key)) for name, key in settings]
        return [(name, row, _median(row, field)) for name, row in found
                if _median(row, field) is not None]

    direct = measured([(name, (name, None)) for name in DIRECT_NETWORKS])
    triple = measured([(f"@{t:g}", (TRIPLE_STAGED, t)) for t in sorted(thresholds)[1:]])

    def shown(items: list) -> str:
        return ", ".join(f"{name} {_show(value)} (flipped {row['succeeded']} of "
                         f"{row['attacked']})" for name, row, value in items)

    claims = []
    if direct and triple:
        claims.append(_claim(
            f"None images need a larger {words} to become a class on the triple-staged "
            f"network than on the direct ones, at every threshold above the lowest.",
            [(d, t) for _, _, d in direct for _, _, t in triple],
            f"medians {shown(direct)}; triple-staged {shown(triple)}"))
    claims += _threshold_order_claim(
        rows, thresholds, field,
        f"The higher the threshold, the more a None image resists becoming a class (a larger "
        f"{words}).",
        "medians", grows=True)
    return claims


def _beyond_paper_claims(metrics: dict, thresholds: tuple[float, ...]) -> list:
    claims = []
    for attack, rows in metrics.get("paired", {}).items():
        spec = spec_of_table(attack)
        if spec.name != attack or spec.claim is None:
            continue  # a variant of the paper's attack is a way to run it, not a defence test
        paired = {row["threshold"]: row for row in rows
                  if row["network"] == TRIPLE_STAGED and row["kind"] == "false-positive"}
        paired = [(t, paired[t]) for t in thresholds if t in paired]
        if paired:
            # Pair by pair: the other attack's steps minus the paper's (a failure counts as one
            # step past the cap) must not be negative, and it must flip no more pairs.
            differences = [(t, _median(row, "effort_difference")) for t, row in paired]
            flipped = [(_success(row, "other"), _success(row, "plain")) for _, row in paired]
            claims.append(_claim(
                f"The triple-staged network's false-positive robustness survives the "
                f"{spec.claim}: on the same images and targets it needs no fewer steps "
                "(median of the paired difference) than the paper's attack, and flips no more.",
                [(_exact(0.0), difference) for _, difference in differences if difference]
                + flipped,
                "; ".join(f"@{t:g}: steps this minus paper "
                          f"{_show(difference) if difference else '-'} (fewer in "
                          f"{row['other_fewer']}, more in {row['other_more']} of {row['pairs']} "
                          f"pairs, sign test p {row['sign_test_p']:.2g}), flipped by the "
                          f"paper's attack {row['plain_flipped']}, by this "
                          f"{row['other_flipped']} of {row['pairs']}"
                          for (t, difference), (_, row) in zip(differences, paired, strict=True)),
                strict=False))
    # Masking, image by image: cells a gradient-free attack broke after every gradient attack
    # had left them robust, out of the cells it looked at (budgeted tables, then each cascade).
    looked = []
    if metrics.get("masking_checked"):
        cells = {(r["network"], r["threshold"], r["epsilon"], r["source"])
                 for r in metrics["masking"]}
        looked.append(("budgeted attacks", len(cells), metrics["masking_checked"]))
    looked += [(f"cascade {name}", len(summary["masking"]), summary["masking_checked"])
               for name, summary in metrics.get("cascades", {}).items()
               if summary.get("masking_checked")]
    if looked:
        broken = sum(cases for _, cases, _ in looked)
        checked = sum(count for _, _, count in looked)
        claims.append(_claim(
            "Gradient attacks are not masked: no gradient-free attack breaks an image at a "
            "budget where every gradient attack left it robust.",
            [((broken / checked, *wilson_interval(broken, checked)), _exact(0.0))],
            "; ".join(f"{where}: broke {cases} of the {count} cells it looked at where every "
                      "gradient attack left the image robust" for where, cases, count in looked),
            strict=False))
    return claims
