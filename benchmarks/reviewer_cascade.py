"""The reviewer's cascade against the full grid it saves, on the same run and images; and the
pilot that sizes a full run from the cascade's own recorded costs.

The grid runs every member on every cell (image, threshold, budget); the cascade runs each
member only where every member before it left the cell robust, and Square (`descending`) also
not below a budget where it failed on the image (so `same_worst_case` tests that assumption
too). Both are `run_cascade` on the
same victims and images (`skip_broken=False` for the grid), so the comparison is of the
economy alone. The grid does not redo a unit the cascade ran on exactly its images (same
member, network, threshold, budget, images): it takes that unit's records and recorded cost
(`copy_units_on_grid_images`; the test suite checks that the grid's records come out the
same), so the benchmark costs the cascade plus only what the grid adds. The ratio is the
grid's passes (forward + backward images through the network, as the victims count them) over
the cascade's; the wall-time ratio likewise; `same_worst_case` is whether the two agree on
every cell. Target: ratio >= 10 at medium's sizes.

The projection scales each member's recorded cost per attacked image to `--project-per-label`
images per label (HopSkipJump to 25, as the verdict's issue sizes it:
`--project-member-per-label`), on this machine (wall time) and in passes (hardware-free): a
member's cost grows with the cells it attacks, and the pilot's share of cells left to each
member is taken as the share a larger run would leave.

Usage: python benchmarks/reviewer_cascade.py --run RUN --data DATA [--per-label 1]
           [--networks triple-staged] [--out DIR] [--no-grid] [--project-per-label 50]
           [--gradient-precision bfloat16] [--threads 2]
The records stay in --out (cascade/ and grid/), each a run's attacks folder.
"""

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from mindseye.attacks.cascade import (
    CLEAN,
    REVIEWER_CASCADE,
    cascade_cells,
    copy_units_on_grid_images,
    run_cascade,
)
from mindseye.attacks.experiments import record_table
from mindseye.attacks.settings import (
    LATER_SETTINGS,
    RECORDED_SETTINGS,
    AttackSettings,
    settings_for_run,
)
from mindseye.attacks.sources import load_test_images, load_victims, select_per_class
from mindseye.eval.stats import unit_costs
from mindseye.models.runs import weights_fingerprint

