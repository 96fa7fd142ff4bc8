"""The paper's claims (and a reviewer's), each checked against the computed numbers.

A verdict is True (the numbers agree), False (they contradict it) or None (not enough data).
Nothing here is hard-coded to an outcome: every verdict is a comparison of measured values.
"""

from eval.stats import setting_name

DISTORTION_CLAIM = 0.1  # "the median of their distortion is still below 0.1" (paper, section 4)


def _rows(metrics: dict, attack: str, kind: str) -> dict:
    rows = metrics.get("effort", {}).get(attack, [])
    return {(r["network"], r["threshold"]): r for r in rows if r["kind"] == kind}


def _median(row: dict | None, field: str) -> float | None:
    return None if row is None else row[field]["median"]


def _claim(text: str, holds: bool | None, evidence: str) -> dict:
    return {"claim": text, "holds": holds, "evidence": evidence}


def check_claims(metrics: dict, thresholds: tuple[float, ...]) -> list[dict]:
    claims = []
    table = {(r["network"], r["threshold"]): r for r in metrics.get("table1", [])}
    direct = [table[key] for key in (("direct", None), ("direct-param", None)) if key in table]
    triple = [table[("triple-staged", t)] for t in thresholds if ("triple-staged", t) in table]
    if direct and triple:
        worst_direct = max(r["error_rate"] for r in direct)
        best_triple = min(r["error_rate"] for r in triple)
        claims.append(_claim(
            "The direct networks have the lowest clean error rate.",
            worst_direct <= best_triple,
            f"highest direct error {worst_direct:.2%}, lowest triple-staged {best_triple:.2%}"))

    positives = _rows(metrics, "ifgsm", "false-positive")
    negatives = _rows(metrics, "ifgsm", "false-negative")
    direct_fp = [(name, _median(positives.get((name, None)), "distortion"))
                 for name in ("direct", "direct-param")]
    direct_fp = [(name, value) for name, value in direct_fp if value is not None]
    if direct_fp:
        claims.append(_claim(
            f"False positives on the direct networks need little change (median distortion "
            f"below {DISTORTION_CLAIM}).",
            all(value < DISTORTION_CLAIM for _, value in direct_fp),
            ", ".join(f"{name}: {value:.4f}" for name, value in direct_fp)))

    triple_fp = [(t, _median(positives.get(("triple-staged", t)), "steps")) for t in thresholds]
    triple_fp = [(t, value) for t, value in triple_fp if value is not None]
    direct_steps = [_median(positives.get((name, None)), "steps")
                    for name in ("direct", "direct-param")]
    direct_steps = [value for value in direct_steps if value is not None]
    if triple_fp and direct_steps:
        claims.append(_claim(
            "False positives need more steps on the triple-staged network than on the direct "
            "ones, at every threshold.",
            min(value for _, value in triple_fp) > max(direct_steps),
            f"median steps direct {max(direct_steps):g}; triple-staged "
            + ", ".join(f"@{t:g}: {value:g}" for t, value in triple_fp)))

    claims += _monotone_claims(positives, negatives, thresholds)
    claims += _beyond_paper_claims(metrics, thresholds)
    return claims


def _monotone_claims(positives: dict, negatives: dict, thresholds: tuple[float, ...]) -> list:
    claims = []
    ordered = sorted(thresholds)
    fp = [_median(positives.get(("triple-staged", t)), "distortion") for t in ordered]
    if len(ordered) > 1 and None not in fp:
        claims.append(_claim(
            "The higher the threshold, the larger the distortion a false positive needs.",
            all(a < b for a, b in zip(fp, fp[1:], strict=False)),
            ", ".join(f"@{t:g}: {value:.4f}" for t, value in zip(ordered, fp, strict=True))))
    fn = [_median(negatives.get(("triple-staged", t)), "steps") for t in ordered]
    if len(ordered) > 1 and None not in fn:
        claims.append(_claim(
            "False negatives are resisted better at a lower threshold (more steps needed).",
            all(a > b for a, b in zip(fn, fn[1:], strict=False)),
            ", ".join(f"@{t:g}: {value:g} steps" for t, value in zip(ordered, fn, strict=True))))
    return claims


def _beyond_paper_claims(metrics: dict, thresholds: tuple[float, ...]) -> list:
    claims = []
    plain = _rows(metrics, "ifgsm", "false-positive")
    bpda = _rows(metrics, "ifgsm-bpda", "false-positive")
    adaptive = _rows(metrics, "adaptive", "false-positive")
    for name, other in (("straight-through (BPDA) clip", bpda), ("adaptive margin loss", adaptive)):
        pairs = [(t, _success(plain.get(("triple-staged", t))), _success(other.get(
            ("triple-staged", t)))) for t in thresholds]
        pairs = [(t, a, b) for t, a, b in pairs if a is not None and b is not None]
        if pairs:
            claims.append(_claim(
                f"The triple-staged network's false-positive robustness survives the {name} "
                "(success rate no higher than the paper's attack).",
                all(b <= a for _, a, b in pairs),
                ", ".join(f"@{t:g}: paper's attack {a:.0%}, {name} {b:.0%}"
                          for t, a, b in pairs)))
    curves = metrics.get("robust_accuracy", {})
    pgd = {(r["network"], r["threshold"], r["epsilon"]): r["robust_accuracy"]
           for r in curves.get("pgd", [])}
    square = {(r["network"], r["threshold"], r["epsilon"]): r["robust_accuracy"]
              for r in curves.get("square", [])}
    shared = sorted(set(pgd) & set(square), key=lambda k: (k[0], k[1] or 0, k[2]))
    if shared:
        masked = [key for key in shared if square[key] < pgd[key]]
        claims.append(_claim(
            "Gradient attacks are not masked: the gradient-free Square attack never does "
            "better than PGD at the same budget.",
            not masked,
            "Square beat PGD at " + (", ".join(
                f"{setting_name(n, t)} eps {e:g} ({square[(n, t, e)]:.0%} vs {pgd[(n, t, e)]:.0%})"
                for n, t, e in masked) or "no budget")))
    return claims


def _success(row: dict | None) -> float | None:
    if row is None or row["attacked"] == 0:
        return None
    return row["succeeded"] / row["attacked"]
