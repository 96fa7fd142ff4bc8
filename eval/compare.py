"""`mindseye compare RUN... --out DIR`: runs of one experiment side by side, grouped by how
their networks were trained.

Each run's report (`mindseye eval`, RUN/report/metrics.json) gives one value per quantity: the
clean error rate of Table 1, the paper's attack's median steps, distortion and success per
network, threshold and kind, a minimal-norm attack's median distance and success,
and each budgeted attack's robust accuracy at 4 and 8 grey levels (PGD, a cascade, their worst
case). The runs must share the preset, the data and the attack settings. They are grouped by
their training recipe (clean, or an adversarial training's method and budget, from each
network's config.json); within a recipe the runs must differ in their training seed. Per
recipe each quantity gets its mean, its between-seed standard deviation, a 95% t-interval for
the mean (the spread of what a retrained network gives, which the per-run intervals do not
contain) and the range; each of the report's claims gets the number of runs in which it holds.
Several recipes are laid out side by side (a clean and an adversarially trained run of each
network, say), each with its own seeds' summary. Where a clean run and a run of another recipe
share a seed, their networks were attacked on the same test images, so they are also compared
image by image (`paired_recipes`): robust accuracy under the worst case of every attack both
ran (the budgeted attacks' cells, broken too by a targeted success within the budget), with
paired intervals, the paper's attack pair by pair, and each minimal-norm
attack's distances pair by pair, on one network under both recipes and across networks.
"""

import json
import math
from pathlib import Path

import numpy as np
from scipy.stats import t as student_t

from mindseye.attacks.experiments import record_table, robustness_tables, targeted_tables
from mindseye.attacks.ifgsm import PAPER_ATTACK, without_clip
from mindseye.attacks.pgd import PGD_ATTACK
from mindseye.attacks.registry import TARGETED, attack_specs, spec_of_table
from mindseye.attacks.settings import recorded_epsilons, recorded_settings
from mindseye.attacks.targeted import finished_only
from mindseye.core.constants import (
    DIRECT_NETWORKS,
    NETWORK_CONFIG_FILE,
    TRAINED_NETWORKS,
    TRIPLE_STAGED,
)
from mindseye.core.errors import UserError
from mindseye.core.files import (
    make_writable_folder,
    read_json,
    write_json_atomic,
    write_text_atomic,
)
from mindseye.eval.provenance import CLEAN_RECIPE, recipe_label
from mindseye.eval.stats import (
    paired_robustness,
    paired_table,
    setting_name,
    worst_case_records,
)
from mindseye.models.runs import read_config

# Budgets (grey levels) at which each budgeted attack's robust accuracy is compared.
COMPARED_EPSILONS = (4.0, 8.0)
# Budgets at which two recipes' networks are paired image by image: the adversarial training's
# usual budget (8 grey levels), half of it and twice it.
PAIRED_EPSILONS = (4.0, 8.0, 16.0)


def run_identity(run_dir: Path) -> dict:
    """What the runs must share (preset, data, attack settings), the seed each was trained
    with and its training recipe, from RUN/<network>/config.json and RUN/attacks/settings.json."""
    configs = {}
    for network in TRAINED_NETWORKS:
        path = run_dir / network / NETWORK_CONFIG_FILE
        if not path.is_file():
            raise UserError(f"{path} not found: {run_dir} is not a trained run; train it with "
                            "`mindseye train all`")
        configs[network] = read_config(run_dir / network, network)
    seeds = {config.get("seed", 0) for config in configs.values()}
    return {"preset": configs["direct"]["preset"],
            "data": configs["direct"].get("data_fingerprint"),
            "seed": seeds.pop() if len(seeds) == 1 else sorted(seeds),
            "recipe": recipe_label(configs),
            "attacks": recorded_settings(run_dir)}


def read_metrics(run_dir: Path) -> dict:
    path = run_dir / "report" / "metrics.json"
    if not path.is_file():
        raise UserError(f"{path} not found; write the run's report first with `mindseye eval "
                        f"{run_dir} DATA`")
    return read_json(path, f"write it again with `mindseye eval {run_dir} DATA`")


def finished_records(run_dir: Path, table: str) -> list[dict]:
    """A run's records of a targeted table, less those its report left out as still running
    (metrics `running`: a network, or its None sources, the attack has begun and not finished)."""
    metrics = read_metrics(run_dir)
    none_label = len(metrics["classes"]) - 1
    running = {(row["network"], row["none_sources"]) for row in metrics.get("running", [])
               if row["attack"] == table}
    return finished_only(record_table(run_dir, table).read(), running, none_label)


