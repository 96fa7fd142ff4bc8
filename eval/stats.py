"""Numbers for the report, computed from the record tables only (plain lists of dicts in,
plain dicts out), so every figure and sentence can be recomputed from the files on disk."""

import math
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable

import numpy as np
from scipy.stats import binom, binomtest

from mindseye.attacks.cascade import CLEAN, cascade_cells
from mindseye.attacks.ifgsm import PAPER_ATTACK
from mindseye.core.constants import (
    DIRECT_NETWORKS,
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    NONE_TO_CLASS,
    THRESHOLDS,
    TRIPLE_STAGED,
)

# The table of robust accuracy at each budget that takes, image by image, the worst case over
# every budgeted attack and finished cascade that ran (AutoAttack's headline).
WORST_CASE = "worst-case"

# Table 1 of the paper: clean error rates (fractions). Keys: (network, threshold).
PAPER_ERROR_RATES = {
    **{(network, None): 0.0001 for network in DIRECT_NETWORKS},
    **dict(zip(((TRIPLE_STAGED, threshold) for threshold in THRESHOLDS),
               (0.0134, 0.0057, 0.0309), strict=True)),
}
Z_95 = 1.959963984540054  # two-sided 95% normal quantile
WHISKER_PERCENTILES = (2, 98)


def wilson_interval(errors: int, samples: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when there are no samples."""
    if samples == 0:
        return 0.0, 1.0
    rate = errors / samples
    denominator = 1 + z**2 / samples
    centre = (rate + z**2 / (2 * samples)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / samples + z**2 / (4 * samples**2)) / denominator
    # At 0 or all errors one bound is exactly 0 or 1; say so rather than trust the rounding.
    low = 0.0 if errors == 0 else max(0.0, centre - half)
    high = 1.0 if errors == samples else min(1.0, centre + half)
    return low, high


def setting_key(record: dict) -> tuple[str, float | None]:
    return record["network"], record["threshold"]


def setting_name(network: str, threshold: float | None) -> str:
    return network if threshold is None else f"{network} @{threshold:g}"


def group(records: list[dict], key=setting_key) -> dict:
    groups: dict = defaultdict(list)
    for record in records:
        groups[key(record)].append(record)
    return dict(groups)


def error_table(clean: list[dict], none_label: int) -> list[dict]:
    """Table 1: clean error rate per network and threshold, with a Wilson 95% interval; and the
    same apart for the positive images and the None images (`none_label`), whose errors have
    different causes (a missed or confused object; a class seen in a background)."""
    rows = []
    for (network, threshold), records in group(clean).items():
        row = {"network": network, "threshold": threshold,
               "paper_error_rate": PAPER_ERROR_RATES.get((network, threshold))}
        parts = {"": records,
                 "positive_": [r for r in records if r["label"] != none_label],
                 "none_": [r for r in records if r["label"] == none_label]}
        for prefix, part in parts.items():
            errors = sum(record["decision"] != record["label"] for record in part)
            low, high = wilson_interval(errors, len(part))
            row.update({f"{prefix}samples": len(part), f"{prefix}errors": int(errors),
                        f"{prefix}error_rate": errors / len(part) if part else None,
                        f"{prefix}ci_low": low, f"{prefix}ci_high": high})
        rows.append(row)
    return rows


def clean_ratio_groups(clean: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The triple-staged network's ratios on the clean test images, one value per image
    (clean.jsonl repeats them once per threshold): the positives' own-class ratio, their best
    other-class ratio, and None images' best ratio. None without triple-staged records."""
    rows = {r["source"]: r for r in clean if "ratios" in r}
    if not rows:
        return None
    ratios = np.array([rows[source]["ratios"] for source in sorted(rows)], dtype=float)
    labels = np.array([rows[source]["label"] for source in sorted(rows)], dtype=int)
    num_classes = ratios.shape[1]
    positive = labels < num_classes
    own = ratios[positive, labels[positive]]
    others = np.where(np.eye(num_classes, dtype=bool)[labels[positive]], -np.inf,
                      ratios[positive]).max(axis=1)
    return own, others, ratios[~positive].max(axis=1)


def ratio_margins(clean: list[dict]) -> dict | None:
    """How far the clean decisions are from flipping: spreads of the three groups of
    `clean_ratio_groups`, and the thresholds t (if any) at which the test split has no error,
    low < t <= high: above every None image's best ratio, up to the lowest own ratio, provided
    every positive's own class beats the others. None without triple-staged records."""
    groups = clean_ratio_groups(clean)
    if groups is None:
        return None
    own, others, none_best = groups
    # A positive errs if a threshold is above its own ratio or another class beats its own; a
    # None image errs if the threshold is at or below its best ratio.
    lowest_own = float(own.min()) if own.size else None
    highest_none = float(none_best.max(initial=0.0))
    error_free = (lowest_own is not None and highest_none < lowest_own
                  and bool((own > others).all()))

    def spread(values: np.ndarray) -> dict:
        if values.size == 0:
            return {"min": None, "p1": None, "median": None, "p99": None, "max": None}
        low, middle, high = np.percentile(values, (1, 50, 99))
        return {"min": float(values.min()), "p1": float(low), "median": float(middle),
                "p99": float(high), "max": float(values.max())}

    return {"own_ratio": spread(own), "best_other_ratio": spread(others),
            "none_best_ratio": spread(none_best),
            "error_free_thresholds": [highest_none, lowest_own] if error_free else None}


def confusion_matrices(clean: list[dict], num_labels: int) -> dict[str, list[list[int]]]:
    """Rows: true label; columns: decision."""
    matrices = {}
    for (network, threshold), records in group(clean).items():
        matrix = np.zeros((num_labels, num_labels), dtype=int)
        for record in records:
            matrix[record["label"], record["decision"]] += 1
        matrices[setting_name(network, threshold)] = matrix.tolist()
    return matrices


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """A distribution-free interval for the median: the order statistics x_(j) and x_(n+1-j),
    with j the largest rank for which Binomial(n, 1/2) leaves at most (1 - confidence) / 2 below
    it; it covers the median with at least that probability. None when n is too small for any
    such interval (n <= 5 at 95%)."""
    array = np.sort(np.asarray(values, dtype=float))
    rank = int(binom.ppf((1 - confidence) / 2, len(array), 0.5)) if len(array) else 0  # 1-based
    if rank < 1:
        return None
    return float(array[rank - 1]), float(array[len(array) - rank])


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "median_ci": None, "p2": None, "p98": None, "mean": None}
    array = np.asarray(values, dtype=float)
    low, high = np.percentile(array, WHISKER_PERCENTILES)
    return {"median": float(np.median(array)), "median_ci": median_interval(array),
            "p2": float(low), "p98": float(high), "mean": float(array.mean())}


