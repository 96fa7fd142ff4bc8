"""Clean decisions of every network on the whole test split: `REPORT/clean/<made-by>/`, one
record per network, threshold and test image, in a folder named by the data and weights that
made them (eval/report.py). Table 1 and the confusion matrices are computed from it; the
triple-staged records also carry the K ratios, which show how far each decision is from flipping
(eval.stats.ratio_margins)."""

from pathlib import Path

from tqdm import tqdm

from mindseye.attacks.records import RecordTable
from mindseye.attacks.sources import outputs_and_decisions
from mindseye.attacks.victims import TripleStagedVictim, Victim

CHUNK = 256  # test images per resumable unit


def clean_predictions(victim_list: list[Victim], test: dict, folder: Path,
                      batch_size: int | None) -> list[dict]:
    """Decisions on the clean test images; finished units in `folder` are reused."""
    records = RecordTable(Path(folder))
    done = records.done_units()
    images, labels = test["image"], test["label"]
    wanted = set()
    for victim in victim_list:
        has_ratios = isinstance(victim, TripleStagedVictim)
        # "-ratios": units written before the ratios were recorded are not reused.
        prefix = f"{victim.name}-{','.join(map(str, victim.thresholds))}"
        suffix = "-ratios" if has_ratios else ""
        starts = range(0, len(images), CHUNK)
        for start in tqdm(starts, desc=f"clean {victim.name}", unit="chunk", leave=False):
            unit = f"{prefix}-{start}{suffix}"
            wanted.add(unit)
            if unit in done:
                continue
            outputs, decisions = outputs_and_decisions(
                victim, images[start : start + CHUNK], batch_size)
            records.write_unit(unit, [
                {"unit": unit, "network": victim.name, "threshold": threshold,
                 "source": start + row, "label": int(labels[start + row]),
                 "decision": int(decisions[row, column]),
                 **({"ratios": outputs[row].tolist()} if has_ratios else {})}
                for row in range(len(decisions))
                for column, threshold in enumerate(victim.thresholds)
            ])
    # Units of other thresholds (an earlier run with other --thresholds) stay on disk, unused:
    # only the wanted ones are read, in the order of their files' names.
    return [record for unit in sorted(wanted, key=lambda unit: records.unit_file(unit).name)
            for record in records.read_unit(unit)]