def quantities(metrics: dict) -> dict[str, float]:
    """One value per compared quantity of one run's report, by name (its parts joined by
    commas: a name is one cell of the markdown table)."""
    found = {}
    for row in metrics.get("table1", []):
        setting = setting_name(row["network"], row["threshold"])
        found[f"clean error (%), {setting}"] = 100 * row["error_rate"]
        for part, images in (("positive_", "positives"), ("none_", "None images")):
            if row.get(f"{part}error_rate") is not None:
                found[f"clean error of {images} (%), {setting}"] = 100 * row[f"{part}error_rate"]
    for attack, rows in metrics.get("effort", {}).items():
        # The paper's attack, and minimal-norm attacks' distances (they take all their steps);
        # a variant of the paper's attack is a way to run it, compared in the report itself.
        minimal_norm = _paired_by(attack) == "distortion"
        if attack != PAPER_ATTACK.name and not minimal_norm:
            continue
        for row in rows:
            where = f"{setting_name(row['network'], row['threshold'])}, {row['kind']}"
            if not minimal_norm:
                found[f"{attack} median steps, {where}"] = row["steps"]["median"]
            found[f"{attack} median distortion, {where}"] = row["distortion"]["median"]
            found[f"{attack} success (%), {where}"] = (100 * row["succeeded"]
                                                       / max(1, row["attacked"]))
    for attack, rows in metrics.get("robust_accuracy", {}).items():
        for row in rows:
            if row["epsilon"] in COMPARED_EPSILONS:
                found[f"{_attack_words(attack)} robust accuracy (%) @{row['epsilon']:g}, "
                      f"{setting_name(row['network'], row['threshold'])}"] = 100 * row[
                          "robust_accuracy"]
    return {name: float(value) for name, value in found.items() if value is not None}


def _paired_by(table: str) -> str | None:
    try:
        return spec_of_table(table).paired_by
    except UserError:  # a report of an attack this mindseye does not know
        return None


def _attack_words(attack: str) -> str:
    return "PGD" if attack == PGD_ATTACK.name else attack


def between_seeds(values: list[float | None], confidence: float = 0.95) -> dict:
    """Mean, sample standard deviation, t-interval of the mean and range of one quantity, over
    the runs that have it (None: a run without it, e.g. a median of steps where no attack
    succeeded)."""
    array = np.asarray([value for value in values if value is not None], dtype=float)
    summary: dict = {"values": values, "runs": len(array)}
    if not len(array):
        return summary
    mean = float(array.mean())
    summary.update(mean=mean, min=float(array.min()), max=float(array.max()))
    if len(array) >= 2:
        sd = float(array.std(ddof=1))
        half = float(student_t.ppf(0.5 + confidence / 2, len(array) - 1)) * sd / math.sqrt(
            len(array))
        summary.update(sd=sd, ci=[mean - half, mean + half])
    return summary


def compare_runs(run_dirs: list[Path]) -> dict:
    """The comparison of several runs of one experiment (see the module docstring): per
    training recipe, its runs, seeds, quantities and claims (`recipes`, in the order the runs
    were given); with one recipe, the same at the top level."""
    if len(run_dirs) < 2:
        raise UserError("give at least two run folders to compare")
    if len({Path(run_dir).resolve() for run_dir in run_dirs}) < len(run_dirs):
        raise UserError("a run folder is given twice; give each run once")
    identities = [run_identity(run_dir) for run_dir in run_dirs]
    unattacked = [str(run_dir) for run_dir, identity in zip(run_dirs, identities, strict=True)
                  if identity["attacks"] is None]
    for name in ("preset", "data", "attacks"):
        differing = {json.dumps(identity[name], sort_keys=True) for identity in identities}
        if name == "attacks" and unattacked and len(differing) > 1:  # some attacked, some not
            raise UserError(f"{', '.join(unattacked)}: not attacked yet (no attacks/settings."
                            "json); run `mindseye attack` on it as on the others, then "
                            "`mindseye eval`")
        if len(differing) > 1:
            raise UserError(f"the runs differ in {name} ({', '.join(str(d) for d in run_dirs)}): "
                            "compare runs of one experiment that differ only in --seed or "
                            "in their adversarial training")
    members: dict[str, list[int]] = {}
    for index, identity in enumerate(identities):
        members.setdefault(identity["recipe"], []).append(index)
    for recipe, indices in members.items():
        seeds = [json.dumps(identities[index]["seed"]) for index in indices]
        if len(set(seeds)) < len(seeds):
            raise UserError(f"the runs trained {recipe} share a training seed "
                            f"({', '.join(seeds)}): compare runs trained with different --seed")
    metrics = [read_metrics(run_dir) for run_dir in run_dirs]
    recipes = [_recipe_summary(recipe, [run_dirs[i] for i in indices],
                               [identities[i]["seed"] for i in indices],
                               [metrics[i] for i in indices])
               for recipe, indices in members.items()]
    comparison = {"preset": identities[0]["preset"], "recipes": recipes,
                  "paired": paired_recipes(run_dirs, identities)}
    if len(recipes) == 1:
        comparison.update({key: value for key, value in recipes[0].items() if key != "recipe"})
    return comparison


