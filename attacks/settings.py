"""What the attacks do by default: their sizes per preset, and the settings lock.

Every default of `mindseye attack` and of the pipeline's attack stage lives here. Kept free of
torch so that the command line starts quickly.
"""

import contextlib
import json
from dataclasses import dataclass, fields, replace
from pathlib import Path

from mindseye.core.constants import (
    CLASSIFIERS,
    NETWORK_CONFIG_FILE,
    PAPER_STEP_CAP,
    THRESHOLDS,
    TRAINED_NETWORKS,
)
from mindseye.core.errors import UserError
from mindseye.core.files import held_lock, read_json, write_json_atomic
from mindseye.render.settings import MAX_PER_CLASS

# Images per forward pass, by the device the network is on: speed and memory, never what an
# attack finds (up to float rounding). A GPU fills its cores with large batches. On a CPU the
# triple-staged network's activations outgrow the caches past a few dozen images (its
# comparator keeps 64 maps of 55x55 per class and image): on one core of an AVX2-only EPYC, 8
# images ran its forward pass 1.4x and its forward-backward pass 1.5x faster than 128, and the
# direct networks' 5% (forward) and 1% (forward-backward) slower
# (benchmarks/attack_batch_size.py). Other devices take the GPU's.
ATTACK_BATCH_SIZES = {"cpu": 8, "cuda": 128}
# Every attack's batch size before they went by device (2026-12-05): a kept place saved then
# does not name its own, and its parts are batches of this size.
LEGACY_BATCH_SIZE = 128


def attack_batch_size(model, batch_size: int | None = None) -> int:
    """`batch_size`, or where it is None the default of the device `model` (a torch module,
    a victim's network) is on."""
    if batch_size is not None:
        return batch_size
    device_type = next(model.parameters()).device.type
    return ATTACK_BATCH_SIZES.get(device_type, ATTACK_BATCH_SIZES["cuda"])

GRADIENT_PRECISIONS = ("float32", "bfloat16")
# How often an iterative attack's batch saves its place (attacks/base.py): a kill loses at most
# this much of a unit that takes half an hour.
PROGRESS_EVERY_SECONDS = 60.0
# How often a process that left units to others looks whether they are done (attacks/targeted.py).
CLAIM_POLL_SECONDS = 10.0


@dataclass(frozen=True)
class AttackSettings:
    """One attack set-up. The defaults are the values the presets share; the presets below
    set the sizes."""

    max_steps: int = 1000
    per_class: int = 20  # test images per class for the paper's attacks (ifgsm, ifgsm-bpda)
    # For the attacks beyond the paper (pgd, square, adaptive); the first of the same images, so
    # that adaptive pairs with ifgsm source by source.
    extra_per_class: int = 20
    thresholds: tuple[float, ...] = THRESHOLDS
    epsilons: tuple[float, ...] = (1, 2, 4, 8, 16, 32)  # L-inf budgets on 0..255
    pgd_iterations: int = 20
    square_queries: int = 300
    chunk: int = 32  # source images per resumable unit
    batch_size: int | None = None  # None: the device's (attack_batch_size)
    device: str = "auto"  # auto: CUDA when present
    # The triple-staged network's iterative attacks (ifgsm, its variants, BPDA, adaptive) may
    # take their gradient in bfloat16, 2-3x faster where the CPU has AVX512-BF16 (several times
    # slower where it has not); decisions stay float32 (attacks/base.py).
    gradient_precision: str = "float32"
    fmn_steps: int = 100  # Fast Minimum-Norm's steps (attacks/minimal_norm.py)
    # HopSkipJump: boundary iterations, and probes per gradient estimate (at most
    # iterations x evaluations queries per image).
    hsj_iterations: int = 40
    hsj_evaluations: int = 1000
    # HopSkipJump's images per label: the first of the extra_per_class ones (None: all of them),
    # since it costs about 15,000 passes per image and threshold.
    hsj_per_class: int | None = None


ATTACK_PRESETS: dict[str, AttackSettings] = {
    # The triple-staged network dominates the cost (three classes through three stages per
    # step), so the demo attacks a few images per class with short budgets.
    "demo": AttackSettings(per_class=3, extra_per_class=3, max_steps=100, epsilons=(2, 8, 32),
                           pgd_iterations=5, square_queries=25),
    # The least that the medium experiment needs: 100 images per class for the paper's attacks,
    # 50 for PGD, Square and the adaptive attack (results/README.md).
    "medium": AttackSettings(per_class=100, extra_per_class=50, max_steps=PAPER_STEP_CAP),
    # The paper's sizes, capped at the paper's display clip.
    "paper": AttackSettings(per_class=1000, extra_per_class=1000, max_steps=PAPER_STEP_CAP),
}