# The attack step's rate on the H200 lent in issue 5 (benchmarks/network_flops.py's output)
GPU_RATES = Path(__file__).resolve().parents[1] / "results" / "h200-network-flops.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--per-label", type=int, default=1)
    parser.add_argument("--networks", default="triple-staged")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--no-grid", action="store_true")
    parser.add_argument("--project-per-label", type=int, default=50,
                        help="the projection's images per label, for every member but those "
                             "of --project-member-per-label")
    parser.add_argument("--project-member-per-label", action="append", default=["hsj=25"],
                        metavar="MEMBER=N", help="a member projected at N images per label "
                        "(repeatable) [hsj=25, the sizes of the verdict's issue]")
    parser.add_argument("--gradient-precision", default="bfloat16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gpu-rates", type=Path, default=GPU_RATES,
                        help="network_flops.py's output on a GPU: its attack image-steps per "
                             "second give the projection's GPU hours")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = args.out or Path(tempfile.mkdtemp(prefix="reviewer-cascade-"))

    # Every member attacks all the pilot's images (no HopSkipJump cap from the run's lock): the
    # projection sizes each member itself, and the grid reuses the cascade's units whole.
    settings: AttackSettings = replace(
        settings_for_run(args.run, None), extra_per_class=args.per_label, chunk=args.per_label * 4,
        gradient_precision=args.gradient_precision, hsj_per_class=None)
    classes, test = load_test_images(args.data)
    networks = tuple(args.networks.split(","))
    victims = load_victims(args.run, classes, settings, networks, "hard")
    selected = select_per_class(test["label"], args.per_label, len(classes))
    spec = REVIEWER_CASCADE
    check_same_set_up(out, {"weights": {name: weights_fingerprint(args.run, name)
                                        for name in networks}, "per_label": args.per_label,
                            "networks": list(networks), "members": list(spec.members),
                            # what the records depend on (a setting added later, at its
                            # default, names the same set-up)
                            "settings": {name: getattr(settings, name)
                                         for name in RECORDED_SETTINGS
                                         if name not in LATER_SETTINGS
                                         or getattr(settings, name) != LATER_SETTINGS[name]}})
    modes = {"cascade": True} if args.no_grid else {"cascade": True, "grid": False}
    spent, cells, metas = {}, {}, {}
    for mode, skip_broken in modes.items():
        if mode == "grid":
            copy_units_on_grid_images(out / "cascade", out / "grid", spec, selected,
                                      settings.chunk)
        # a run folder of the mode's own: RUN/attacks is where the records go
        run_cascade(out / mode, spec, victims, test, selected, settings, skip_broken=skip_broken)
        table = record_table(out / mode, spec.name)
        records = table.read()
        metas[mode] = table.read_meta()
        by_network = network_member_costs(records, metas[mode])
        costs = [cost for members in by_network.values() for cost in members.values()]
        spent[mode] = {"passes": sum(c["forward"] + c["backward"] for c in costs),
                       "wall_s": sum(c["wall_s"] for c in costs), "networks": by_network}
        cells[mode] = {(c["network"], c["threshold"], c["epsilon"], c["source"]): c["robust"]
                       for c in cascade_cells(records, spec.members, settings.epsilons)}
    per_label = {member: args.project_per_label for member in (CLEAN, *spec.members)}
    for item in args.project_member_per_label:
        member, _, count = item.partition("=")
        if member not in per_label or not count.isdigit():
            parser.error(f"--project-member-per-label {item!r}: give MEMBER=N with MEMBER one "
                         f"of {', '.join(spec.members)}")
        per_label[member] = int(count)
    scale = {member: count / args.per_label for member, count in per_label.items()}
    result = {
        "run": str(args.run), "networks": networks, "images": int(len(selected)),
        "epsilons": list(settings.epsilons), "members": list(spec.members),
        "gradient_precision": args.gradient_precision, "threads": args.threads,
        "cascade": spent["cascade"],
        "projection": projection(spent["cascade"]["networks"], scale, args.gpu_rates)
        | {"per_label": per_label},
        "robust_cells": sum(cells["cascade"].values()), "cells": len(cells["cascade"]),
    }
    if "grid" in spent:
        # a copied unit carries the cascade's meta, wall time to the last digit
        reused = sum(metas["cascade"].get(unit) == meta for unit, meta in metas["grid"].items())
        result.update(grid=spent["grid"], grid_units_taken_from_cascade=reused,
                      ratio=round(spent["grid"]["passes"] / max(1, spent["cascade"]["passes"]), 2),
                      wall_ratio=round(spent["grid"]["wall_s"] / max(1e-9, spent["cascade"]
                                                                     ["wall_s"]), 2),
                      same_worst_case=cells["grid"] == cells["cascade"])
    print(json.dumps(result))


def check_same_set_up(out: Path, set_up: dict) -> None:
    """--out keeps its records between runs (a killed benchmark resumes): refuse to mix them
    with another set-up's."""
    path = out / "set-up.json"
    if path.is_file() and json.loads(path.read_text()) != json.loads(json.dumps(set_up)):
        raise SystemExit(f"{path}: --out holds the records of another set-up; give another "
                         "--out or delete it")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(set_up, indent=1))


def network_member_costs(records: list[dict], metas: dict[str, dict]) -> dict[str, dict]:
    """Per network, then per member: units, attacked images, passes and wall time."""
    networks: dict[str, dict] = {}
    costs = unit_costs(records, metas, lambda record: (record["network"], record["member"]))
    for (network, member), cost in costs.items():
        networks.setdefault(network, {})[member] = cost
    return networks


def projection(networks: dict[str, dict], scale: dict[str, float], gpu_rates: Path) -> dict:
    """Each network's cost, each member's scaled by its `scale` (more images, as many cells per
    image): passes, hours on this machine, and an upper bound on one GPU's hours, every pass
    (forward or backward) counted as a whole attack image-step at the GPU's measured rate (a
    forward alone is about a third of one)."""
    rate = json.loads(gpu_rates.read_text().strip().splitlines()[-1])
    image_steps_per_s = rate["rates"]["attack_image_steps_per_s_at_96"]
    totals = {name: {"passes": sum((c["forward"] + c["backward"]) * scale[member]
                                   for member, c in members.items()),
                     "wall_s": sum(c["wall_s"] * scale[member] for member, c in members.items())}
              for name, members in networks.items()}
    return {"gpu": rate["device"], "gpu_image_steps_per_s": image_steps_per_s, "networks": {
        name: {"passes": round(cost["passes"]),
               "hours_here": round(cost["wall_s"] / 3600, 2),
               "gpu_hours_at_most": round(cost["passes"] / image_steps_per_s / 3600, 2)}
        for name, cost in totals.items()},
        "hours_here": round(sum(c["wall_s"] for c in totals.values()) / 3600, 2)}


if __name__ == "__main__":
    main()