def effort_table(records: list[dict]) -> list[dict]:
    """Per network, threshold and kind of pair (core.constants.PAIR_KINDS): how many were
    attacked, left out as misclassified, flipped, and stopped by the step cap; steps and
    distortion of the successful ones."""
    rows = []
    by_setting = group(records, lambda r: (r["network"], r["threshold"], r["kind"]))
    for (network, threshold, kind), items in sorted(by_setting.items(), key=_sort_key):
        attacked = [r for r in items if r["status"] == "attacked"]
        succeeded = [r for r in attacked if r["success"]]
        rows.append({
            "network": network, "threshold": threshold, "kind": kind,
            "attacked": len(attacked),
            "misclassified_originals": len({r["source"] for r in items
                                            if r["status"] == "misclassified"}),
            "succeeded": len(succeeded),
            "capped": len(attacked) - len(succeeded),
            "max_steps": max((r["max_steps"] for r in items), default=None),
            "steps": percentiles([r["steps"] for r in succeeded]),
            "distortion": percentiles([r["distortion"] for r in succeeded]),
            "linf": percentiles([r["linf"] for r in succeeded]),
            "ssim": percentiles([r["ssim"] for r in succeeded]),
        })
    return rows


# How a minimal-norm attack's minimised field reads in the report.
MINIMIZED_WORDS = {"distortion": "L2 distortion", "linf": "L-inf distance"}

# The largest distance a record can have: what a failure counts as when pairs are compared by
# distance. `distortion` is the paper's RMS on 0..1, `linf` the largest change in grey levels.
FAILED_DISTANCE = {"distortion": 1.0, "linf": 255.0}


