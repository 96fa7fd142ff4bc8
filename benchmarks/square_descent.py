"""What Square's descent (`AttackSpec.descending`) saves and what it could miss, from records.

A descending Square runs its budgets from the largest down and leaves an image, at a threshold,
once it failed on it at a larger budget. That saves the attack on the small budgets every image
survives, and is safe if a search that fails within a budget never succeeds within a smaller
one. Both are read from records of Square run at every budget, no attack is run:

- `monotone`: in each budgeted Square table (`square`, ART's, and `square-5000`) and in the
  Square units of a cascade's grid (`skip_broken=False`: every budget of every image), the
  pairs of budgets a < b of one image and threshold where Square failed at b, and how many of
  them it broke at a: what the descent would have missed. Images the network already gets
  wrong are left out.
- `attacks`: for each cascade folder with Square units, the images Square attacked, and how
  many of those a descent makes: per image and threshold, the recorded budgets from the top
  down to the first failure. For a cascade run before the descent (every budget still robust
  after the gradient members) that is what the descent would have attacked, exactly where
  Square broke nothing at a larger budget than it failed at (on the pilot it broke nothing at
  all); for a cascade run with the descent, or a grid, the two are equal or not comparable.
  Square's cost is about its queries per failed image, so the ratio of the two is its saving
  in passes. Target: ratio >= 2 on the medium pilot.

Usage: python benchmarks/square_descent.py [--records RUN_OR_FOLDER ...]
A RUN is read for its RUN/attacks/<square table>/ and RUN/attacks/<cascade>/ folders; the
default is every run under results/. Prints one JSON line.
"""

import argparse
import json
from collections import defaultdict
from pathlib import Path

from mindseye.attacks.cascade import CLEAN
from mindseye.attacks.records import RecordTable
from mindseye.attacks.square_search import LONG_SQUARE_ATTACK

RESULTS = Path(__file__).resolve().parents[1] / "results"
BUDGETED_TABLES = ("square", LONG_SQUARE_ATTACK.name)


def budgeted_outcomes(folder: Path) -> dict[tuple, dict[float, bool]]:
    """(network, threshold, source) -> {budget: broken} of a budgeted Square table."""
    outcomes: dict[tuple, dict[float, bool]] = defaultdict(dict)
    for row in RecordTable(folder).read():
        if row["clean_decision"] == row["source_class"]:
            key = (row["network"], row["threshold"], row["source"])
            outcomes[key][row["epsilon"]] = not row["robust"]
    return outcomes


def cascade_outcomes(folder: Path) -> dict[tuple, dict[float, bool]]:
    """(network, threshold, source) -> {budget: broken} of a cascade's Square units."""
    outcomes: dict[tuple, dict[float, bool]] = defaultdict(dict)
    rows = RecordTable(folder).read()
    wrong_clean = {(row["network"], row["source"]) for row in rows
                   if row["member"] == CLEAN and row["wrong"]}
    for row in rows:
        if (row["member"] != LONG_SQUARE_ATTACK.name
                or (row["network"], row["source"]) in wrong_clean):
            continue
        threshold, epsilon = row["attacked_threshold"], row["attacked_epsilon"]
        decision = row["decisions"][row["thresholds"].index(threshold)]
        key = (row["network"], threshold, row["source"])
        outcomes[key][epsilon] = decision != row["source_class"] and row["linf"] <= epsilon
    return outcomes


def monotone(outcomes: dict[tuple, dict[float, bool]]) -> dict[str, int]:
    """Pairs a < b with a failure at b, and those broken at a."""
    pairs = missed = 0
    for broken in outcomes.values():
        budgets = sorted(broken)
        for position, larger in enumerate(budgets):
            if not broken[larger]:
                pairs += position
                missed += sum(broken[smaller] for smaller in budgets[:position])
    return {"pairs": pairs, "broken_below_a_failure": missed}


def descent_attacks(outcomes: dict[tuple, dict[float, bool]]) -> int:
    """The attacks a descent makes of those recorded: top down, to each image's first failure."""
    count = 0
    for broken in outcomes.values():
        for epsilon in sorted(broken, reverse=True):
            count += 1
            if not broken[epsilon]:
                break
    return count


def tables_under(root: Path) -> tuple[list[Path], list[Path]]:
    """The budgeted Square tables and the cascade folders with Square units below `root`."""
    budgeted = sorted(path for name in BUDGETED_TABLES
                      for path in root.rglob(f"attacks/{name}") if path.is_dir())
    cascades = sorted({path.parent for path in root.rglob(
        f"attacks/*/{LONG_SQUARE_ATTACK.name}-*.json")})
    return budgeted, cascades


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=Path, nargs="*", default=[RESULTS])
    args = parser.parse_args()
    result: dict[str, dict] = {"monotone": {}, "attacks": {}}
    for root in args.records:
        budgeted, cascades = tables_under(root)
        for folder in budgeted:
            result["monotone"][str(folder)] = monotone(budgeted_outcomes(folder))
        for folder in cascades:
            outcomes = cascade_outcomes(folder)
            result["monotone"][str(folder)] = monotone(outcomes)
            per_network: dict[str, dict] = defaultdict(dict)
            for key, broken in outcomes.items():
                per_network[key[0]][key] = broken
            result["attacks"][str(folder)] = {
                network: {"recorded": sum(len(b) for b in found.values()),
                          "descending": descent_attacks(found)}
                for network, found in sorted(per_network.items())}
    # no total: a grid holds the units it took from its cascade, so their pairs would count twice
    print(json.dumps(result))


if __name__ == "__main__":
    main()
