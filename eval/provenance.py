"""What made a report: the presets, data and attack sizes, seeds and the code's commit, and
whether those sizes are enough for the verdicts to say anything about the paper.

A demo run (networks trained for minutes, three attacked images per class) exercises the whole
pipeline, but its verdicts on the paper's claims are noise; the report says so at its top and
points at `results/`, where the measured experiment lives.
"""

import json
import subprocess
from pathlib import Path

from mindseye.attacks.experiments import variant_tables
from mindseye.attacks.registry import attack_specs, get_attack
from mindseye.attacks.settings import ATTACK_PRESETS, attacks_dir, recorded_settings
from mindseye.core import __version__
from mindseye.core.constants import NETWORK_CONFIG_FILE, TRAINED_NETWORKS
from mindseye.dataset.manifest import read_manifest

# Networks trained this way speak for the paper; a demo run's (minutes of training) do not.
VERDICT_PRESETS = ("medium", "paper")
# The attack sizes of the medium preset: 100 test images per class for the paper's attack, 50
# for the others. Below them a report on medium-trained networks still judges the paper, each
# verdict saying whether its 95% intervals agree (the photos seeds ran at 50 and 25 for
# compute, results/README.md); the report names the sizes it falls short of.
VERDICT_SIZES = {name: getattr(ATTACK_PRESETS["medium"], name)
                 for name in ("per_class", "extra_per_class")}
VERDICT_PER_CLASS = VERDICT_SIZES["per_class"]
CODE_DIR = Path(__file__).resolve().parent
CLEAN_RECIPE = "clean"  # the recipe of networks trained on clean images only


def code_commit(where: Path = CODE_DIR) -> str:
    """The git commit of the code that wrote the report (`+changes` when the checkout has
    uncommitted edits outside `results/`, where running attacks keep their records), or the
    package version where it is not a git checkout."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                      ":(top,exclude)results")
    except (OSError, subprocess.SubprocessError):
        return f"version {__version__} (not a git checkout)"
    return commit + (" +changes" if changed else "")


def recipe_label(configs: dict[str, dict]) -> str:
    """How a run's networks were trained, in a few words, from their config.json: `clean`,
    `fgsm 8` (adversarial training with FGSM at 8 grey levels), `pgd 8 x7`, or per network
    where they differ. The projector never sees an image, so it trains the same under every
    recipe and is left out."""
    labels = {network: _recipe_words(config.get("adversarial"))
              for network, config in configs.items() if network != "projector"}
    if len(set(labels.values())) <= 1:
        return next(iter(labels.values()), CLEAN_RECIPE)
    return "; ".join(f"{network} {label}" for network, label in labels.items())


def _recipe_words(adversarial: dict | None) -> str:
    if not adversarial:
        return CLEAN_RECIPE
    steps = f" x{adversarial['steps']}" if adversarial.get("steps", 1) > 1 else ""
    return f"{adversarial['method']} {adversarial['epsilon']:g}{steps}"


def provenance(run_dir: Path, data_dir: Path) -> dict:
    """Presets, sizes and seeds as the run folder, the dataset and the attack records say."""
    config = read_manifest(data_dir).config.get("render", {})
    networks, configs = {}, {}
    for network in TRAINED_NETWORKS:
        path = Path(run_dir) / network / NETWORK_CONFIG_FILE
        if path.is_file():
            trained = configs[network] = json.loads(path.read_text())
            networks[network] = {"preset": trained.get("preset"), "seed": trained.get("seed"),
                                 "steps": trained.get("schedule", {}).get("steps")}
    attacks = recorded_settings(run_dir)
    presets = sorted({str(n["preset"]) for n in networks.values()})
    trained = bool(presets) and set(presets) <= set(VERDICT_PRESETS)
    short = {name: {"ran": attacks[name] if attacks else None, "preset": size}
             for name, size in VERDICT_SIZES.items()
             if attacks is None or attacks[name] < size}
    return {
        "commit": code_commit(),
        "training_presets": presets,
        "recipe": recipe_label(configs),
        "networks": networks,
        "data": {name: config.get(name) for name in
                 ("per_class", "test_per_class", "classes", "backgrounds", "seed")},
        "attacks": (None if attacks is None else
                    {name: list(value) if isinstance(value, tuple) else value
                     for name, value in attacks.items()}),
        "attacks_run": [] if attacks is None else attacks_run(run_dir, attacks),
        "trained_for_verdicts": trained,
        "sizes_short_of_preset": short,
        "sizes_enough_for_verdicts": trained and not short,
    }


def attacks_run(run_dir: Path, settings: dict) -> list[dict]:
    """The registered attacks with records on the run, in the registry's order (the paper's
    attack run other ways, `ifgsm+...`, after it), each with the test images per class it takes
    (a cascade's `members`, each with its own): the lock's sizes are what an attack would
    take, these are what ran, finished or running."""
    def images_per_class(spec) -> int:
        count = settings.get(spec.per_class_setting) if spec.per_class_setting else None
        return settings[spec.images] if count is None else min(count, settings[spec.images])

    found = []
    for spec in attack_specs():
        tables = [spec.name] + (variant_tables(run_dir) if spec.variants else [])
        for table in tables:
            if not any((attacks_dir(run_dir) / table).glob("*.json")):
                continue
            row = {"name": table, "per_class": images_per_class(spec)}
            if spec.members:  # a member takes the first of the cascade's images
                row["members"] = [{"name": name, "per_class": min(
                    images_per_class(get_attack(name)), row["per_class"])}
                    for name in spec.members]
            found.append(row)
    return found