def distance_or_largest(record: dict, field: str) -> float:
    """An attacked record's distance `field`, or the largest there is where it failed."""
    return record[field] if record["success"] else FAILED_DISTANCE[field]


def paired_table(plain: list[dict], other: list[dict], by: str = "steps") -> list[dict]:
    """Another targeted attack against the paper's, on the (source, target) pairs both attacked,
    per network, threshold and kind: success rates, and steps and distortion where both
    succeeded. Pair by pair, effort is the steps to flip, a failure counting as one step past the
    cap: `other_fewer`, `same_effort` and `other_more` count the pairs where the other attack
    needed fewer, as many or more; `sign_test_p` is the two-sided sign test of fewer against
    more (ties left out), and `effort_difference` the spread of other minus paper, with the
    median's interval. `other_fewer_steps` is the share with fewer. `by="distortion"` (or
    `"linf"`) measures effort by that distance instead (`effort_by`), a failure counting as the
    largest there is (FAILED_DISTANCE). `plain_clip_met` counts the
    paper's trajectories that took a step with the estimator's clip engaged, of
    `plain_clip_counted` (records made before the count have none); `copied`, the other
    attack's records copied from the paper's (BPDA, where the clip never engaged)."""
    def by_pair(records: list[dict]) -> dict:
        return {(r["network"], r["threshold"], r["kind"], r["source"], r["target"]): r
                for r in records if r["status"] == "attacked"}

    plain_pairs, other_pairs = by_pair(plain), by_pair(other)
    # In a fixed order: a set's order follows the strings' hashes, which differ from process to
    # process, and would move the means' last bits with the order of summation.
    keys = sorted(plain_pairs.keys() & other_pairs.keys(),
                  key=lambda key: (key[0], -1 if key[1] is None else key[1], *key[2:]))
    shared = group([(key, plain_pairs[key], other_pairs[key]) for key in keys],
                   lambda item: item[0][:3])
    rows = []
    for (network, threshold, kind), items in sorted(shared.items(), key=_sort_key):
        both = [(a, b) for _, a, b in items if a["success"] and b["success"]]

        def effort(record: dict) -> float:
            # By a distance (a minimal-norm attack's steps are fixed), a failure counts as the
            # largest distance there is.
            if by in FAILED_DISTANCE:
                return distance_or_largest(record, by)
            return record["steps"] if record["success"] else record["max_steps"] + 1

        differences = [effort(b) - effort(a) for _, a, b in items]
        fewer = sum(difference < 0 for difference in differences)
        more = sum(difference > 0 for difference in differences)
        counted = [a["clipped_steps"] for _, a, _ in items if "clipped_steps" in a]
        plain_flipped = sum(a["success"] for _, a, _ in items)
        other_flipped = sum(b["success"] for _, _, b in items)
        rows.append({
            "network": network, "threshold": threshold, "kind": kind, "pairs": len(items),
            "plain_flipped": plain_flipped, "other_flipped": other_flipped,
            "plain_success": plain_flipped / len(items),
            "other_success": other_flipped / len(items),
            "both_succeeded": len(both),
            "plain_steps": percentiles([a["steps"] for a, _ in both]),
            "other_steps": percentiles([b["steps"] for _, b in both]),
            "plain_distortion": percentiles([a["distortion"] for a, _ in both]),
            "other_distortion": percentiles([b["distortion"] for _, b in both]),
            # (by L-inf: its spreads too; every attacked record has `linf`)
            **({"plain_linf": percentiles([a["linf"] for a, _ in both]),
                "other_linf": percentiles([b["linf"] for _, b in both])} if by == "linf" else {}),
            "other_fewer": fewer, "same_effort": len(items) - fewer - more, "other_more": more,
            "other_fewer_steps": fewer / len(items),
            "sign_test_p": binomtest(fewer, fewer + more).pvalue if fewer + more else 1.0,
            "effort_difference": percentiles(differences), "effort_by": by,
            "plain_clip_met": sum(count > 0 for count in counted),
            "plain_clip_counted": len(counted),
            "copied": sum("copied_from" in b for _, _, b in items),
        })
    return rows


