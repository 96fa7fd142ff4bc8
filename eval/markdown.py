"""report.md: the metrics of eval/report.py as Markdown text. Formatting only, no computing."""

from mindseye.attacks.ifgsm import PAPER_ATTACK
from mindseye.attacks.registry import spec_of_table
from mindseye.attacks.transfer import TRANSFER_ATTACK
from mindseye.core.constants import NONE_TO_CLASS, PAPER_STEP_CAP, TRIPLE_STAGED
from mindseye.eval.provenance import CLEAN_RECIPE, VERDICT_PER_CLASS
from mindseye.eval.stats import MINIMIZED_WORDS, WORST_CASE, group, setting_name


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def rate_text(rate: float, low: float, high: float) -> str:
    """A rate as a percentage with its interval: 12.50% [8.1-18.2]."""
    return f"{percent(rate)} [{100 * low:.1f}-{100 * high:.1f}]"


def interval_text(count: int, total: int, interval: tuple[float, float]) -> str:
    """`count` of `total` as rate_text, or "-" when there is none."""
    return rate_text(count / total, *interval) if total else "-"


def median_text(spread: dict) -> str:
    """A percentiles() median with its interval, '0 [-3 to 2]'; '-' with no values."""
    if spread["median"] is None:
        return "-"
    interval = spread["median_ci"]
    bounds = f" [{number(interval[0])} to {number(interval[1])}]" if interval else ""
    return f"{number(spread['median'])}{bounds}"


def number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def provenance_text(made: dict | None) -> list[str]:
    """The report's first lines: what made it, and whether its verdicts can speak for the paper."""
    if not made:
        return []
    data, attacks = made["data"], made["attacks"]
    trained = ", ".join(f"{name} {network['steps']} steps" for name, network
                        in made["networks"].items())
    seeds = sorted({network["seed"] for network in made["networks"].values()}, key=str)
    lines = [f"Made by mindseye at {made['commit']} from:",
             f"- training preset {', '.join(made['training_presets']) or '-'} ({trained}; "
             f"seed {', '.join(map(str, seeds))}"
             + (f"; adversarial training {made['recipe']}, the projector trained on poses as "
                "always" if made.get("recipe", CLEAN_RECIPE) != CLEAN_RECIPE else "") + ")",
             f"- data: {data['per_class']} training and {data['test_per_class']} test images "
             f"per class, seed {data['seed']}, backgrounds {data['backgrounds']}"]
    ran = made.get("attacks_run") or []
    if attacks and ran:
        lines.append(f"- attacks: {attacks_run_text(ran)}; at most {attacks['max_steps']} "
                     f"steps; budgets {', '.join(f'{e:g}' for e in attacks['epsilons'])} grey "
                     f"levels{attack_settings_text(ran, attacks)}")
    else:
        lines.append("- attacks: none run yet")
    if not made.get("trained_for_verdicts", made["sizes_enough_for_verdicts"]):
        lines += ["", "**These sizes are below what a verdict on the paper needs** (the medium "
                  "preset: networks trained for over an hour, "
                  f"{VERDICT_PER_CLASS} attacked images per class). "
                  "The verdicts below test that the pipeline works, not the paper; the "
                  "measured experiment and its verdicts are in the repository's "
                  "`results/README.md`."]
    elif not made["sizes_enough_for_verdicts"] and attacks:
        short = made["sizes_short_of_preset"]
        lines += ["", "**Attack sizes below the medium preset's** (" + "; ".join(
            f"{SIZE_NAMES[name]}: {sizes['ran']} test images per class, the preset "
            f"{sizes['preset']}" for name, sizes in short.items()) + "). The networks are "
            "trained as the medium preset trains them, so the verdicts below judge the paper "
            "at these sizes; each says whether its 95% intervals agree with it."]
    return [*lines, ""]


def attacks_run_text(ran: list[dict]) -> str:
    """'ifgsm on 50 test images per class; reviewer (apgd-ce, square-5000 on 50; hsj on 25)
    on 50 test images per class': what ran, grouped by the test images per class each took."""
    def grouped(rows: list[dict], unit: str) -> list[str]:
        sizes = sorted({row["per_class"] for row in rows}, reverse=True)
        return [", ".join(row["name"] + members_text(row.get("members"), row["per_class"])
                          for row in rows if row["per_class"] == size) + f" on {size}{unit}"
                for size in sizes]

    def members_text(members: list[dict] | None, size: int) -> str:
        if not members:
            return ""
        if all(member["per_class"] == size for member in members):
            return f" ({', '.join(member['name'] for member in members)})"
        return f" ({'; '.join(grouped(members, ''))})"

    return "; ".join(grouped(ran, " test images per class"))