# The largest value each size option takes, and why: past these a typo is likelier than a plan.
SIZE_BOUNDS: dict[str, tuple[int, str]] = {
    "max_steps": (100_000, "ten times the authors' cap of 10000 steps"),
    "per_class": (MAX_PER_CLASS, "the most samples per class a render makes"),
    "extra_per_class": (MAX_PER_CLASS, "the most samples per class a render makes"),
    "pgd_iterations": (100_000, "a hundred times AutoAttack's APGD"),
    "square_queries": (1_000_000, "two hundred times AutoAttack's Square"),
    "chunk": (100_000, "a budgeted attack's unit is redone whole after a kill"),
    "batch_size": (65_536, "a batch's activations must fit in memory"),
    "fmn_steps": (100_000, "a thousand times FMN's usual 100"),
    "hsj_iterations": (10_000, "250 times HopSkipJump's usual 40"),
    "hsj_evaluations": (1_000_000, "a thousand times the usual probes"),
    "hsj_per_class": (MAX_PER_CLASS, "the most samples per class a render makes"),
}


# What the records depend on: a run folder's attacks must all use the same values.
RECORDED_SETTINGS = ("max_steps", "per_class", "extra_per_class", "thresholds", "epsilons",
                     "pgd_iterations", "square_queries", "chunk", "gradient_precision",
                     "fmn_steps", "hsj_iterations", "hsj_evaluations", "hsj_per_class")
# Recorded settings added after the first runs: a lock without them used the default.
LATER_SETTINGS = {name: getattr(AttackSettings, name) for name in (
    "gradient_precision", "fmn_steps", "hsj_iterations", "hsj_evaluations", "hsj_per_class")}
SETTINGS_FILE = "settings.json"
# The lock's list of other data digests whose test images the records agree with.
AGREEING_DATA_KEY = "data_records_agree_with"


def parse_networks(text: str) -> tuple[str, ...]:
    """'direct,triple-staged' -> ('direct', 'triple-staged'), in CLASSIFIERS order."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in CLASSIFIERS]
    if unknown or not names:
        problem = f"unknown network {unknown[0]!r}" if unknown else "no network named"
        raise UserError(f"--networks {text!r}: {problem}; choose from {', '.join(CLASSIFIERS)}, "
                        "separated by commas")
    return tuple(name for name in CLASSIFIERS if name in names)


def parse_numbers(option: str, text: str, low: float, high: float,
                  example: str) -> tuple[float, ...]:
    """'2,8,32' -> (2.0, 8.0, 32.0), each strictly inside (low, high) for the option `option`."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"{option} {text!r}: give numbers separated by commas, e.g. "
                        f"{example}") from None
    outside = [value for value in values if not low < value < high]
    if outside:
        raise UserError(f"{option} {text!r}: {outside[0]:g} is outside ({low:g}, {high:g})")
    return values


def parse_thresholds(text: str) -> tuple[float, ...]:
    """'0.2,0.45,0.7' -> (0.2, 0.45, 0.7); a ratio threshold lies strictly between 0 and 1."""
    return parse_numbers("--thresholds", text, 0, 1, ",".join(map(str, THRESHOLDS)))


def parse_epsilons(text: str) -> tuple[float, ...]:
    """'2,8,32' -> (2.0, 8.0, 32.0): L-inf budgets in whole grey levels, in (0, 255). Every
    adversarial is an 8-bit image, so a budget between grey levels would mean the one below
    it while the records claimed the one given."""
    values = parse_numbers("--epsilons", text, 0, 255, "1,2,4,8,16,32")
    fractional = [value for value in values if value != int(value)]
    if fractional:
        raise UserError(f"--epsilons {text!r}: {fractional[0]:g} is between grey levels; the "
                        "adversarials are 8-bit images, so give whole grey levels, e.g. "
                        "1,2,4,8,16,32")
    return values


def attacks_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "attacks"


def read_lock(run_dir: Path) -> dict | None:
    """RUN/attacks/settings.json as written (settings, data, weights), or None before the
    run's first attack."""
    path = attacks_dir(run_dir) / SETTINGS_FILE
    if not path.is_file():
        return None
    return read_json(path, f"restore it, or move {attacks_dir(run_dir)} away to start the "
                           "attacks afresh")


def recorded_settings(run_dir: Path) -> dict | None:
    """RUN/attacks/settings.json: the RECORDED_SETTINGS of the run's first attack, or None."""
    recorded = read_lock(run_dir)
    if recorded is None:
        return None
    return {**LATER_SETTINGS,
            **{name: tuple(value) if isinstance(value, list) else value
               for name, value in recorded.items() if name in RECORDED_SETTINGS}}


