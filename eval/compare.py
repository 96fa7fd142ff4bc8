"""`mindseye compare RUN... --out DIR`: one experiment trained with different seeds, side by side.

Each run's report (`mindseye eval`, RUN/report/metrics.json) gives one value per quantity: the
clean error rate of Table 1, the paper's attack's median steps and distortion per network,
threshold and kind, and PGD's robust accuracy at 4 and 8 grey levels. Across runs each quantity
gets its mean, its between-seed standard deviation, a 95% t-interval for the mean (the spread
of what a retrained network gives, which the per-run intervals do not contain) and the range;
each of the report's claims gets the number of runs in which it holds. The runs must share the
preset, the data and the attack settings, and differ in their training seed.
"""

import json
import math
from pathlib import Path

import numpy as np
from scipy.stats import t as student_t

from mindseye.attacks.ifgsm import PAPER_ATTACK
from mindseye.attacks.pgd import PGD_ATTACK
from mindseye.attacks.settings import recorded_settings
from mindseye.core.constants import NETWORK_CONFIG_FILE, TRAINED_NETWORKS
from mindseye.core.errors import UserError
from mindseye.core.files import write_json_atomic, write_text_atomic
from mindseye.eval.stats import setting_name

# PGD budgets (grey levels) whose robust accuracy is compared.
COMPARED_EPSILONS = (4.0, 8.0)


def run_identity(run_dir: Path) -> dict:
    """What the runs must share (preset, data, attack settings) and the seed each was trained
    with, from RUN/<network>/config.json and RUN/attacks/settings.json."""
    configs = {}
    for network in TRAINED_NETWORKS:
        path = run_dir / network / NETWORK_CONFIG_FILE
        if not path.is_file():
            raise UserError(f"{path} not found: {run_dir} is not a trained run; train it with "
                            "`mindseye train all`")
        configs[network] = json.loads(path.read_text())
    seeds = {config.get("seed", 0) for config in configs.values()}
    return {"preset": configs["direct"]["preset"],
            "data": configs["direct"].get("data_fingerprint"),
            "seed": seeds.pop() if len(seeds) == 1 else sorted(seeds),
            "attacks": recorded_settings(run_dir)}


def read_metrics(run_dir: Path) -> dict:
    path = run_dir / "report" / "metrics.json"
    if not path.is_file():
        raise UserError(f"{path} not found; write the run's report first with `mindseye eval "
                        f"{run_dir} DATA`")
    return json.loads(path.read_text())


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
    paper = PAPER_ATTACK.name
    for row in metrics.get("effort", {}).get(paper, []):
        where = f"{setting_name(row['network'], row['threshold'])}, {row['kind']}"
        found[f"{paper} median steps, {where}"] = row["steps"]["median"]
        found[f"{paper} median distortion, {where}"] = row["distortion"]["median"]
        found[f"{paper} success (%), {where}"] = 100 * row["succeeded"] / max(1, row["attacked"])
    for row in metrics.get("robust_accuracy", {}).get(PGD_ATTACK.name, []):
        if row["epsilon"] in COMPARED_EPSILONS:
            found[f"PGD robust accuracy (%) @{row['epsilon']:g}, "
                  f"{setting_name(row['network'], row['threshold'])}"] = 100 * row[
                      "robust_accuracy"]
    return {name: float(value) for name, value in found.items() if value is not None}


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
    """The comparison of several runs of one experiment (see the module docstring)."""
    if len(run_dirs) < 2:
        raise UserError("give at least two run folders to compare")
    if len({Path(run_dir).resolve() for run_dir in run_dirs}) < len(run_dirs):
        raise UserError("a run folder is given twice; give each run once")
    identities = [run_identity(run_dir) for run_dir in run_dirs]
    seeds = [json.dumps(identity["seed"]) for identity in identities]
    if len(set(seeds)) < len(seeds):
        raise UserError(f"the runs share a training seed ({', '.join(seeds)}): compare runs "
                        "trained with different --seed")
    for name in ("preset", "data", "attacks"):
        differing = {json.dumps(identity[name], sort_keys=True) for identity in identities}
        if len(differing) > 1:
            raise UserError(f"the runs differ in {name} ({', '.join(str(d) for d in run_dirs)}): "
                            "compare runs of one experiment that differ only in --seed")
    metrics = [read_metrics(run_dir) for run_dir in run_dirs]
    per_run = [quantities(run) for run in metrics]
    names = list(dict.fromkeys(name for run in per_run for name in run))
    claims: dict[str, list] = {}  # claim -> holds per run (None: not judged in that run)
    for index, run in enumerate(metrics):
        for claim in run.get("claims", []):
            claims.setdefault(claim["claim"], [None] * len(run_dirs))[index] = claim["holds"]
    return {
        "runs": [str(run_dir) for run_dir in run_dirs],
        "seeds": [identity["seed"] for identity in identities],
        "preset": identities[0]["preset"],
        "quantities": {name: between_seeds([run.get(name) for run in per_run])
                       for name in names},
        "claims": [{"claim": claim, "holds": holds} for claim, holds in claims.items()],
    }


def comparison_markdown(comparison: dict) -> str:
    """The comparison as a markdown page."""
    seeds = ", ".join(map(str, comparison["seeds"]))
    count = len(comparison["runs"])
    lines = [f"# {comparison['preset']}: {count} training seeds ({seeds})", "",
             "Runs: " + ", ".join(f"`{run}`" for run in comparison["runs"]) + ".", "",
             "Each row is one quantity of the runs' reports (`mindseye eval`): its value per "
             "seed, the mean, the between-seed standard deviation and a 95% t-interval of the "
             "mean (what retraining moves, which no single run's interval contains), over the "
             "seeds that have a value (a median of steps needs a success).", "",
             f"| quantity | {' | '.join(f'seed {seed}' for seed in comparison['seeds'])} | mean "
             "| sd | 95% interval |",
             "|---|" + "---|" * (count + 3)]
    for name, summary in comparison["quantities"].items():
        values = " | ".join(_number(value) for value in summary["values"])
        interval = (f"{_number(summary['ci'][0])} to {_number(summary['ci'][1])}"
                    if "ci" in summary else "-")
        lines.append(f"| {name} | {values} | {_number(summary.get('mean'))} | "
                     f"{_number(summary.get('sd'))} | {interval} |")
    lines += ["", "## The claims, seed by seed", "",
              f"| claim | {' | '.join(f'seed {s}' for s in comparison['seeds'])} | holds in |",
              "|---|" + "---|" * (count + 1)]
    for claim in comparison["claims"]:
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
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "compare.json", comparison)
    write_text_atomic(out_dir / "compare.md", comparison_markdown(comparison))
    return out_dir / "compare.md"

