"""`mindseye attack RUN DATA`: adversarial effort per network and target, resumable."""

import textwrap
from dataclasses import replace
from pathlib import Path

import click

from mindseye.attacks.experiments import run_attack
from mindseye.attacks.ifgsm import ATTACK_LOSSES, ORIGINAL, OURS, PAPER_ATTACK, STOP_RULES, Variant
from mindseye.attacks.registry import (
    ALL,
    CLIP_MODES,
    PAPER_IMAGES,
    attack_specs,
    get_attack,
)
from mindseye.attacks.settings import (
    ATTACK_BATCH_SIZES,
    ATTACK_PRESETS,
    GRADIENT_PRECISIONS,
    SIZE_BOUNDS,
    AttackSettings,
    not_a_run,
    parse_epsilons,
    parse_networks,
    parse_thresholds,
    settings_for_run,
    trained_networks,
)
from mindseye.core.constants import CLASSIFIERS, MANIFEST_FILE, PRESETS
from mindseye.core.errors import UserError
from mindseye.core.files import make_writable_folder
from mindseye.core.parallel import check_scheduler_address
from mindseye.models.runs import native_bfloat16, resolve_device


def check_folders(run_dir: Path, data_dir: Path) -> None:
    """RUN must exist and DATA hold a manifest, or the user is told which command comes first."""
    if run_dir.is_file():
        raise UserError(f"{run_dir} is a file, not a run folder; give the folder `mindseye "
                        "train all --out` made")
    if not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} not found; train first with `mindseye train all`")
    if not (data_dir / MANIFEST_FILE).is_file():
        raise UserError(f"{data_dir}/manifest.json not found; render the data first with "
                        "`mindseye render`")
    if not trained_networks(run_dir):
        raise not_a_run(run_dir)


def _bound(name: str) -> str:
    """' At most N (why).' for a size option's help."""
    bound, reason = SIZE_BOUNDS[name]
    return f" At most {bound:,} ({reason})."


def _preset_values(name: str) -> str:
    """'demo 3, medium 100, paper 1000' for one setting."""
    return ", ".join(f"{preset} {getattr(ATTACK_PRESETS[preset], name)}" for preset in PRESETS)


def attack_list() -> str:
    """The registered attacks, a paragraph each, for `mindseye attack --help`."""
    lines = ["\b", "Attacks (--attack NAME; `all` runs those marked *, in this order;",
             "[P]: on the --per-class images, the others on the --extra-per-class images):"]
    width = max(len(spec.name) for spec in attack_specs()) + 3
    for spec in attack_specs():
        summary = spec.summary + (" [P]" if spec.images == PAPER_IMAGES else "")
        text = textwrap.wrap(summary, 90 - width, break_on_hyphens=False)
        lines.append(f"{spec.name + (' *' if spec.in_all else ''):<{width}}{text[0]}")
        lines += [" " * width + line for line in text[1:]]
    return "\n".join(lines)


ATTACK_HELP = """Attack the networks of RUN on the test images of DATA; records go to RUN/attacks/.

{attacks}

The report's robust accuracy headline is the worst case per image over every budgeted
attack and cascade run.

The first attack on a run records its sizes in RUN/attacks/settings.json; later attacks use them,
and an option that contradicts them is refused (finished units are skipped by name, so two set-ups
would mix).

The paper's attack and every other targeted attack run unit by unit, and several processes (on one
machine, or machines sharing RUN on a file system that locks files) can run the same command side
by side: each takes the units no other holds (a lock on RUN/attacks/<attack>/<unit>.claim), then
waits for the rest. A killed run carries on where it stopped, inside its unit too.
"""


class RegistryCommand(click.Command):
    """`mindseye attack`, whose help lists the attacks registered when it is asked for."""

    def format_help_text(self, context: click.Context, formatter: click.HelpFormatter) -> None:
        self.help = ATTACK_HELP.format(attacks=attack_list())
        super().format_help_text(context, formatter)


@click.command(cls=RegistryCommand)
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.argument("data_dir", metavar="DATA", type=click.Path(path_type=Path))
@click.option("--attack", "attack_name", default=PAPER_ATTACK.name, show_default=True,
              help=f"An attack listed above, or {ALL}.")
@click.option("--preset", type=click.Choice(PRESETS),
              help="Attack sizes of a preset. [default: the recorded settings of a run already "
              "attacked, else the preset the run was trained with]")
@click.option("--max-steps", type=int, help="Step cap of the iterative attacks "
              f"({_preset_values('max_steps')})." + _bound("max_steps"))
@click.option("--per-class", type=int, help="Test images per class for the paper's attack and "
              f"those marked [P] above ({_preset_values('per_class')})." + _bound("per_class"))