def recorded_epsilons(run_dir: Path) -> tuple[float, ...] | None:
    """The budgets the run's attacks were locked at, as floats (records' `epsilon`), or None."""
    recorded = recorded_settings(run_dir)
    return None if recorded is None else tuple(float(e) for e in recorded["epsilons"])


def lock_settings(run_dir: Path, settings: AttackSettings, data: str | None = None,
                  weights: dict[str, str] | None = None, records_agree: bool = False) -> None:
    """The first attack on a run writes RUN/attacks/settings.json; later ones must match it,
    because finished units are skipped by name and would silently mix two set-ups. With `data`
    (the data's content digest) and `weights` (network -> weights digest), the lock also ties
    the records to what they were made on: other data, or a network retrained since, is
    refused. Check and write happen under a file lock, so of two attacks started at once with
    other settings, the second is refused. Call it once the command's inputs are validated.
    `records_agree`: every stored adversarial is at its recorded distance from this data's
    test images (see `check_data`)."""
    wanted = {name: getattr(settings, name) for name in RECORDED_SETTINGS}
    folder = attacks_dir(run_dir)
    with held_lock(folder / f"{SETTINGS_FILE}.lock"):
        recorded = recorded_settings(run_dir)
        if recorded is None:
            lock = dict(wanted)
        else:
            check_against_recorded(run_dir, wanted, recorded)
            lock = read_lock(run_dir)
        if data is not None:
            # A new lock takes this data; a lock with records, the rule of `check_data`. Other
            # data the records agree with is listed beside the data they were made on.
            lock["data"] = data if recorded is None else check_data(run_dir, lock.get("data"),
                                                                    data, records_agree)
            if lock["data"] != data:
                lock[AGREEING_DATA_KEY] = sorted({*lock.get(AGREEING_DATA_KEY, []), data})
        if weights:
            check_weights(run_dir, lock.get("weights", {}), weights)
            lock["weights"] = {**lock.get("weights", {}), **weights}
        write_json_atomic(folder / SETTINGS_FILE, lock)


def check_data(run_dir: Path, recorded: str | None, data: str,
               records_agree: bool = False) -> str:
    """The data digest a run's records are tied to: the one the lock records, where `data` is
    it or the records themselves show they were made on this data's test images
    (`records_agree`: the same render can differ across machines in samples no record
    touches, so a re-rendered dataset may have another digest; see
    `experiments.sources_agreeing`). A lock written before locks named their data is trusted
    for the data the networks were trained on, and for other data on the same showing."""
    path = attacks_dir(run_dir) / SETTINGS_FILE
    shown = ("the records do not agree with its test images (no stored adversarial, or one "
             "missing or not at its recorded distances from them)")
    if recorded is None:
        trained = trained_data(run_dir)
        if trained is not None and trained != data and not records_agree:
            raise UserError(f"{path} does not say which data its records were made on, this "
                            f"data ({data[:12]}) is not the data the networks were trained on "
                            f"({trained[:12]}), and {shown}; attack the data they were made "
                            f"on, or move {attacks_dir(run_dir)} away to attack this one afresh")
        return data
    if recorded != data and not records_agree:
        raise UserError(f"{path}: the records were made on other data ({recorded[:12]}, this "
                        f"is {data[:12]}) and {shown}; give the data they were made on (a "
                        "render on another kind of machine can differ; `mindseye dataset "
                        "compare` shows where, and a `mindseye dataset copy` of the records' "
                        f"test split travels), or move {attacks_dir(run_dir)} away to attack "
                        "this data afresh")
    return recorded


def check_weights(run_dir: Path, recorded: dict[str, str], weights: dict[str, str]) -> None:
    """Every network the lock names with other weights than these is refused: its records
    were made by another network (retrained since?)."""
    for network, digest in weights.items():
        if recorded.get(network, digest) != digest:
            raise UserError(f"{attacks_dir(run_dir) / SETTINGS_FILE}: the records of {network} "
                            "were made with other weights (retrained since?); move "
                            f"{attacks_dir(run_dir)} away to attack the new networks afresh")


def trained_networks(run_dir: Path) -> list[str]:
    """The networks a run folder holds a config of (RUN/<network>/config.json), in training
    order: none where the folder is no run."""
    return [network for network in TRAINED_NETWORKS
            if (Path(run_dir) / network / NETWORK_CONFIG_FILE).is_file()]