def network_ratio_table(records: list[dict], field: str) -> list[dict]:
    """A minimal-norm attack's distances on the triple-staged network at each threshold against
    each direct network's, pair by pair (the same kind, source and target): per kind,
    threshold and direct network, `larger`, `same` and `smaller` count the pairs where the
    triple-staged network's distance (`field`, a failure counting as the largest there is) is
    the larger, `sign_test_p` is the two-sided sign test of larger against smaller (ties left
    out), and `ratio` spreads triple-staged over direct on the `both_flipped` pairs (the
    median with its interval)."""
    def by_pair(network: str) -> dict:
        return {(r["kind"], r["source"], r["target"]): r for r in records
                if r["network"] == network and r["status"] == "attacked"}

    triple = group([r for r in records if r["network"] == TRIPLE_STAGED
                    and r["status"] == "attacked"], lambda r: (r["kind"], r["threshold"]))
    rows = []
    for direct in sorted({r["network"] for r in records} & set(DIRECT_NETWORKS)):
        directs = by_pair(direct)
        for (kind, threshold), attacked in sorted(triple.items(), key=_sort_key):
            pairs = [(a, directs[key]) for a in attacked
                     if (key := (a["kind"], a["source"], a["target"])) in directs]
            if not pairs:
                continue
            gaps = [distance_or_largest(a, field) - distance_or_largest(b, field)
                    for a, b in pairs]
            larger, smaller = sum(gap > 0 for gap in gaps), sum(gap < 0 for gap in gaps)
            # An attacked source is decided right, so a flip moved it: no distance is 0.
            both = [a[field] / b[field] for a, b in pairs if a["success"] and b["success"]]
            rows.append({"kind": kind, "threshold": threshold, "direct": direct,
                         "pairs": len(pairs), "larger": larger, "smaller": smaller,
                         "same": len(pairs) - larger - smaller,
                         "sign_test_p": binomtest(larger, larger + smaller).pvalue
                         if larger + smaller else 1.0,
                         "both_flipped": len(both), "ratio": percentiles(both)})
    return rows


def robust_accuracy(records: list[dict], none_label: int) -> list[dict]:
    """Share of images still decided right after the attack, per network, threshold, budget,
    with Wilson intervals; also apart for the positive sources and the None sources
    (`positive_robust` of `positive_samples`, `none_robust` of `none_samples`), because an
    untargeted attack on a positive mostly makes a false negative and on None a false
    positive, and the triple-staged network resists the two very differently."""
    rows = []
    by_budget = group(records, lambda r: (r["network"], r["threshold"], r["epsilon"]))
    for (network, threshold, epsilon), items in sorted(by_budget.items(), key=_sort_key):
        robust = sum(r["robust"] for r in items)
        low, high = wilson_interval(len(items) - robust, len(items))
        nones = [r for r in items if r["source_class"] == none_label]
        none_robust = sum(r["robust"] for r in nones)
        rows.append({
            "network": network, "threshold": threshold, "epsilon": epsilon,
            "samples": len(items), "robust_accuracy": robust / len(items),
            "ci_low": 1 - high, "ci_high": 1 - low,
            "positive_robust": robust - none_robust, "positive_samples": len(items) - len(nones),
            "none_robust": none_robust, "none_samples": len(nones),
        })
    return rows


def worst_case_records(tables: dict[str, list[dict]],
                       targeted: dict[str, list[dict]] | None = None) -> list[dict]:
    """Per network, threshold, budget and image: robust only if every table that has it (a
    budgeted attack's records, a cascade's cells) left it robust and no `targeted` attack made
    it another class within the budget (AutoAttack's headline, image by image, over every
    attack). A targeted attack's success is a wrong decision at its threshold, so it breaks
    every cell there whose budget its L-inf is within; it adds no image (the cells are the
    budgeted tables'). `attacks` names the attacks that ran on the image and `broken_by` those
    that broke it."""
    merged: dict[tuple, dict] = {}
    for attack, records in tables.items():
        for record in records:
            key = (record["network"], record["threshold"], record["epsilon"], record["source"])
            row = merged.setdefault(key, {**{name: record[name] for name in (
                "network", "threshold", "epsilon", "source", "source_class")},
                "attack": WORST_CASE, "robust": True, "attacks": [], "broken_by": []})
            row["attacks"].append(attack)
            if not record["robust"]:
                row["robust"] = False
                row["broken_by"].append(attack)
    for attack, records in (targeted or {}).items():
        closest: dict[tuple, float] = {}  # (network, threshold, source) -> nearest success
        for record in records:
            if record.get("status") == "attacked":
                key = (record["network"], record["threshold"], record["source"])
                closest[key] = min(closest.get(key, math.inf),
                                   record["linf"] if record["success"] else math.inf)
        for row in merged.values():
            distance = closest.get((row["network"], row["threshold"], row["source"]))
            if distance is None:
                continue
            row["attacks"].append(attack)
            if distance <= row["epsilon"]:
                row["robust"] = False
                row["broken_by"].append(attack)
    return list(merged.values())