def attack_settings_text(ran: list[dict], settings: dict) -> str:
    """' (20 PGD iterations, ...)': the lock's settings that shape the attacks that ran, alone
    or in a cascade (each spec's `settings`)."""
    names = [row["name"] for row in ran] + [
        member["name"] for row in ran for member in row.get("members", [])]
    fields = {field: None for name in names for field in spec_of_table(name).settings}
    said = [SETTING_WORDS[field].format(settings[field]) for field in fields]
    return f" ({', '.join(said)})" if said else ""


# How the report's attacks line says each setting an attack spec names.
SETTING_WORDS = {"gradient_precision": "{} gradients of the triple-staged network",
                 "pgd_iterations": "{} PGD iterations", "square_queries": "{} Square queries",
                 "fmn_steps": "{} FMN steps", "hsj_iterations": "{} HopSkipJump iterations",
                 "hsj_evaluations": "up to {} HopSkipJump probes per estimate"}


# What each attack size of the settings lock counts, in a report's words.
SIZE_NAMES = {"per_class": "the paper's attack and BPDA",
              "extra_per_class": "the attacks beyond the paper"}


def running_text(running: list[dict] | None) -> list[str]:
    """The targeted attacks still running, which every table and verdict below leaves out
    where they run until they have finished."""
    if not running:
        return []
    where = "; ".join(
        f"{row['attack']} on {row['network']}"
        + (" from None sources" if row["none_sources"] else "")
        + f" ({row['units_done']} of {row['units_planned']} units)" for row in running)
    return ["**Still running**, left out of every table and verdict below until finished: "
            f"{where}.", ""]


def _part_error(row: dict, part: str) -> str:
    """One part of a Table 1 row (`positive_` or `none_`): rate [CI] (errors / images)."""
    if not row.get(f"{part}samples"):  # reports written before the parts were counted
        return "-"
    return (f"{rate_text(row[f'{part}error_rate'], row[f'{part}ci_low'], row[f'{part}ci_high'])}"
            f" ({row[f'{part}errors']} / {row[f'{part}samples']})")


PHOTOS_SHOWN = 5  # per setting, the photos with most None errors


def photo_error_text(found: dict | None) -> list[str]:
    """Which background photos the None errors come from (the shards' `background` field)."""
    if not found or not found["rows"]:
        return []
    lines = [f"Where the None errors come from: the test's None images are crops of "
             f"{found['photos_in_test']} photos; per setting, the {PHOTOS_SHOWN} photos with "
             "most errors (errors of None images cropped from it):", "",
             "| setting | photos (errors / images) |", "|---|---|"]
    for (network, threshold), rows in group(found["rows"]).items():
        total = sum(row["errors"] for row in rows)
        shown = ", ".join(f"{row['photo']} {row['name']} ({row['errors']} / "
                          f"{row['none_images']})" for row in rows[:PHOTOS_SHOWN])
        lines.append(f"| {setting_name(network, threshold)} | {shown}; {total} errors on "
                     f"{len(rows)} photos |")
    return [*lines, ""]


