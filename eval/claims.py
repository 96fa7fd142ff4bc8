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
    names = {"ifgsm-bpda": "straight-through (BPDA) clip", "adaptive": "adaptive margin loss"}
    for attack, rows in metrics.get("paired", {}).items():
        paired = {row["threshold"]: row for row in rows
                  if row["network"] == "triple-staged" and row["kind"] == "false-positive"}
        paired = [(t, paired[t]) for t in thresholds
                  if t in paired and paired[t]["other_steps"]["median"] is not None]
        if paired:
            claims.append(_claim(
                f"The triple-staged network's false-positive robustness survives the "
                f"{names[attack]}: on the same images and targets it flips no more of them and "
                "needs no fewer steps (median) than the paper's attack.",
                all(row["other_success"] <= row["plain_success"]
                    and row["other_steps"]["median"] >= row["plain_steps"]["median"]
                    for _, row in paired),
                "; ".join(f"@{t:g}: flipped {row['plain_success']:.0%} vs "
                          f"{row['other_success']:.0%}, median steps "
                          f"{row['plain_steps']['median']:g} vs {row['other_steps']['median']:g}"
                          f" ({row['pairs']} pairs)" for t, row in paired)))
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