def pair_kind(source_class: int, decision: int, none_label: int) -> str:
    """Which kind of pair an adversarial makes: a None image made a class, a positive made
    None, or a positive made another positive class."""
    if source_class == none_label:
        return NONE_TO_CLASS
    return FALSE_NEGATIVE if decision == none_label else FALSE_POSITIVE


def closest_by_source(targeted: dict[str, list[dict]], budgeted: dict[str, list[dict]],
                      none_label: int, sampled: Collection[str] = ()) -> dict[tuple, dict]:
    """Every attack read one direction at a time: per network, threshold and kind of pair, each
    source's closest adversarial of that kind by L-inf (`closest`: source -> distance, inf where
    no attack made one) and the tables counted (`attacks`). A false positive is any other
    positive class, a false negative None, a None image made any class. An untargeted budgeted
    attack (a cascade) stops at the first wrong decision, which on a positive is mostly None, so
    alone it cannot say whether a false positive was within reach; the targeted records can, by
    their L-inf, and every broken budgeted cell adds its own (a cascade cell keeps the
    adversarial of the member that broke it first; one without a recorded distance counts at
    its budget).

    The sources are those every targeted table with records of the setting attacked (correctly
    decided there, so what follows is conditional on the clean decision) and every budgeted
    table of the network and threshold took, except the `sampled` ones, which took only some
    images (the first few of each label, or what the gradient attacks left robust): each source
    met every attack that took all of them. Every found distance is an upper bound on the true
    smallest."""
    attacked = defaultdict(lambda: defaultdict(dict))  # setting -> table -> source -> closest
    for table, records in targeted.items():
        for record in records:
            if record.get("status") != "attacked":
                continue
            found = attacked[(record["network"], record["threshold"], record["kind"])][table]
            closest = found.get(record["source"], math.inf)
            found[record["source"]] = (min(closest, record["linf"]) if record["success"]
                                       else closest)
    broken = defaultdict(lambda: defaultdict(lambda: math.inf))  # setting -> source -> L-inf
    # (network, threshold) -> budgeted table -> the sources it took there
    took = defaultdict(lambda: defaultdict(set))
    for table, rows in budgeted.items():
        for row in rows:
            took[(row["network"], row["threshold"])][table].add(row["source"])
            # A clean error (a cascade's "clean" member, a budgeted record's clean decision) is
            # no attack's doing.
            if (row["robust"] or row.get("decision") is None or row.get("broken_by") == CLEAN
                    or row.get("clean_decision", row["source_class"]) != row["source_class"]):
                continue
            kind = pair_kind(row["source_class"], row["decision"], none_label)
            setting = (row["network"], row["threshold"], kind)
            distance = row["epsilon"] if row.get("linf") is None else row["linf"]
            broken[setting][row["source"]] = min(broken[setting][row["source"]], distance)
    found = {}
    for setting, by_table in sorted(attacked.items(), key=lambda item: _sort_key((item[0],))):
        complete = [taken for table, taken in took[setting[:2]].items() if table not in sampled]
        sources = sorted(set.intersection(*(set(seen) for seen in by_table.values()), *complete))
        found[setting] = {
            "closest": {source: min(broken[setting][source],
                                    *(seen[source] for seen in by_table.values()))
                        for source in sources},
            "attacks": sorted({*by_table, *took[setting[:2]]})}
    return found


