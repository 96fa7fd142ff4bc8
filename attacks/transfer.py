"""transfer: adversarials made on one network, shown to the others.

- Forward: the direct networks' successful ifgsm adversarials, shown to every other network.
- Reverse: the triple-staged network's successful false positives, from every targeted table
  (the paper's attack, its variants except those without the clip, and every other targeted
  attack) and at each threshold, shown to the two direct
  networks, which were trained on clean renders. The paper says that to fool the
  triple-staged network "the false positive class will be evidently visible"; if so, the
  direct networks should call such an image its target far more often than they call each
  other's adversarials theirs.
"""

from pathlib import Path

import numpy as np

from mindseye.attacks.ifgsm import PAPER_ATTACK
from mindseye.attacks.records import RecordTable
from mindseye.attacks.registry import PAPER_IMAGES, TRANSFER, AttackSpec, register_attack
from mindseye.attacks.settings import AttackSettings, attacks_dir
from mindseye.attacks.sources import victim_decisions
from mindseye.attacks.victims import Victim
from mindseye.core.constants import DIRECT_NETWORKS, TRIPLE_STAGED


def run_transfer(run_dir: Path, victim_list: list[Victim], settings: AttackSettings,
                 reverse_tables: tuple[str, ...] = ()) -> None:
    """Show each direct network's successful ifgsm adversarials to every other victim, and the
    triple-staged network's successful false positives of each table in `reverse_tables` to
    the direct victims. One unit per (origin, victim), skipped once written."""
    records = RecordTable(attacks_dir(run_dir) / TRANSFER_ATTACK.name)
    paper = RecordTable(attacks_dir(run_dir) / PAPER_ATTACK.name)
    made = [record for record in paper.read()
            if record["network"] in DIRECT_NETWORKS and record.get("success")]
    for origin in DIRECT_NETWORKS:
        adversarials = [record for record in made if record["network"] == origin]
        for victim in victim_list:
            if victim.name != origin:
                _show(records, f"{origin}-to-{victim.name}", paper, adversarials, victim,
                      settings, {"origin": origin})
    direct_victims = [victim for victim in victim_list if victim.name in DIRECT_NETWORKS]
    for table_name in reverse_tables:
        table = RecordTable(attacks_dir(run_dir) / table_name)
        made_by_triple = [record for record in table.read() if record["network"] == TRIPLE_STAGED]
        # A unit shown from a table still being filled (by another machine, say) is shown again
        # once the table has more units: each record says how many it was made from.
        source_units = len({record["unit"] for record in made_by_triple})
        false_positives = [record for record in made_by_triple
                           if record.get("success") and record["kind"] == "false-positive"]
        for threshold in sorted({record["threshold"] for record in false_positives}):
            adversarials = [record for record in false_positives
                            if record["threshold"] == threshold]
            for victim in direct_victims:
                _show(records, f"{TRIPLE_STAGED}-{table_name}-{threshold}-to-{victim.name}",
                      table, adversarials, victim, settings,
                      {"origin": TRIPLE_STAGED, "origin_attack": table_name,
                       "origin_threshold": threshold, "origin_units": source_units})


def _show(records: RecordTable, unit: str, table: RecordTable, adversarials: list[dict],
          victim: Victim, settings: AttackSettings, origin: dict) -> None:
    """One transfer unit: `victim`'s decisions on the saved images of `adversarials`. A
    false positive made with the authors' stop rule counts as fooling the victim if the victim
    decides what the triple-staged network decided (its `decision`), not only the target."""
    written = records.read_unit(unit)
    if not adversarials or (written and written[0].get("origin_units") == origin.get(
            "origin_units")):
        return
    stack = np.stack([table.load_image(record) for record in adversarials])
    decisions = victim_decisions(victim, stack, settings.batch_size)
    records.write_unit(unit, [
        {"unit": unit, "attack": TRANSFER_ATTACK.name, **origin, "network": victim.name,
         "threshold": threshold, "source": made["source"], "source_class": made["source_class"],
         "target": made["target"], "kind": made["kind"],
         "decision": int(decisions[row, column]),
         "fooled": bool(decisions[row, column] == made.get("decision", made["target"])),
         "still_correct": bool(decisions[row, column] == made["source_class"])}
        for row, made in enumerate(adversarials)
        for column, threshold in enumerate(victim.thresholds)
    ])


# Runs last in `all`: it shows what every targeted attack before it made.
TRANSFER_ATTACK = register_attack(AttackSpec(
    name="transfer", kind=TRANSFER, order=100, in_all=True, images=PAPER_IMAGES,
    summary="the direct networks' adversarials from the paper's attack, shown to the other "
            "networks, and the triple-staged network's false positives shown to the direct ones"))
