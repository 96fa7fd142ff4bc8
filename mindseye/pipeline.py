"""`mindseye pipeline`: render, train, attack and report, end to end; every stage resumes."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from mindseye.attacks.ifgsm import ORIGINAL, PAPER_ATTACK, Variant
from mindseye.attacks.registry import ALL, suite
from mindseye.core.constants import (
    BACKGROUND_SPECS,
    DEFAULT_BACKGROUNDS,
    MAX_SEED,
    PRESET_COSTS,
    PRESETS,
)
from mindseye.core.files import make_writable_folder, read_json, write_json_atomic

TIMINGS = "pipeline-timings.json"


@contextmanager
def timed_stage(run_dir: Path, stage: str, every: float = 60.0) -> Iterator[None]:
    """Add the wall time of a stage to RUN/pipeline-timings.json (summed over resumed runs).

    The time is added every `every` seconds while the stage runs, not only at its end: a medium
    run's attacks span sessions, and a killed run would otherwise lose all of its stage's time.
    """
    path = run_dir / TIMINGS
    start = time.perf_counter()
    # The stage's time from earlier runs, read once: each write stores earlier + elapsed, rounded
    # once, so many writes of a long stage cannot accumulate rounding errors.
    remedy = "delete it (it holds only the stages' wall times) and run the pipeline again"
    earlier = read_json(path, remedy).get(stage, 0.0) if path.is_file() else 0.0
    stop = threading.Event()

    def add_elapsed() -> None:
        timings = read_json(path, remedy) if path.is_file() else {}
        timings[stage] = round(earlier + time.perf_counter() - start, 3)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, timings)

    def add_while_running() -> None:
        while not stop.wait(every):
            add_elapsed()

    writer = threading.Thread(target=add_while_running, daemon=True)
    writer.start()
    try:
        yield
    finally:
        stop.set()
        writer.join()
        add_elapsed()


@click.command()
@click.option("--preset", type=click.Choice(PRESETS), default="demo", show_default=True,
              help="Sizes of every stage: " + "; ".join(
                  f"{name}: {cost}" for name, cost in PRESET_COSTS.items()) + ".")
@click.option("--out", "run_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Run folder for networks, attack records and report/. [runs/PRESET]")
@click.option("--data", "data_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Dataset folder, rendered if missing or unfinished. [data/PRESET]")
@click.option("--attack", "attack_name", default=ALL, show_default=True,
              help="Which attack experiments to run (see `mindseye attack --help`).")
@click.option("--backgrounds", metavar="SPEC", default=DEFAULT_BACKGROUNDS, show_default=True,
              help=f"What the render crops backgrounds from: {BACKGROUND_SPECS} (`builtin` "
              "reproduces the results made before the photos set).")
@click.option("--workers", type=click.IntRange(min=1), help="Render processes. [all cores]")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
              help="Seed of the render (`mindseye render --seed`) and of the training "
              "(`mindseye train --seed`).")
@click.option("--device", default="auto", show_default=True, help="auto|cpu|cuda")
@click.option("--original", is_flag=True,
              help="Also run the paper's attack as the authors' code ran it (`mindseye attack "
              f"--attack {PAPER_ATTACK.name} --original`: stop at any other class, their "
              f"Euclidean loss, no clip, {ORIGINAL.max_steps} steps); the report pairs it with "
              "ours on the same sources.")
def pipeline(
    preset: str,
    run_dir: Path | None,
    data_dir: Path | None,
    attack_name: str,
    backgrounds: str,
    workers: int | None,
    seed: int,
    device: str,
    original: bool,
) -> None:
    """Render the data, train all five networks, attack them and write the report.

    Each stage skips what is already complete, so a killed pipeline continues where it stopped
    when run again with the same options. The report ends up in RUN/report/report.md; the wall
    time of each stage, summed over resumed runs, in RUN/pipeline-timings.json.
    """
    run_pipeline(preset, run_dir or Path("runs") / preset, data_dir or Path("data") / preset,
                 attack_name, workers, seed, device, variants=(ORIGINAL,) if original else (),
                 render_sizes={"backgrounds": backgrounds})


def run_pipeline(
    preset: str,
    run_dir: Path,
    data_dir: Path,
    attack_name: str = ALL,
    workers: int | None = None,
    seed: int = 0,
    device: str = "auto",
    render_sizes: dict | None = None,
    train_steps: int | None = None,
    variants: tuple[Variant, ...] = (),
) -> Path:
    """The pipeline; returns the report's path. `variants` of the paper's attack run after the
    attacks named by `attack_name`. `render_sizes` (RenderSettings fields) and `train_steps`
    shrink a preset further, for tests and trials: the attack stage keeps the preset's sizes,
    which `mindseye attack` then finds recorded in the run."""
    from mindseye.attacks.experiments import run_attack
    from mindseye.attacks.settings import attack_settings
    from mindseye.eval.report import write_report
    from mindseye.models.jobs import describe
    from mindseye.models.parallel import train_all
    from mindseye.models.runs import resolve_device
    from mindseye.render.driver import default_workers, render_dataset
    from mindseye.render.settings import render_settings

    # A bad --device, --attack or --out fails before an hour of rendering.
    resolve_device(device)
    specs = suite(attack_name)
    make_writable_folder(run_dir, "--out")

    click.echo(f"[1/4] render {data_dir}", err=True)
    with timed_stage(run_dir, "render"):
        render_dataset(data_dir, render_settings(preset, seed=seed, **(render_sizes or {})),
                       workers=workers or default_workers())
    click.echo(f"[2/4] train {run_dir}", err=True)
    with timed_stage(run_dir, "train"):
        for network, results in train_all(data_dir, run_dir, preset, steps=train_steps,
                                           seed=seed, device=device):
            click.echo(describe(network, results), err=True)
    click.echo(f"[3/4] attack ({attack_name})", err=True)
    settings = attack_settings(preset, device=device)
    for spec in specs:
        with timed_stage(run_dir, f"attack {spec.name}"):
            run_attack(run_dir, data_dir, spec.name, settings)
    for variant in variants:
        with timed_stage(run_dir, f"attack {variant.table()}"):
            run_attack(run_dir, data_dir, PAPER_ATTACK.name, settings, variant=variant)
    click.echo("[4/4] report", err=True)
    with timed_stage(run_dir, "report"):
        write_report(run_dir, data_dir, run_dir / "report", settings)
    report = run_dir / "report" / "report.md"
    click.echo(f"report: {report}")
    return report