def within_reach(reach: dict[tuple, dict], epsilons: tuple[float, ...]) -> list[dict]:
    """Per network, threshold, kind of pair and L-inf budget (`closest_by_source`'s settings):
    how many sources no attack took to that kind within the budget (`out_of_reach` of
    `sources`, with Wilson's interval for the share; a distance exactly at the budget is within
    it). Found distances are upper bounds, so these counts are too."""
    rows = []
    for (network, threshold, kind), found in reach.items():
        closest = found["closest"].values()
        for epsilon in epsilons:
            out = sum(distance > epsilon for distance in closest)
            low, high = wilson_interval(len(closest) - out, len(closest))
            rows.append({"network": network, "threshold": threshold, "kind": kind,
                         "epsilon": epsilon, "sources": len(closest), "out_of_reach": out,
                         "ci_low": 1 - high, "ci_high": 1 - low, "attacks": found["attacks"]})
    return rows


def paired_within_reach(reach: dict[tuple, dict], epsilons: tuple[float, ...]) -> list[dict]:
    """The triple-staged network at each threshold against each direct network, kind by kind
    and budget by budget, on the sources both were attacked on: `eval.stats.paired_robustness`
    with "out of reach" as "robust" (`first` the direct network, `second` the triple-staged
    one: `difference` is the triple-staged share minus the direct one, with its paired interval
    and McNemar's test)."""
    def as_records(setting: tuple) -> list[dict]:
        return [{"epsilon": epsilon, "source": source, "robust": distance > epsilon}
                for source, distance in reach[setting]["closest"].items()
                for epsilon in epsilons]

    rows = []
    for direct in sorted(key for key in reach if key[0] in DIRECT_NETWORKS):
        for triple in sorted(key for key in reach if key[0] == TRIPLE_STAGED
                             and key[2] == direct[2]):
            for row in paired_robustness(as_records(direct), as_records(triple)):
                rows.append({"kind": direct[2], "first": direct[0], "threshold": triple[1],
                             **row})
    return rows


def paired_difference_interval(both: int, first_only: int, second_only: int, neither: int,
                               z: float = Z_95) -> tuple[float, float]:
    """95% interval for p2 - p1, two proportions measured on the same items (p1 = (both +
    first_only) / n, p2 = (both + second_only) / n): Bonett and Price's (2012) adjusted Wald
    interval, which adds one to each discordant count and two to n. Only the discordant pairs
    carry the difference; unlike Newcombe's method 10 it does not shrink to a point when there
    are none, and unlike the plain Wald interval it keeps its coverage near 0 and 1."""
    n = both + first_only + second_only + neither
    first_adjusted = (first_only + 1) / (n + 2)
    second_adjusted = (second_only + 1) / (n + 2)
    centre = second_adjusted - first_adjusted
    half = z * math.sqrt((first_adjusted + second_adjusted - centre**2) / (n + 2))
    return max(-1.0, centre - half), min(1.0, centre + half)


def paired_robustness(first: list[dict], second: list[dict]) -> list[dict]:
    """Two settings' robustness records (one network at one threshold each, any budgeted table or
    the worst case) on the images both were attacked on, budget by budget: how many each left
    robust, how many only one did, the difference in robust accuracy (second minus first) with
    a paired interval (`paired_difference_interval`), and McNemar's exact test (a sign test on
    the images where the two disagree)."""
    def by_image(records: list[dict]) -> dict:
        return {(r["epsilon"], r["source"]): r["robust"] for r in records}

    first_robust, second_robust = by_image(first), by_image(second)
    shared = group(first_robust.keys() & second_robust.keys(), lambda key: key[0])
    rows = []
    for epsilon, keys in sorted(shared.items()):
        both = sum(first_robust[k] and second_robust[k] for k in keys)
        first_only = sum(first_robust[k] and not second_robust[k] for k in keys)
        second_only = sum(second_robust[k] and not first_robust[k] for k in keys)
        neither = len(keys) - both - first_only - second_only
        low, high = paired_difference_interval(both, first_only, second_only, neither)
        discordant = first_only + second_only
        rows.append({
            "epsilon": epsilon, "images": len(keys),
            "first_robust": both + first_only, "second_robust": both + second_only,
            "first_only": first_only, "second_only": second_only,
            "difference": (second_only - first_only) / len(keys), "ci_low": low, "ci_high": high,
            "mcnemar_p": binomtest(first_only, discordant).pvalue if discordant else 1.0,
        })
    return rows