def cascade_text(name: str, summary: dict) -> list[str]:
    """A cascade's costs, first breakers and masking cells (its robust accuracy is drawn with
    the other attacks')."""
    lines = [f"## The {name} cascade: who broke what first, and at what cost", "",
             "Each member ran only on the cells (image, threshold, budget) that every member "
             f"before it left robust; its robust accuracy is the table \"{name}\" above, a "
             "cell robust only if no member broke it. Passes are images through the network, "
             "counted as they ran."
             + (f" Still running on {', '.join(summary['unfinished'])}, left out here and "
                "from the worst case until every member has run there."
                if summary.get("unfinished") else ""), "",
             "| member | units | forward passes | backward passes | wall time |",
             "|---|---|---|---|---|"]
    for member, cost in summary["costs"].items():
        lines.append(f"| {member} | {cost['units']} | {cost['forward']:,} | "
                     f"{cost['backward']:,} | {cost['wall_s'] / 60:.1f} min |")
    lines += ["", "| setting | eps | cells broken first by |", "|---|---|---|"]
    breakers = group(summary["first_breakers"],
                     lambda r: (r["network"], r["threshold"], r["epsilon"]))
    for (network, threshold, epsilon), rows in breakers.items():
        lines.append(f"| {setting_name(network, threshold)} | {epsilon:g} | " + ", ".join(
            f"{row['member']} {row['cells']}" for row in rows) + " |")
    lines += ["", "AutoAttack's checks on the clean images: the share whose cross-entropy gradient "
              "is zero everywhere, and the largest change of a score between two forward passes "
              "of the same image.", "", "| setting | zero gradient | repeat difference |",
              "|---|---|---|"]
    for network, by_threshold in summary.get("checks", {}).items():
        for threshold, check in by_threshold.items():
            setting = setting_name(network, None if threshold == "None" else float(threshold))
            lines.append(f"| {setting} | {100 * check['zero_gradient_share']:.1f}% | "
                         f"{check['repeat_max_difference']:.2g} |")
    reach = summary.get("gradient_free_reach", [])
    if reach:
        lines += ["", "What each gradient-free member could do at all: its attacks, and how many "
                  "made the image wrong at the threshold attacked, within the budget attacked "
                  "(HopSkipJump: at any distance). One that never makes a None image a class "
                  "cannot show masking on None images.", "",
                  "| network | member | sources | attacked | made wrong |", "|---|---|---|---|---|"]
        lines += [f"| {row['network']} | {row['member']} | {row['sources']} | "
                  f"{row['attacked']} | {row['made_wrong']} |" for row in reach]
    masking = summary["masking"]
    images = group(masking, lambda cell: (cell["network"], cell["source"]))
    lines += ["", f"Images a gradient-free member broke where every gradient member had failed "
              f"(a sign of gradient masking): {len(images) or 'none'}"
              + (f", in {len(masking)} cells." if masking else ".")]
    if masking:
        lines += ["", "| network | test image | class | broken by | where (threshold: budgets) "
                  "| smallest L-inf |", "|---|---|---|---|---|---|"]
        for (network, source), cells in images.items():
            where = group(cells, lambda cell: cell["threshold"])
            places = "; ".join(
                f"{'-' if threshold is None else f'@{threshold:g}'}: "
                + ", ".join(f"{cell['epsilon']:g}" for cell in by_threshold)
                for threshold, by_threshold in where.items())
            members = ", ".join(dict.fromkeys(cell["broken_by"] for cell in cells))
            lines.append(f"| {network} | {source} | {cells[0]['source_class']} | {members} | "
                         f"{places} | {min(cell['linf'] for cell in cells):.0f} |")
    return [*lines, ""]


def within_reach_text(rows: list[dict], paired: list[dict]) -> list[str]:
    """eval.stats.within_reach as a table, one row per network, threshold and kind; then
    eval.stats.paired_within_reach, one row per kind, threshold and direct network."""
    if not rows:
        return []
    epsilons = sorted({r["epsilon"] for r in rows})
    lines = ["## Out of reach of an L-inf budget, one direction at a time", "",
             "Share of the correctly decided sources with no adversarial of the kind within the "
             "budget from any attack that ran (the targeted attacks' closest successes by their "
             "L-inf, and every broken cell of the budgeted attacks and cascades), with 95% "
             "Wilson intervals. A false positive is any other positive class, a false negative "
             "None, and a None image made any class; the sources are those every attack of the "
             "row attacked. Found distances are upper bounds, so these shares are "
             "too.", "",
             "| network | kind | sources | " + " | ".join(f"eps {e:g}" for e in epsilons)
             + " | attacks |",
             "|---|---|---|" + "---|" * len(epsilons) + "---|"]
    for (network, threshold, kind), items in group(
            rows, lambda r: (r["network"], r["threshold"], r["kind"])).items():
        by_eps = {r["epsilon"]: r for r in items}
        lines.append(f"| {setting_name(network, threshold)} | {kind} | {items[0]['sources']} | "
                     + " | ".join(interval_text(by_eps[e]["out_of_reach"], by_eps[e]["sources"],
                                                (by_eps[e]["ci_low"], by_eps[e]["ci_high"]))
                                  if e in by_eps else "-" for e in epsilons)
                     + f" | {', '.join(items[0]['attacks'])} |")
    if paired:
        lines += ["", "Source by source: the triple-staged network's share minus the direct "
                  "network's (percentage points, 95% paired interval, McNemar's p), on the "
                  "sources both were attacked on:", "",
                  "| kind | triple-staged | minus | " + " | ".join(f"eps {e:g}" for e in epsilons)
                  + " |", "|---|---|---|" + "---|" * len(epsilons)]
        for (kind, threshold, first), items in group(
                paired, lambda r: (r["kind"], r["threshold"], r["first"])).items():
            by_eps = {r["epsilon"]: r for r in items}
            lines.append(f"| {kind} | @{threshold:g} | {first} | " + " | ".join(
                f"{100 * by_eps[e]['difference']:+.1f} [{100 * by_eps[e]['ci_low']:.1f} to "
                f"{100 * by_eps[e]['ci_high']:.1f}], p {by_eps[e]['mcnemar_p']:.2g}"
                if e in by_eps else "-" for e in epsilons) + " |")
    return [*lines, ""]