def _recipe_summary(recipe: str, run_dirs: list[Path], seeds: list, metrics: list[dict]) -> dict:
    per_run = [quantities(run) for run in metrics]
    names = list(dict.fromkeys(name for run in per_run for name in run))
    claims: dict[str, list] = {}  # claim -> holds per run (None: not judged in that run)
    for index, run in enumerate(metrics):
        for claim in run.get("claims", []):
            claims.setdefault(claim["claim"], [None] * len(run_dirs))[index] = claim["holds"]
    return {"recipe": recipe, "runs": [str(run_dir) for run_dir in run_dirs], "seeds": seeds,
            "quantities": {name: between_seeds([run.get(name) for run in per_run])
                           for name in names},
            "claims": [{"claim": claim, "holds": holds} for claim, holds in claims.items()]}


def _setting_records(tables: dict[str, list[dict]], network: str,
                     threshold: float | None) -> dict[str, list[dict]]:
    """Each table's records of one network at one threshold, the tables without any left out."""
    found = {name: [r for r in records if r["network"] == network
                    and r["threshold"] == threshold]
             for name, records in tables.items()}
    return {name: records for name, records in found.items() if records}


def paired_recipes(run_dirs: list[Path], identities: list[dict]) -> list[dict]:
    """For each run of a recipe other than clean that shares its seed with a clean run: the two
    runs' networks image by image (their test images and attack sizes are the same).

    `robustness`: pairs of settings, each a (run, network, threshold), compared by
    eval.stats.paired_robustness under the worst case of the budgeted attacks and cascades that
    ran on both settings, with the successes of the targeted attacks that ran on both
    (eval.stats.worst_case_records; an attack run on one side only would favour the other;
    the paper's attack without the clip met another network and does not count). The pairs:
    each setting under the two recipes (what the training adds), each triple-staged threshold
    against each direct network within a recipe (what drawing adds), and the clean triple-staged
    network against the trained direct networks (whether drawing stands in for the training).
    `targeted`: the paper's attack (and each minimal-norm attack run on both, by distortion),
    the trained networks against the clean ones on the same source and target pairs
    (eval.stats.paired_table, `other` being the trained run). `minimal_norm`: each minimal-norm
    attack's distances on the pairs of settings of the two other questions (drawing, drawing
    instead of training), source and target pair by pair across the two networks."""
    clean = {json.dumps(identity["seed"]): index for index, identity in enumerate(identities)
             if identity["recipe"] == CLEAN_RECIPE}
    thresholds = tuple((identities[0]["attacks"] or {}).get("thresholds", ()))
    settings = [(network, None) for network in DIRECT_NETWORKS] + [
        (TRIPLE_STAGED, threshold) for threshold in thresholds]
    pairings = []
    for index, identity in enumerate(identities):
        partner = clean.get(json.dumps(identity["seed"]))
        if identity["recipe"] == CLEAN_RECIPE or partner is None:
            continue
        runs = {CLEAN_RECIPE: run_dirs[partner], identity["recipe"]: run_dirs[index]}
        tables = {recipe: {name: [r for r in records if r["epsilon"] in PAIRED_EPSILONS]
                           for name, records in robustness_tables(
                               run, recorded_epsilons(run) or ()).items()}
                  for recipe, run in runs.items()}
        # every targeted table, read once: its successes break cells, and the paper's attack
        # and the minimal-norm attacks are paired below
        breaking = {recipe: {table: finished_records(run, table)
                             for table in targeted_tables(run) if not without_clip(table)}
                    for recipe, run in runs.items()}
        trained = identity["recipe"]
        pairs = [("training", (CLEAN_RECIPE, *setting), (trained, *setting))
                 for setting in settings]
        for recipe in runs:
            pairs += [("drawing", (recipe, direct, None), (recipe, TRIPLE_STAGED, threshold))
                      for threshold in thresholds for direct in DIRECT_NETWORKS]
        pairs += [("drawing instead of training", (trained, direct, None),
                   (CLEAN_RECIPE, TRIPLE_STAGED, threshold))
                  for threshold in thresholds for direct in DIRECT_NETWORKS]
        robustness = []
        for question, first, second in pairs:
            first_tables = _setting_records(tables[first[0]], *first[1:])
            second_tables = _setting_records(tables[second[0]], *second[1:])
            attacks = sorted(first_tables.keys() & second_tables.keys())
            if not attacks:
                continue
            first_targeted = _setting_records(breaking[first[0]], *first[1:])
            second_targeted = _setting_records(breaking[second[0]], *second[1:])
            both = sorted(first_targeted.keys() & second_targeted.keys())
            robustness.append({
                "question": question, "attacks": attacks, "targeted_attacks": both,
                "first": {"recipe": first[0], "setting": setting_name(*first[1:])},
                "second": {"recipe": second[0], "setting": setting_name(*second[1:])},
                "rows": paired_robustness(
                    worst_case_records({a: first_tables[a] for a in attacks},
                                       {a: first_targeted[a] for a in both}),
                    worst_case_records({a: second_tables[a] for a in attacks},
                                       {a: second_targeted[a] for a in both}))})
        names = (PAPER_ATTACK.name, *(spec.name for spec in attack_specs(TARGETED)
                                      if spec.paired_by == "distortion" or spec.minimizes))
        records = {recipe: {table: breaking[recipe][table] for table in names}
                   for recipe in runs}
        targeted = {}
        for table in names:
            before, after = (records[recipe][table] for recipe in runs)
            if before and after:
                targeted[table] = paired_table(before, after, _paired_by(table) or "steps")
        pairings.append({"seed": identity["seed"], "clean": str(run_dirs[partner]),
                         "trained": str(run_dirs[index]), "recipe": trained,
                         "robustness": robustness, "targeted": targeted,
                         "minimal_norm": minimal_norm_across(
                             records, [pair for pair in pairs if pair[0] != "training"])})
    return pairings