@click.option("--extra-per-class", type=int, help="Test images per class for the other "
              "attacks, taken in test-split order as "
              "--per-class takes them, so the smaller set is part of the larger "
              f"({_preset_values('extra_per_class')})." + _bound("extra_per_class"))
@click.option("--thresholds", help="Triple-staged thresholds, each in (0, 1) "
              f"[preset: {','.join(map(str, AttackSettings.thresholds))}].")
@click.option("--epsilons", help="L-inf budgets of the budgeted attacks in grey levels, e.g. "
              "2,8,32 "
              f"(demo {','.join(f'{e:g}' for e in ATTACK_PRESETS['demo'].epsilons)}; medium "
              f"and paper {','.join(f'{e:g}' for e in AttackSettings.epsilons)}).")
@click.option("--pgd-iterations", type=int,
              help=f"PGD's iterations per budget ({_preset_values('pgd_iterations')})."
              + _bound("pgd_iterations"))
@click.option("--square-queries", type=int,
              help=f"Square's queries per budget ({_preset_values('square_queries')})."
              + _bound("square_queries"))
@click.option("--chunk", type=int, help="Source images per resumable unit: a kill loses at most "
              "one; larger keeps a GPU's batches full as images flip and leave. Fixed for a "
              f"run by its first attack, like the sizes [preset: {AttackSettings.chunk}]."
              + _bound("chunk"))
@click.option("--batch-size", type=int, help="Images per forward pass; changes speed and "
              "memory, not the records (up to float rounding) [default: by device, "
              + ", ".join(f"{size} on {device}" for device, size in ATTACK_BATCH_SIZES.items())
              + "]."
              + _bound("batch_size"))
@click.option("--networks", "network_names", default=",".join(CLASSIFIERS), show_default=True,
              help="Which networks to attack. Records are per network, so runs on different "
              "machines can split the networks and share one RUN/attacks/.")
@click.option("--device", default=AttackSettings.device, show_default=True,
              help="auto|cpu|cuda")
@click.option("--fmn-steps", type=int, help="Fast Minimum-Norm's steps; fixed for a run "
              f"by its first attack [default: {AttackSettings.fmn_steps}]." + _bound("fmn_steps"))
@click.option("--hsj-iterations", type=int, help="HopSkipJump's boundary iterations; fixed "
              "for a run "
              f"[default: {AttackSettings.hsj_iterations}]." + _bound("hsj_iterations"))
@click.option("--hsj-evaluations", type=int, help="HopSkipJump's probes per gradient estimate "
              "(at most "
              "iterations x evaluations queries per image); fixed for a run "
              f"[default: {AttackSettings.hsj_evaluations}]." + _bound("hsj_evaluations"))
@click.option("--hsj-per-class", type=int, help="HopSkipJump's images per label: the first "
              "of the --extra-per-class images (it costs about 15,000 passes per image and "
              "threshold); at most --extra-per-class; fixed for a run [default: all of them].")
@click.option("--gradient-precision", type=click.Choice(GRADIENT_PRECISIONS),
              help="The triple-staged network's step-by-step targeted attacks (the paper's, "
              "its variants, BPDA, adaptive, pose search) take their gradient in bfloat16: "
              "2-3x faster on CPUs with AVX512-BF16 and on GPUs (much slower on CPUs without), "
              "with every decision, success and step count still the float32 network's. Fixed "
              f"for a run by its first attack [default: {AttackSettings.gradient_precision}].")
@click.option("--stop-at", type=click.Choice(STOP_RULES),
              help="Variant of the paper's attack: a false positive stops at its target (ours) "
              "or at any positive class other than the source (the authors' code).")
@click.option("--loss", "loss_name", type=click.Choice(ATTACK_LOSSES),
              help="Variant of the paper's attack, triple-staged network: log (ours, -log r_t - "
              "sum log(1 - r_c)) or euclidean (the authors': squared distance to the target "
              "vector).")
@click.option("--clip", type=click.Choice([mode.replace("_", "-") for mode in CLIP_MODES]),
              callback=lambda _context, _option, value: value and value.replace("-", "_"),
              help="Variant of the paper's attack: the estimator's clip at attack time: hard "
              "(ours), none (the authors' merged network has none) or straight-through.")
@click.option("--original", is_flag=True,
              help="The paper's attack as the authors' code ran it: --stop-at any-other --loss "
              f"euclidean --clip none --max-steps {ORIGINAL.max_steps}. Any variant option "
              f"writes its own table (RUN/attacks/{PAPER_ATTACK.name}+...), and --max-steps then "
              "caps that table alone.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run a cascade's units on a Dask cluster (e.g. tcp://host:8786) instead of "
              "in this process; the records are the same. Other attacks run here.")
