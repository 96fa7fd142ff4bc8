"""`mindseye eval RUN DATA --out DIR`: Table 1, Figs. 4-6 and more as report.md, metrics.json
and PNG figures."""

from dataclasses import replace
from pathlib import Path

import click

from mindseye.attacks.cli import check_folders
from mindseye.attacks.settings import AttackSettings, parse_thresholds
from mindseye.core.files import make_writable_folder


@click.command("eval")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.argument("data_dir", metavar="DATA", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Report folder [default: RUN/report].")
@click.option("--thresholds", default=",".join(map(str, AttackSettings.thresholds)),
              show_default=True, help="Triple-staged thresholds for Table 1, each in (0, 1).")
@click.option("--device", default=AttackSettings.device, show_default=True,
              help="auto|cpu|cuda")
def eval_command(run_dir: Path, data_dir: Path, out_dir: Path | None, thresholds: str,
                 device: str) -> None:
    """Write the report on the networks of RUN and their attack records (RUN/attacks/).

    Clean error rates are measured on the whole test split of DATA (and kept in DIR/clean/,
    so a second run is quick); sections whose attacks have not been run are left out. Besides
    the paper's tables and figures: every other attack paired with the paper's, robust accuracy
    per budget and its worst case over all attacks, and every attack read one direction at a
    time (how many sources no attack made a false positive, a false negative or, from a None
    image, a class within each budget). A cascade counts on the networks it has finished, so
    the report can be written while one runs.
    """
    parsed = parse_thresholds(thresholds)
    check_folders(run_dir, data_dir)
    out_dir = out_dir or run_dir / "report"
    make_writable_folder(out_dir, "--out")
    settings = replace(AttackSettings(), thresholds=parsed, device=device)
    from mindseye.eval.report import write_report

    write_report(run_dir, data_dir, out_dir, settings)
    click.echo(f"report: {out_dir / 'report.md'}", err=True)


@click.command("compare")
@click.argument("run_dirs", metavar="RUN...", nargs=-1, required=True,
                type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              required=True, help="Folder for compare.md and compare.json.")
def compare_command(run_dirs: tuple[Path, ...], out_dir: Path) -> None:
    """Set two or more runs of one experiment side by side: several --seed, several training
    recipes.

    Each RUN needs its report (`mindseye eval RUN DATA`, which writes RUN/report/). For every
    quantity of Table 1, the paper's attack's median steps and distortion, a minimal-norm
    attack's distances, and each budgeted attack's robust accuracy at 4 and 8 grey levels: the
    value per run, the mean, the between-seed standard deviation and a 95% t-interval of the
    mean; for every claim of the report, in how many runs it holds. The runs must share the
    preset, the data and the attack settings. Runs trained differently (clean, or `mindseye
    train --adversarial`) are grouped by recipe and laid out side by side, each recipe with its
    own seeds; a clean run and a trained run of the same seed are also compared image by image
    (robust accuracy at 4, 8 and 16 grey levels under the worst case of the attacks both ran,
    with paired intervals and McNemar's test; the paper's attack and minimal-norm distances
    pair by pair).
    """
    from mindseye.eval.compare import write_comparison

    click.echo(f"comparison: {write_comparison(list(run_dirs), out_dir)}", err=True)