def minimal_norm_across(records: dict[str, dict[str, list[dict]]],
                        pairs: list[tuple]) -> list[dict]:
    """Each minimal-norm attack's distances on two settings, (source, target) pair by pair:
    eval.stats.paired_table by the distance the attack minimises, with the first setting as
    `plain` and the second as `other` (the second's records carry the first's network and
    threshold to be paired). `records`: recipe -> table -> records, every minimal-norm table
    among them. A pair either setting misclassifies the source of is left out."""
    tables = {spec.name: spec.minimizes for spec in attack_specs() if spec.minimizes}
    across = []
    for question, first, second in pairs:
        for table in tables:
            mine, theirs = (
                [r for r in records[recipe][table]
                 if r["network"] == network and r["threshold"] == threshold]
                for recipe, network, threshold in (first, second))
            if not mine or not theirs:
                continue
            as_first = [{**r, "network": first[1], "threshold": first[2]} for r in theirs]
            across.append({
                "question": question, "attack": table,
                "first": {"recipe": first[0], "setting": setting_name(*first[1:])},
                "second": {"recipe": second[0], "setting": setting_name(*second[1:])},
                "rows": paired_table(mine, as_first, tables[table])})
    return across


def comparison_markdown(comparison: dict) -> str:
    """The comparison as a markdown page: with several recipes, the side-by-side table first,
    then each recipe's seeds."""
    recipes = comparison["recipes"]
    if len(recipes) == 1:
        return _recipe_page(recipes[0], f"# {comparison['preset']}: ")
    names = list(dict.fromkeys(name for recipe in recipes for name in recipe["quantities"]))
    lines = [f"# {comparison['preset']}: {len(recipes)} training recipes side by side", "",
             "Each cell is one quantity of the runs' reports (`mindseye eval`) under one "
             "training recipe: the value of its one run, or the mean over its seeds with a 95% "
             "t-interval of the mean (what retraining moves). Each recipe's runs, seed by seed, "
             "follow the table.", "",
             "| quantity | " + " | ".join(f"{recipe['recipe']} ({_seed_words(recipe)})"
                                         for recipe in recipes) + " |",
             "|---|" + "---|" * len(recipes)]
    for name in names:
        cells = [_summary_cell(recipe["quantities"].get(name)) for recipe in recipes]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    for pairing in comparison.get("paired", []):
        lines += ["", _pairing_section(pairing).rstrip("\n")]
    for recipe in recipes:
        lines += ["", _recipe_page(recipe, "## ").rstrip("\n")]
    return "\n".join(lines) + "\n"