def report_text(metrics: dict) -> str:
    lines = ["# mindseye report", "", *provenance_text(metrics.get("provenance")),
             f"Classes: {', '.join(metrics['classes'])}; {metrics['test_samples']} test images.",
             "", "## Table 1: clean error rates", "",
             "| network | error rate | 95% CI (Wilson) | errors / images | paper | positives' "
             "error [95% CI] | None images' error [95% CI] |",
             "|---|---|---|---|---|---|---|"]
    for row in metrics["table1"]:
        parts = " | ".join(_part_error(row, part) for part in ("positive_", "none_"))
        lines.append(f"| {setting_name(row['network'], row['threshold'])} | "
                     f"{percent(row['error_rate'])} | {percent(row['ci_low'])} - "
                     f"{percent(row['ci_high'])} | {row['errors']} / {row['samples']} | "
                     f"{percent(row['paper_error_rate'])} | {parts} |")
    unclipped = metrics.get("table1_unclipped")
    if unclipped:
        rows = "; ".join(
            f"@{row['threshold']} {rate_text(row['error_rate'], row['ci_low'], row['ci_high'])}"
            f" ({unclipped['changed'][str(row['threshold'])]} decisions differ)"
            for row in unclipped["rows"])
        lines += ["", "The triple-staged network without the estimator's clip, as the authors' "
                  f"merged network has it: {rows}."]
    lines += ["", "The paper reports one error rate; the positives' and the None images' are "
              "apart here because they fail differently (a None image called a class is a "
              "false positive on a background).", ""]
    lines += running_text(metrics.get("running"))
    lines += photo_error_text(metrics.get("none_errors_by_photo"))
    lines += ["Confusion matrices: `confusion.png`.", ""]
    margins = metrics.get("ratio_margins")
    if margins:
        own, other, none = (margins["own_ratio"], margins["best_other_ratio"],
                            margins["none_best_ratio"])
        free = margins["error_free_thresholds"]
        lines += [
            "How far the triple-staged decisions are from flipping (`clean_ratios.png`): the "
            f"positives' own-class ratio is at least {number(own['min'], 3)} (1st percentile "
            f"{number(own['p1'], 3)}); their best other class reaches {number(other['max'], 3)};"
            f" None images' best class reaches {number(none['max'], 3)} (99th percentile "
            f"{number(none['p99'], 3)}). "
            + (f"Any threshold above {free[0]:.3f} and up to {free[1]:.3f} makes no error on "
               "this test split." if free else "No threshold makes this test split error-free."),
            ""]
    stages = metrics.get("stages", {})
    if stages:
        lines += ["## The triple-staged network's stages on the test split", ""]
        if "estimator" in stages:
            per_class = ", ".join(f"{name} {value:.2f}" for name, value
                                  in stages["estimator"]["per_class_deg"].items())
            lines.append(f"- Estimator: mean absolute rotation error "
                         f"{stages['estimator']['mean_abs_error_deg']:.2f} degrees ({per_class}).")
        if "projector" in stages:
            lines.append(f"- Projector: PSNR {stages['projector']['psnr_db']:.1f} dB, alpha IoU "
                         f"{stages['projector']['alpha_iou']:.3f}; its drawings beside the inputs: "
                         "`projector_drawings.png`.")
        if "comparator" in stages and "auc" in stages["comparator"]:
            lines.append(f"- Comparator: AUC {stages['comparator']['auc']:.3f} on same/different "
                         "pairs.")
        lines.append("")
    for attack, rows in metrics["effort"].items():
        lines += [f"## Adversarial effort: {attack}", "",
                  "| network | kind | attacked | left out (misclassified) | flipped | hit the cap "
                  "| median steps (2nd-98th) | median distortion (2nd-98th) | median SSIM |",
                  "|---|---|---|---|---|---|---|---|---|"]
        # A minimal-norm attack runs a fixed number of steps: its steps and cap say nothing.
        fixed_steps = spec_of_table(attack).paired_by == "distortion"
        for row in rows:
            steps, distortion = row["steps"], row["distortion"]
            steps_text = "-" if fixed_steps else (
                f"{number(steps['median'])} ({number(steps['p2'])}-{number(steps['p98'])})")
            lines.append(
                f"| {setting_name(row['network'], row['threshold'])} | {row['kind']} | "
                f"{row['attacked']} | {row['misclassified_originals']} | {row['succeeded']} | "
                f"{'-' if fixed_steps else row['capped']} | {steps_text} | "
                f"{number(distortion['median'])} "
                f"({number(distortion['p2'])}-{number(distortion['p98'])}) | "
                f"{number(row['ssim']['median'])} |")
        lines.append("")
    for attack, rows in metrics.get("paired", {}).items():
        unit = "distortion" if rows and rows[0].get("effort_by") == "distortion" else "steps"
        lines += [f"## {attack} against the paper's attack, on the same images and targets", "",
                  "| network | kind | pairs | flipped: paper / this | median steps where both "
                  "flipped: paper / this | median distortion: paper / this | this needed "
                  f"less / as much / more {unit} (sign test p) | median {unit} difference, "
                  "this minus paper | paper's path met the clip | copied |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for row in rows:
            lines.append(
                f"| {setting_name(row['network'], row['threshold'])} | {row['kind']} | "
                f"{row['pairs']} | {percent(row['plain_success'])} / "
                f"{percent(row['other_success'])} | {number(row['plain_steps']['median'])} / "
                f"{'-' if unit == 'distortion' else number(row['other_steps']['median'])} | "
                f"{number(row['plain_distortion']['median'])} / "
                f"{number(row['other_distortion']['median'])} | "
                f"{row['other_fewer']} / {row['same_effort']} / {row['other_more']} "
                f"({row['sign_test_p']:.2g}) | {median_text(row['effort_difference'])} | "
                f"{row['plain_clip_met']} of {row['plain_clip_counted']} | {row['copied']} |")
        lines += ["", "Effort is the steps to flip, a failure counting as one step past the "
                  "cap (for a minimal-norm attack, whose steps are fixed: the distortion, a "
                  "failure counting as 1); the difference's median carries its 95% "
                  "order-statistic interval.", ""]
    for attack, rows in metrics.get("network_ratios", {}).items():
        words = MINIMIZED_WORDS[spec_of_table(attack).minimizes]
        lines += [f"## {attack}: the triple-staged network's minimal {words} over the direct "
                  "networks', pair by pair", "",
                  "| kind | triple-staged | against | pairs | triple-staged larger / the same / "
                  "smaller (sign test p) | median ratio where both flipped | both flipped |",
                  "|---|---|---|---|---|---|---|"]
        for row in rows:
            lines.append(
                f"| {row['kind']} | @{row['threshold']:g} | {row['direct']} | {row['pairs']} | "
                f"{row['larger']} / {row['same']} / {row['smaller']} "
                f"({row['sign_test_p']:.2g}) | {median_text(row['ratio'])} | "
                f"{row['both_flipped']} |")
        lines += ["", "The same source and target on both networks; a failure counts as the "
                  "largest distance there is. The ratio's median carries its 95% order-statistic "
                  "interval; each sign test stands alone (no correction for the rows' number).",
                  ""]
    if metrics.get("clip"):
        lines += ["## The estimator's clip on the triple-staged network's final images", "",
                  "A hard clip passes no gradient where it engages, so the paper's attack and "
                  "BPDA can only part ways where some hypothesis's angles leave the sampled "
                  "range. Counted on each trajectory's final image, so a trajectory whose angles "
                  "left the range and came back is not counted. Brackets hold 95% Wilson "
                  "intervals.", "",
                  "| attack | setting | kind | images | clip engaged, any class | clip engaged, "
                  "the class the attack moves |", "|---|---|---|---|---|---|"]
        for row in metrics["clip"]:
            setting = "-" if row["threshold"] is None else f"@{row['threshold']}"
            lines.append(
                f"| {row['attack']} | {setting} | {row['kind']} | {row['images']} | "
                f"{interval_text(row['any_class'], row['images'], row['any_class_ci'])} | "
                f"{interval_text(row['attacked_class'], row['images'], row['attacked_class_ci'])}"
                " |")
        lines.append("")
    none_to_class = any(row["kind"] == NONE_TO_CLASS for rows in metrics["effort"].values()
                        for row in rows)
    lines += ["Figures: `fig4_false_positives*.png`, `fig6_false_negatives*.png`"
              + (", `none_to_class*.png` (None images made a class)" if none_to_class else "")
              + f" (steps clipped at {PAPER_STEP_CAP} for display, whiskers at the 2nd and 98th "
              "percentiles"
              + ("; `*_minimal.png` set the paper's attack's steps beside each minimal-norm "
                 "attack's minimal distance, over the pairs each flipped"
                 if any(name.endswith("_minimal.png") for name in metrics["figures"]) else "")
              + "), "
              "`fig5_gallery_*.png` (drawn by "
              f"{metrics['gallery_renderer'] or 'nothing: no successful false positives'})."
              + gallery_transfer_caption(metrics[TRANSFER_ATTACK.name]), ""]
    for attack, rows in metrics["robust_accuracy"].items():
        epsilons = sorted({r["epsilon"] for r in rows})
        lines += [f"## Robust accuracy against L-inf budget: {attack}", "",
                  "| network | " + " | ".join(f"eps {e:g}" for e in epsilons) + " |",
                  "|---|" + "---|" * len(epsilons)]
        for key, items in group(rows).items():
            by_eps = {r["epsilon"]: r for r in items}
            lines.append(f"| {setting_name(*key)} | " + " | ".join(
                rate_text(by_eps[e]["robust_accuracy"], by_eps[e]["ci_low"], by_eps[e]["ci_high"])
                if e in by_eps else "-" for e in epsilons) + " |")
        counts = sorted({r["samples"] for r in rows})
        images = (f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}")
        if attack == WORST_CASE and metrics.get("worst_case_attacks"):
            counted = metrics["worst_case_attacks"]
            lines += ["", "The worst case per image over every attack: an image is robust at a "
                      "budget only if no budgeted attack or cascade broke it there and no "
                      "targeted attack made it another class within the budget, by its "
                      "adversarial's L-inf (budgeted attacks and cascades "
                      f"{', '.join(counted['budgeted'])}; targeted attacks "
                      f"{', '.join(counted['targeted']) or 'none'})."]
        lines += ["", f"Robust accuracy on {images} images per setting, with 95% Wilson "
                  "intervals. Curves: `robust_accuracy.png`. Apart by source (robust of "
                  "attacked; on a positive image the attack mostly makes a false negative, on "
                  "a None image a false positive):", "",
                  "| network | sources | " + " | ".join(f"eps {e:g}" for e in epsilons) + " |",
                  "|---|---|" + "---|" * len(epsilons)]
        for key, items in group(rows).items():
            by_eps = {r["epsilon"]: r for r in items}
            for part in ("positive", "none"):
                lines.append(f"| {setting_name(*key)} | {part} | " + " | ".join(
                    f"{by_eps[e][f'{part}_robust']} of {by_eps[e][f'{part}_samples']}"
                    if e in by_eps else "-" for e in epsilons) + " |")
        lines.append("")
    for name, summary in metrics.get("cascades", {}).items():
        lines += cascade_text(name, summary)
    lines += within_reach_text(metrics.get("within_reach", []),
                               metrics.get("within_reach_paired", []))
    masking = metrics.get("masking")
    if masking is not None:
        lines += ["## Gradient masking, image by image", "",
                  "Images that a gradient-free attack (Square, HopSkipJump) broke at a budget "
                  "where every gradient attack that ran on the same image left it robust. "
                  + (f"{len(masking)} such cases." if masking else "None."), ""]
        if masking:
            lines += ["| attack | setting | eps | source | class | decision | L-inf |",
                      "|---|---|---|---|---|---|---|"]
            lines += [f"| {row['attack']} | {setting_name(row['network'], row['threshold'])} | "
                      f"{row['epsilon']:g} | {row['source']} | {row['source_class']} | "
                      f"{row['decision']} | {row['linf']:.1f} |" for row in masking]
            lines.append("")
    forward = [row for row in metrics[TRANSFER_ATTACK.name] if row["origin"] != TRIPLE_STAGED]
    reverse = [row for row in metrics[TRANSFER_ATTACK.name] if row["origin"] == TRIPLE_STAGED]
    if forward:
        lines += ["## Transfer of the direct networks' ifgsm adversarials", "",
                  "| made on | shown to | kind | adversarials | fooled (target reached) "
                  "| still correct |", "|---|---|---|---|---|---|"]
        for row in forward:
            lines.append(f"| {row['origin']} | {setting_name(row['network'], row['threshold'])} "
                         f"| {row['kind']} | {transfer_cells(row)} |")
        lines.append("")
    if reverse:
        lines += ["## Did the false positive become the target?", "",
                  "The paper says that to fool the triple-staged network \"the false positive "
                  "class will be evidently visible\". Each of its successful false positives "
                  "is shown to the two direct networks, trained on clean renders: the share they "
                  "call the target, beside the share for the direct networks' own false "
                  "positives shown to each other (above).", "",
                  "| made by | shown to | adversarials | called the target | still the source |",
                  "|---|---|---|---|---|"]
        for row in reverse:
            lines.append(f"| {row['origin_attack']} @{row['origin_threshold']} | "
                         f"{row['network']} | {transfer_cells(row)} |")
        lines.append("")
    lines += ["## What the numbers say", "",
              "Each verdict compares point estimates; brackets hold 95% intervals (order "
              "statistics for medians, Wilson for rates), and the verdict says whether they "
              "agree with it.", ""]
    made = metrics.get("provenance")
    if made and not made.get("trained_for_verdicts", made["sizes_enough_for_verdicts"]):
        lines += ["At this run's sizes these verdicts check the pipeline, not the paper (see "
                  "the top of this report).", ""]
    elif made and made["attacks"] and not made["sizes_enough_for_verdicts"]:
        lines += ["At attack sizes below the medium preset's (see the top of this report): a "
                  "verdict that holds only by the point estimates is not settled at them.", ""]
    for claim in metrics["claims"]:
        verdict = "holds" if claim["holds"] else "FAILS"
        if claim["clear"] is not None:
            verdict += (", and the 95% intervals agree" if claim["clear"] else
                        " by the point estimates, within the 95% intervals' noise")
        lines.append(f"- **{verdict}**: {claim['claim']} ({claim['evidence']})")
    if not metrics["claims"]:
        lines.append("- No claim could be checked: run `mindseye attack` first.")
    lines.append("")
    return "\n".join(lines)


def transfer_cells(row: dict) -> str:
    """'adversarials | fooled [CI] | still correct [CI]' of one transfer row."""
    count = row["adversarials"]
    return (f"{count} | {interval_text(row['fooled'], count, row['fooled_ci'])} | "
            f"{interval_text(row['still_correct'], count, row['still_correct_ci'])}")


def gallery_transfer_caption(transfer: list[dict]) -> str:
    """For the triple-staged galleries (the paper's attack): how often the direct networks call
    those false positives their target ('' without reverse-transfer records)."""
    rows = [row for row in transfer
            if row["origin"] == TRIPLE_STAGED and row["origin_attack"] == PAPER_ATTACK.name]
    if not rows:
        return ""
    parts = [f"@{row['origin_threshold']} {row['network']} "
             f"{interval_text(row['fooled'], row['adversarials'], row['fooled_ci'])}"
             for row in rows]
    return (" Shown to the direct networks, the triple-staged galleries' kind of image (every "
            "successful false positive of the paper's attack) is called its target: "
            + "; ".join(parts) + ".")