@click.option("--jobs", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Run a cascade's units in this many processes on this machine (one per core, "
              "say), each keeping its unit's place as one process does; the records are the "
              "same. The targeted attacks (ifgsm, fmn-...) share their units between processes "
              "instead: start the same command once per core.")
def attack(run_dir: Path, data_dir: Path, attack_name: str, preset: str | None,
           max_steps: int | None, per_class: int | None, extra_per_class: int | None,
           thresholds: str | None, epsilons: str | None, pgd_iterations: int | None,
           square_queries: int | None, chunk: int | None, batch_size: int | None,
           network_names: str, device: str, fmn_steps: int | None,
           hsj_iterations: int | None, hsj_evaluations: int | None,
           hsj_per_class: int | None, gradient_precision: str | None,
           stop_at: str | None, loss_name: str | None, clip: str | None,
           original: bool, scheduler: str | None, jobs: int) -> None:
    if attack_name != ALL:
        get_attack(attack_name)  # an unknown name fails before anything is loaded
    check_scheduler_address(scheduler)
    if jobs > 1 and scheduler:
        raise UserError("--jobs and --scheduler: give one; with a Dask cluster its workers are "
                        "the jobs")
    for option, value in (("--max-steps", max_steps), ("--per-class", per_class),
                          ("--extra-per-class", extra_per_class),
                          ("--pgd-iterations", pgd_iterations),
                          ("--square-queries", square_queries), ("--chunk", chunk),
                          ("--batch-size", batch_size), ("--fmn-steps", fmn_steps),
                          ("--hsj-iterations", hsj_iterations),
                          ("--hsj-evaluations", hsj_evaluations),
                          ("--hsj-per-class", hsj_per_class)):
        bound, reason = SIZE_BOUNDS[option.removeprefix("--").replace("-", "_")]
        if value is not None and not 1 <= value <= bound:
            raise UserError(f"{option} {value}: give 1 to {bound:,} ({reason})")
    variant = variant_from_options(attack_name, stop_at, loss_name, clip, original, max_steps)
    if variant != OURS:
        max_steps = None  # the variant's own cap, not the run's
    parsed_thresholds = parse_thresholds(thresholds) if thresholds is not None else None
    parsed_epsilons = parse_epsilons(epsilons) if epsilons is not None else None
    networks = parse_networks(network_names)
    check_folders(run_dir, data_dir)
    make_writable_folder(run_dir / "attacks", "RUN")
    settings = settings_for_run(
        run_dir, preset, max_steps=max_steps, per_class=per_class,
        extra_per_class=extra_per_class, thresholds=parsed_thresholds, epsilons=parsed_epsilons,
        pgd_iterations=pgd_iterations, square_queries=square_queries, chunk=chunk,
        batch_size=batch_size, device=device, gradient_precision=gradient_precision,
        fmn_steps=fmn_steps, hsj_iterations=hsj_iterations, hsj_evaluations=hsj_evaluations,
        hsj_per_class=hsj_per_class)
    if settings.hsj_per_class is not None and settings.hsj_per_class > settings.extra_per_class:
        raise UserError(f"--hsj-per-class {settings.hsj_per_class}: HopSkipJump takes the first "
                        f"of the --extra-per-class images ({settings.extra_per_class} per "
                        "label); give at most that many")
    if settings.gradient_precision == "bfloat16" and native_bfloat16(
            resolve_device(settings.device)) is False:
        click.echo("warning: this CPU has no native bfloat16 (no avx512_bf16 or amx_bf16 flag), "
                   "so the bfloat16 gradient is several times slower than float32 here (about "
                   "10x on an AVX2-only EPYC); every decision is the float32 network's either "
                   "way, so a new run may take --gradient-precision float32", err=True)
    run_attack(run_dir, data_dir, attack_name, settings, networks, variant, scheduler, jobs)
    click.echo(f"records in {run_dir / 'attacks'}", err=True)


def variant_from_options(attack_name: str, stop_at: str | None, loss_name: str | None,
                         clip: str | None, original: bool, max_steps: int | None) -> Variant:
    """The variant of the paper's attack the options ask for (OURS when none is given)."""
    chosen = {"stop_at": stop_at, "loss": loss_name, "clip": clip}
    if not original and all(value is None for value in chosen.values()):
        return OURS
    if attack_name == ALL or not get_attack(attack_name).variants:
        raise UserError(f"--attack {attack_name}: --stop-at, --loss, --clip and --original "
                        "are variants of the paper's attack; use them with --attack "
                        f"{PAPER_ATTACK.name}")
    base = ORIGINAL if original else OURS
    given = {name: value for name, value in chosen.items() if value is not None}
    if max_steps is not None:
        given["max_steps"] = max_steps
    return replace(base, **given)