def _pairing_section(pairing: dict) -> str:
    """Two recipes' runs of one seed, image by image (paired_recipes)."""
    lines = [f"## Image by image: clean against {pairing['recipe']}, seed {pairing['seed']}", "",
             f"Runs: `{pairing['clean']}` (clean) and `{pairing['trained']}` "
             f"({pairing['recipe']}): the same test images, attacked with the same sizes.", "",
             "Robust accuracy (%) of two settings on the same images, under the worst case of "
             "every attack both ran (`attacks`: the budgeted attacks, then the targeted ones, "
             "whose successes break an image within a budget by their L-inf). The difference "
             "is the second's minus the first's in points, with Bonett and Price's paired 95% "
             "interval; p is McNemar's exact test on the images where the two disagree. Questions: "
             "*training*, one network under both recipes; *drawing*, a triple-staged threshold "
             "against a direct network of the same recipe; *drawing instead of training*, the "
             "clean triple-staged network against the trained direct networks.", "",
             "| question | first | second | attacks | budget | images | first robust "
             "| second robust | only first | only second | difference [95%] | p |",
             "|---|" + "---|" * 11]
    for pair in pairing["robustness"]:
        first, second = pair["first"], pair["second"]
        for row in pair["rows"]:
            lines.append(
                f"| {pair['question']} | {first['setting']} ({first['recipe']}) | "
                f"{second['setting']} ({second['recipe']}) | "
                f"{', '.join(pair['attacks'] + pair.get('targeted_attacks', []))} | "
                f"{row['epsilon']:g} | {row['images']} | "
                f"{_percent(row['first_robust'], row['images'])} | "
                f"{_percent(row['second_robust'], row['images'])} | {row['first_only']} | "
                f"{row['second_only']} | {100 * row['difference']:+.1f} "
                f"[{100 * row['ci_low']:+.1f} to {100 * row['ci_high']:+.1f}] | "
                f"{row['mcnemar_p']:.2g} |")
    if pairing["targeted"]:
        lines += ["", "Targeted attacks on the same source and target pairs, the trained network "
                  "against the clean one: how many each flipped, the median effort where both "
                  "did (steps; a minimal-norm attack's L2 distortion), how many pairs the trained "
                  "network made the attack work harder on, the sign test of harder against "
                  "easier and the median of the pairs' differences (trained minus clean, a "
                  "failure counting past the cap) with its 95% interval.", "",
                  "| attack | setting | kind | pairs | flipped, clean / trained | median effort, "
                  "clean / trained | harder / same / easier | sign test p | median difference "
                  "[95%] |", "|---|" + "---|" * 8]
        for attack, rows in pairing["targeted"].items():
            lines += [f"| {attack} | {setting_name(row['network'], row['threshold'])} | "
                      f"{row['kind']} | {_paired_effort_cells(row)}" for row in rows]
    if pairing.get("minimal_norm"):
        lines += ["", "Minimal-norm distances across networks, on the same source and target "
                  "pairs (those whose source both settings classify right): the median of the "
                  "distance the attack minimises (`distortion`, the paper's L2 measure, or "
                  "`linf` in grey levels) where both settings were flipped, how many pairs the "
                  "second setting needed more / as much / less for, the sign test and the "
                  "median of the pairs' differences (second minus first, a failure counting as "
                  "the largest distance there is) with its 95% interval. On the triple-staged "
                  "network FMN follows a straight-through clip, so a larger distance there is "
                  "an upper bound, as every attack's is.", "",
                  "| question | attack | first | second | kind | pairs | flipped, first / "
                  "second | median distance, first / second | more / same / less | sign test "
                  "p | median difference [95%] |", "|---|" + "---|" * 10]
        for pair in pairing["minimal_norm"]:
            first, second = pair["first"], pair["second"]
            lines += [f"| {pair['question']} | {pair['attack']} ({row['effort_by']}) | "
                      f"{first['setting']} ({first['recipe']}) | {second['setting']} "
                      f"({second['recipe']}) | {row['kind']} | {_paired_effort_cells(row)}"
                      for row in pair["rows"]]
    return "\n".join(lines) + "\n"