def trained_value(run_dir: Path, key: str, accept=bool) -> object | None:
    """The first value of `key` that `accept` takes in the configs of the run's trained
    networks (RUN/<network>/config.json), in training order; None if none has one."""
    for network in TRAINED_NETWORKS:
        path = Path(run_dir) / network / NETWORK_CONFIG_FILE
        with contextlib.suppress(OSError, ValueError, AttributeError):
            found = json.loads(path.read_text()).get(key)
            if accept(found):
                return found
    return None


def records_made_on(run_dir: Path) -> str | None:
    """The content digest of the data the run's attack records were made on: the lock's, or
    for a lock from before locks named their data, the networks' training data; None before
    the first attack."""
    lock = read_lock(run_dir)
    return None if lock is None else lock.get("data", trained_data(run_dir))


def trained_data(run_dir: Path) -> str | None:
    """The content digest of the data the run's networks were trained on (their configs)."""
    return trained_value(run_dir, "data_fingerprint")


def check_made_by(run_dir: Path, data: str, weights: dict[str, str],
                  records_agree: bool = False) -> None:
    """A report's check that the run's attack records were made on this data and these
    weights (a run never attacked, or attacked before locks named them, passes as
    `check_data` says, `records_agree` as there)."""
    lock = read_lock(run_dir)
    if lock is None:
        return
    check_data(run_dir, lock.get("data"), data, records_agree)
    check_weights(run_dir, lock.get("weights", {}), weights)


def check_against_recorded(run_dir: Path, wanted: dict, recorded: dict) -> None:
    changed = [f"{name} {_shown(recorded.get(name))} -> {_shown(value)}"
               for name, value in wanted.items() if recorded.get(name) != value]
    if changed:
        raise UserError(f"{attacks_dir(run_dir) / SETTINGS_FILE}: the attacks in this run used "
                        f"other settings ({'; '.join(changed)}); leave those options out to use "
                        f"the recorded ones, or move {attacks_dir(run_dir)} away to start the "
                        "attacks afresh")


def _shown(value: object) -> str:
    """A setting as the user types it: (2.0, 8.0) -> 2,8."""
    if isinstance(value, tuple):
        return ",".join(f"{item:g}" for item in value)
    return str(value)


def trained_preset(run_dir: Path) -> str:
    """The preset the run's networks were trained with (RUN/<network>/config.json)."""
    preset = trained_value(run_dir, "preset", accept=lambda value: value in ATTACK_PRESETS)
    if preset is not None:
        return preset
    networks = trained_networks(run_dir)
    if not networks:
        raise not_a_run(run_dir)
    for network in networks:  # a config cut short is named, not taken for one without a preset
        read_json(Path(run_dir) / network / NETWORK_CONFIG_FILE,
                  f"restore it from a copy of the run, or train {network} again")
    raise UserError(f"{run_dir}: no trained network says which preset it used; give --preset")


def not_a_run(run_dir: Path) -> UserError:
    """What a folder without any trained network's config is told."""
    return UserError(f"{run_dir} is not a run folder (no {NETWORK_CONFIG_FILE} in any of "
                     f"{', '.join(TRAINED_NETWORKS)}); train first with `mindseye train all "
                     f"DATA --out {run_dir}`")


def settings_for_run(run_dir: Path, preset: str | None, **given: object) -> AttackSettings:
    """The settings `mindseye attack` uses on RUN, from the options the user gave (None: not
    given). On a run that has been attacked, the recorded settings, which a preset or an
    option may only repeat; on a fresh run, the preset (default: the one the run was trained
    with) with the options on top."""
    given = {name: value for name, value in given.items() if value is not None}
    unknown = set(given) - {field.name for field in fields(AttackSettings)}
    if unknown:
        raise TypeError(f"unknown attack settings {sorted(unknown)}")
    recorded = recorded_settings(run_dir)
    if recorded is None:
        return replace(ATTACK_PRESETS[preset or trained_preset(run_dir)], **given)
    wanted = {name: value for name, value in given.items() if name in RECORDED_SETTINGS}
    if preset is not None:
        wanted = {**{name: getattr(ATTACK_PRESETS[preset], name) for name in RECORDED_SETTINGS},
                  **wanted}
    check_against_recorded(run_dir, wanted, recorded)
    return replace(AttackSettings(), **recorded, **{name: value for name, value in given.items()
                                                     if name not in RECORDED_SETTINGS})


def attack_settings(preset: str, **given: object) -> AttackSettings:
    """A preset's settings with the options given (None: not given), as the pipeline uses."""
    return replace(ATTACK_PRESETS[preset],
                   **{name: value for name, value in given.items() if value is not None})