def _robust_under_gradients(gradient: dict[str, list[dict]]) -> dict[tuple, bool]:
    return {(row["network"], row["threshold"], row["epsilon"], row["source"]): row["robust"]
            for row in worst_case_records(gradient)}


def _cell(record: dict) -> tuple:
    return record["network"], record["threshold"], record["epsilon"], record["source"]


def masking_checked(gradient: dict[str, list[dict]], gradient_free: dict[str, list[dict]]
                    ) -> int:
    """How many cells (network, threshold, budget, image) some gradient-free attack ran on
    where every gradient attack that ran there left the image robust: what `masking_cases`
    looked through."""
    robust_under_gradients = _robust_under_gradients(gradient)
    return len({_cell(record) for records in gradient_free.values() for record in records
                if record["clean_decision"] == record["source_class"]
                and robust_under_gradients.get(_cell(record))})


def masking_cases(gradient: dict[str, list[dict]], gradient_free: dict[str, list[dict]]
                  ) -> list[dict]:
    """Images a gradient-free attack broke at a budget where every gradient attack that ran on
    the same image and budget left it robust: signs of gradient masking, one row each."""
    robust_under_gradients = _robust_under_gradients(gradient)
    cases = []
    for attack, records in gradient_free.items():
        for record in records:
            if (not record["robust"] and record["clean_decision"] == record["source_class"]
                    and robust_under_gradients.get(_cell(record))):
                cases.append({"attack": attack, **{name: record[name] for name in (
                    "network", "threshold", "epsilon", "source", "source_class", "decision",
                    "linf")}})
    return sorted(cases, key=lambda r: (r["network"], r["threshold"] or 0, r["epsilon"],
                                        r["source"], r["attack"]))


def transfer_table(records: list[dict]) -> list[dict]:
    """Per origin (network, and for the triple-staged network's adversarials the attack table
    and threshold they were made with), victim setting and kind: how many adversarials fooled
    the victim into the target, and how many it still got right."""
    rows = []
    by_pair = group(records, lambda r: (r["origin"], r.get("origin_attack", PAPER_ATTACK.name),
                                        r.get("origin_threshold"), r["network"],
                                        r["threshold"], r["kind"]))
    for key, items in sorted(by_pair.items(), key=_sort_key):
        origin, origin_attack, origin_threshold, network, threshold, kind = key
        fooled = sum(r["fooled"] for r in items)
        still_correct = sum(r["still_correct"] for r in items)
        rows.append({
            "origin": origin, "origin_attack": origin_attack,
            "origin_threshold": origin_threshold, "network": network, "threshold": threshold,
            "kind": kind,
            "adversarials": len(items),
            "fooled": fooled, "fooled_rate": fooled / len(items),
            "fooled_ci": wilson_interval(fooled, len(items)),
            "still_correct": still_correct, "still_correct_rate": still_correct / len(items),
            "still_correct_ci": wilson_interval(still_correct, len(items)),
        })
    return rows


def setting_order(key: tuple) -> tuple:
    """A sort key for a group's key (network, threshold, ...): None thresholds first."""
    return tuple((value is not None, value) for value in key)


def _sort_key(item: tuple) -> tuple:
    """Sort grouped items by their key with None thresholds first."""
    return setting_order(item[0])


def _empty_cost() -> dict:
    """A unit cost row with nothing spent."""
    return {"units": 0, "images": 0, "forward": 0, "backward": 0, "wall_s": 0.0}


def unit_costs(records: list[dict], metas: dict[str, dict],
               group_of: Callable[[dict], Hashable]) -> dict[Hashable, dict]:
    """The recorded cost of a cascade's units (their meta's forward and backward passes and wall
    time), summed per group: `group_of` names a record's group (its member, say), and a unit
    belongs to the group of its records. Each group also counts its units and its records
    (attacked images)."""
    group_of_unit = {record["unit"]: group_of(record) for record in records}
    costs: dict[Hashable, dict] = defaultdict(_empty_cost)
    for record in records:
        costs[group_of_unit[record["unit"]]]["images"] += 1
    for unit, meta in metas.items():
        if unit not in group_of_unit:  # no records, no group: a cascade's `finished` mark
            continue
        cost = costs[group_of_unit[unit]]
        cost["units"] += 1
        for key in ("forward", "backward", "wall_s"):
            cost[key] += meta.get("cost", {}).get(key, 0)
    return dict(costs)