def _paired_effort_cells(row: dict) -> str:
    """An eval.stats.paired_table row's cells from its pairs on: flipped by each, the median
    effort (in its `effort_by`) where both flipped, more / same / less for the second (`other`),
    the sign test and the median difference with its interval."""
    effort, difference = row["effort_by"], row["effort_difference"]
    interval = ("" if difference["median_ci"] is None else
                " [{} to {}]".format(*map(_number, difference["median_ci"])))
    return (f"{row['pairs']} | {row['plain_flipped']} / {row['other_flipped']} | "
            f"{_number(row[f'plain_{effort}']['median'])} / "
            f"{_number(row[f'other_{effort}']['median'])} | {row['other_more']} / "
            f"{row['same_effort']} / {row['other_fewer']} | {row['sign_test_p']:.2g} | "
            f"{_number(difference['median'])}{interval} |")


def _percent(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}" if total else "-"


def _seed_words(recipe: dict) -> str:
    seeds = recipe["seeds"]
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"


def _summary_cell(summary: dict | None) -> str:
    if not summary or "mean" not in summary:
        return "-"
    if "ci" not in summary:
        return _number(summary["mean"])
    return (f"{_number(summary['mean'])} [{_number(summary['ci'][0])} to "
            f"{_number(summary['ci'][1])}]")


def _recipe_page(recipe: dict, title: str) -> str:
    """One recipe's runs, seed by seed: each quantity with its mean, sd and interval, and the
    claims run by run."""
    seeds = ", ".join(map(str, recipe["seeds"]))
    count = len(recipe["runs"])
    heading = f"{count} training seeds ({seeds})" if count > 1 else f"seed {seeds}"
    if recipe["recipe"] != CLEAN_RECIPE or title.startswith("##"):
        heading = f"{recipe['recipe']}, {heading}"
    lines = [f"{title}{heading}", "",
             "Runs: " + ", ".join(f"`{run}`" for run in recipe["runs"]) + ".", "",
             "Each row is one quantity of the runs' reports (`mindseye eval`): its value per "
             "seed, the mean, the between-seed standard deviation and a 95% t-interval of the "
             "mean (what retraining moves, which no single run's interval contains), over the "
             "seeds that have a value (a median of steps needs a success).", "",
             f"| quantity | {' | '.join(f'seed {seed}' for seed in recipe['seeds'])} | mean "
             "| sd | 95% interval |",
             "|---|" + "---|" * (count + 3)]
    for name, summary in recipe["quantities"].items():
        values = " | ".join(_number(value) for value in summary["values"])
        interval = (f"{_number(summary['ci'][0])} to {_number(summary['ci'][1])}"
                    if "ci" in summary else "-")
        lines.append(f"| {name} | {values} | {_number(summary.get('mean'))} | "
                     f"{_number(summary.get('sd'))} | {interval} |")
    lines += ["", f"{'###' if title.startswith('##') else '##'} The claims, seed by seed", "",
              f"| claim | {' | '.join(f'seed {s}' for s in recipe['seeds'])} | holds in |",
              "|---|" + "---|" * (count + 1)]
    for claim in recipe["claims"]:
        marks = " | ".join({True: "holds", False: "fails", None: "-"}[holds]
                           for holds in claim["holds"])
        held = sum(1 for holds in claim["holds"] if holds)
        lines.append(f"| {claim['claim']} | {marks} | {held} of {len(claim['holds'])} |")
    return "\n".join(lines) + "\n"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def write_comparison(run_dirs: list[Path], out_dir: Path) -> Path:
    """compare.md and compare.json in `out_dir`; returns the markdown's path."""
    comparison = compare_runs(run_dirs)
    make_writable_folder(out_dir, "--out")
    write_json_atomic(out_dir / "compare.json", comparison)
    write_text_atomic(out_dir / "compare.md", comparison_markdown(comparison))
    return out_dir / "compare.md"
