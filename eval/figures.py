"""PNG figures (matplotlib, Agg backend): confusion matrices, the clean ratio histograms, Figs. 4
and 6 as boxplots, and the robust-accuracy curves. Each function writes one file and returns its
path."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from mindseye.attacks.registry import spec_of_table  # noqa: E402
from mindseye.core.constants import PAPER_STEP_CAP  # noqa: E402
from mindseye.eval.stats import (  # noqa: E402
    MINIMIZED_WORDS,
    WHISKER_PERCENTILES,
    WORST_CASE,
    clean_ratio_groups,
    group,
    setting_name,
    setting_order,
)


def save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def confusion_figure(matrices: dict[str, list[list[int]]], classes: list[str], path: Path) -> Path:
    figure, axes = plt.subplots(1, len(matrices), figsize=(3.2 * len(matrices), 3.4), squeeze=False)
    for axis, (name, matrix) in zip(axes[0], matrices.items(), strict=True):
        matrix = np.asarray(matrix)
        axis.imshow(matrix, cmap="Blues")
        for (row, column), count in np.ndenumerate(matrix):
            axis.text(column, row, str(count), ha="center", va="center", fontsize=7)
        axis.set_xticks(range(len(classes)), classes, rotation=45, fontsize=7)
        axis.set_yticks(range(len(classes)), classes, fontsize=7)
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("decision", fontsize=8)
    axes[0][0].set_ylabel("true class", fontsize=8)
    return save(figure, path)


def ratio_histograms(clean: list[dict], thresholds: tuple[float, ...], path: Path) -> Path:
    """The triple-staged network's ratios on the clean test images: the positives' own class,
    their best other class, and the best class of None images, with the thresholds dashed.
    A threshold errs on the None mass at or to its right and on the own-class mass to its left
    (a wrong class errs only where it beats the own class, which the histogram does not show)."""
    own, others, none_best = clean_ratio_groups(clean)
    figure, axis = plt.subplots(figsize=(6.5, 3.8))
    bins = np.linspace(0, 1, 51)
    for values, label in ((own, "positives: own class"), (others, "positives: best other class"),
                          (none_best, "None images: best class")):
        axis.hist(values, bins=bins, histtype="step", linewidth=1.5,
                  label=f"{label} ({len(values)})")
    for threshold in thresholds:
        axis.axvline(threshold, color="grey", linestyle="--", linewidth=1)
        axis.text(threshold, 1.01, f"{threshold:g}", ha="center", fontsize=8,
                  transform=axis.get_xaxis_transform())
    axis.set_yscale("log")
    axis.set_xlabel("ratio (alpha-weighted share of matching patches)")
    axis.set_ylabel("test images")
    axis.legend(fontsize=8, loc="upper center")
    return save(figure, path)


def effort_boxplots(records: list[dict], title: str, path: Path, by_linf: bool = False) -> Path:
    """Steps (clipped at 1500 for display) and distortion of the successful attacks, one box per
    network and threshold; whiskers at the 2nd and 98th percentiles. `by_linf`: the L-inf
    distance instead of the steps (a minimal-norm attack's steps are fixed)."""
    succeeded = [r for r in records if r["status"] == "attacked" and r["success"]]
    settings = sorted(group(succeeded).items(), key=lambda item: setting_order(item[0]))
    names = [setting_name(*key) for key, _ in settings]
    figure, axes = plt.subplots(1, 2, figsize=(max(6, 1.3 * len(names) + 2), 4))
    first = (("linf", "L-inf (grey levels)", lambda items: [r["linf"] for r in items])
             if by_linf else
             ("steps", f"steps (clipped at {PAPER_STEP_CAP})",
              lambda items: np.minimum([r["steps"] for r in items], PAPER_STEP_CAP)))
    panels = (
        first,
        ("distortion", "distortion", lambda items: [r["distortion"] for r in items]),
    )
    for axis, (_, label, values) in zip(axes, panels, strict=True):
        if settings:
            axis.boxplot([values(items) for _, items in settings], whis=WHISKER_PERCENTILES,
                         showfliers=True, flierprops={"markersize": 2})
            axis.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right", fontsize=8)
        else:
            axis.text(0.5, 0.5, "no successful attacks", ha="center", transform=axis.transAxes)
        axis.set_ylabel(label)
    figure.suptitle(title, fontsize=10)
    return save(figure, path)


def beside_paper_panels(paper: list[dict], minimal: dict[str, list[dict]]
                        ) -> tuple[list[tuple], list[tuple[str, list[np.ndarray]]]]:
    """What `beside_paper_boxplots` draws: the (network, threshold) settings in box order, and
    per panel its title and, per setting, the values of the pairs it flipped: the paper's
    attack's steps (clipped at PAPER_STEP_CAP, where it ran), then each minimal-norm attack's
    minimised field. `minimal`: attack name -> its records of one kind."""
    sources = ([(f"paper's attack: steps (clipped at {PAPER_STEP_CAP})", "steps", paper)]
               if paper else [])
    for table, records in minimal.items():
        field = spec_of_table(table).minimizes
        unit = " (grey levels)" if field == "linf" else ""
        sources.append((f"{table}: minimal {MINIMIZED_WORDS[field]}{unit}", field, records))
    flipped = [group([r for r in records if r["status"] == "attacked" and r["success"]])
               for _, _, records in sources]
    keys = sorted({key for by_setting in flipped for key in by_setting}, key=setting_order)
    panels = []
    for (title, field, _), by_setting in zip(sources, flipped, strict=True):
        values = [np.array([r[field] for r in by_setting.get(key, [])], float) for key in keys]
        if field == "steps":
            values = [np.minimum(v, PAPER_STEP_CAP) for v in values]
        panels.append((title, values))
    return keys, panels


def beside_paper_boxplots(paper: list[dict], minimal: dict[str, list[dict]], title: str,
                          path: Path) -> Path:
    """Fig. 4 or 6 beside its attack-independent counterpart: the paper's attack's steps (for
    None images made a class, which the paper never attacked, none), then each minimal-norm
    attack's minimal distance (FMN-L2's L2 distortion, FMN-L-inf's L-inf), one box per network
    and threshold, in the same order in every panel."""
    keys, panels = beside_paper_panels(paper, minimal)
    figure, axes = plt.subplots(1, len(panels), squeeze=False,
                                figsize=(max(6, (1.1 * len(keys) + 1) * len(panels)), 4))
    for axis, (label, values) in zip(axes[0], panels, strict=True):
        axis.boxplot(values, whis=WHISKER_PERCENTILES, showfliers=True,
                     flierprops={"markersize": 2})
        axis.set_xticks(range(1, len(keys) + 1), [setting_name(*key) for key in keys],
                        rotation=30, ha="right", fontsize=8)
        axis.set_title(label, fontsize=9)
    figure.suptitle(title, fontsize=10)
    return save(figure, path)


WORST_CASE_STYLE = "-D"  # the worst case over every attack; each attack's is in its spec


def robust_accuracy_figure(curves: dict[str, list[dict]], path: Path) -> Path:
    """Robust accuracy against the L-inf budget, one colour per network and threshold: PGD
    solid, Square dashed, the converged attacks dotted, the worst case over all of them solid
    with diamonds."""
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    colours = {}
    for attack, rows in curves.items():
        style = WORST_CASE_STYLE if attack == WORST_CASE else spec_of_table(attack).curve_style
        for key, items in group(rows).items():
            items = sorted(items, key=lambda r: r["epsilon"])
            name = setting_name(*key)
            line = axis.plot([r["epsilon"] for r in items], [r["robust_accuracy"] for r in items],
                             style, color=colours.get(name), markersize=4,
                             label=f"{name} ({attack})")
            colours[name] = line[0].get_color()
    axis.set_xscale("log", base=2)
    axis.set_xlabel("L-inf budget epsilon (grey levels of 255)")
    axis.set_ylabel("robust accuracy")
    axis.set_ylim(-0.02, 1.02)
    if colours:
        axis.legend(fontsize=7)
    else:
        axis.text(0.5, 0.5, "no budgeted attacks run", ha="center", transform=axis.transAxes)
    return save(figure, path)