def cascade_summary(records: list[dict], metas: dict[str, dict], members: tuple[str, ...],
                    gradient: dict[str, bool], epsilons: tuple[float, ...],
                    none_label: int) -> dict:
    """A cascade's records read as the report shows them: its worst-case robust accuracy (a
    cell is robust only if no member broke it), which member broke each setting's cells first,
    what each member cost (passes and wall time, summed over its units), the cells that a
    gradient-free member broke after every gradient member had failed there (a sign of
    gradient masking; the report lists them image by image), and what each gradient-free
    member could do at all (`gradient_free_reach`: per network, member and kind of source, its
    attacks and how many of them made the image wrong at the threshold attacked, within the
    budget attacked; a member that never makes a None image a class cannot show masking on
    one)."""
    cells = cascade_cells(records, members, epsilons)
    # the cells a gradient-free member attacked (HopSkipJump's one run: every budget)
    attacked_free = {(record["network"], record["attacked_threshold"], epsilon, record["source"])
                     for record in records
                     if record["member"] != CLEAN and not gradient[record["member"]]
                     for epsilon in ((record["attacked_epsilon"],)
                                     if record["attacked_epsilon"] is not None else epsilons)}
    masking = [cell for cell in cells if cell["broken_by"] not in (None, CLEAN)
               and not gradient[cell["broken_by"]]]
    first: dict = defaultdict(int)
    for cell in cells:
        if not cell["robust"]:
            first[(cell["network"], cell["threshold"], cell["epsilon"], cell["broken_by"])] += 1
    reach: dict = defaultdict(lambda: [0, 0])
    for record in records:
        if record["member"] == CLEAN or gradient[record["member"]]:
            continue
        sources = "none" if record["source_class"] == none_label else "positive"
        decision = record["decisions"][record["thresholds"].index(record["attacked_threshold"])]
        counts = reach[(record["network"], record["member"], sources)]
        counts[0] += 1
        counts[1] += decision != record["source_class"]
    # every member has a row, one that never ran (nothing left to attack) a row of zeros
    costs = {member: _empty_cost() for member in (CLEAN, *members)}
    costs |= unit_costs(records, metas, lambda record: record["member"])
    networks = {record["network"] for record in records}
    return {
        "robust_accuracy": robust_accuracy(cells, none_label),
        "first_breakers": [{"network": network, "threshold": threshold, "epsilon": epsilon,
                            "member": member, "cells": count}
                           for (network, threshold, epsilon, member), count in first.items()],
        "costs": costs,
        "masking": masking,
        "gradient_free_reach": [{"network": network, "member": member, "sources": sources,
                                 "attacked": attacked, "made_wrong": wrong}
                                for (network, member, sources), (attacked, wrong)
                                in sorted(reach.items())],
        # what the masking list looked through: cells every gradient member left robust that a
        # gradient-free member attacked, or broke from another cell (a flip at another
        # threshold, or within a smaller budget than it was attacked at)
        "masking_checked": len(masking) + sum(
            1 for cell in cells if cell["broken_by"] is None and _cell(cell) in attacked_free),
        # per network of the records, from its clean unit (attacks.cascade.sanity_checks)
        "checks": {unit.removeprefix(f"{CLEAN}-"): meta["checks"]
                   for unit, meta in metas.items() if "checks" in meta
                   and unit.removeprefix(f"{CLEAN}-") in networks},
    }


def errors_by_photo(clean: list[dict], photos: np.ndarray, none_label: int) -> list[dict]:
    """Per setting and background photo: how many None test images were cropped from it
    (`photos`, the test split's `background` field) and how many of them the setting called a
    class; photos with errors only, most errors first."""
    rows = []
    for (network, threshold), records in group(clean).items():
        counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for record in records:
            if record["label"] == none_label:
                count = counts[int(photos[record["source"]])]
                count[0] += 1
                count[1] += record["decision"] != none_label
        rows += sorted(({"network": network, "threshold": threshold, "photo": photo,
                         "none_images": images, "errors": errors}
                        for photo, (images, errors) in counts.items() if errors),
                       key=lambda row: (-row["errors"], row["photo"]))
    return rows
