"""transfer: the direct networks' successful ifgsm adversarials, shown to the other networks."""

from pathlib import Path

import numpy as np

from attacks.records import RecordTable
from attacks.settings import AttackSettings, attacks_dir
from attacks.sources import victim_decisions
from attacks.victims import Victim
from core.constants import DIRECT_NETWORKS


def run_transfer(
    run_dir: Path, victim_list: list[Victim], settings: AttackSettings
) -> None:
    """Show each direct network's successful ifgsm adversarials to every other victim."""
    ifgsm = RecordTable(attacks_dir(run_dir) / "ifgsm")
    made = [record for record in ifgsm.read()
            if record["network"] in DIRECT_NETWORKS and record.get("success")]
    records = RecordTable(attacks_dir(run_dir) / "transfer")
    for origin in DIRECT_NETWORKS:
        adversarials = [record for record in made if record["network"] == origin]
        if not adversarials:
            continue
        stack = np.stack([ifgsm.load_image(record) for record in adversarials])
        for victim in victim_list:
            unit = f"{origin}-to-{victim.name}"
            if victim.name == origin or records.is_done(unit):
                continue
            decisions = victim_decisions(victim, stack, settings.batch_size)
            records.write_unit(unit, [
                {"unit": unit, "attack": "transfer", "origin": origin, "network": victim.name,
                 "threshold": threshold, "source": made_record["source"],
                 "source_class": made_record["source_class"], "target": made_record["target"],
                 "kind": made_record["kind"], "decision": int(decisions[row, column]),
                 "fooled": bool(decisions[row, column] == made_record["target"]),
                 "still_correct": bool(decisions[row, column] == made_record["source_class"])}
                for row, made_record in enumerate(adversarials)
                for column, threshold in enumerate(victim.thresholds)
            ])
