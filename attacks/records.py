"""The records an attack writes: `RUN/attacks/<attack>/`, one file per finished unit.

Work is done in units (a network and a chunk of test images). A unit's adversarial images go to
`<unit>.npy` (uint8, row `image_index`) first, then its records to `<unit>.json`, one JSON
document holding the unit's name, its record count and the records, written atomically. So
after a kill a unit is either complete on disk or absent and redone. A unit file damaged later
(a copy cut short) no longer parses: reading the table is then an error naming the file (a
table with a unit left out would give other numbers, not an error), and `mindseye attack`
counts the unit as not done and redoes it. Two attack processes on one run never write the
same file halfway: at worst both finish the same unit and the second rename replaces the first
with the same records. An iterative attack, FMN or HopSkipJump keeps its place in an
unfinished unit in `<unit>.progress.pt` (attacks/base.py), deleted once the unit is written.

Processes share a targeted attack's units (two on one machine, or machines on a shared folder
whose file system locks files): each holds a unit by an exclusive lock on `<unit>.claim` while
it attacks it, and leaves alone a unit another process holds. The kernel drops the lock of a
process that dies, so a rerun after a kill, or a process still waiting, takes the unit over at
once.
"""

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

from mindseye.core.errors import UserError
from mindseye.core.files import atomic_path, lock_if_free, write_text_atomic

UNIT_SUFFIX = ".json"
PROGRESS_SUFFIX = ".progress.pt"
CLAIM_SUFFIX = ".claim"


class RecordTable:
    """The unit files of one attack (or of the report's clean decisions) in one folder."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        migrate_single_table(self.folder)

    def unit_file(self, unit: str) -> Path:
        return self.folder / f"{unit}{UNIT_SUFFIX}"

    def read(self) -> list[dict]:
        """Every unit's records, units in name order. A damaged unit file is an error naming
        it: a table with a unit left out would give other numbers, not an error."""
        records = []
        for path in self._unit_files():
            unit = self._read_unit(path)
            if unit is None:
                raise UserError(f"{path} is damaged (not a complete unit of records); delete "
                                "it and run `mindseye attack` again with the same --attack to "
                                "redo its unit")
            records.extend(unit)
        return records

    def done_units(self) -> set[str]:
        """The units whose file is complete."""
        return {path.name[: -len(UNIT_SUFFIX)] for path in self._unit_files()
                if self._read_unit(path) is not None}

    def is_done(self, unit: str) -> bool:
        """Whether `unit` is complete now (another process may have finished it meanwhile)."""
        path = self.unit_file(unit)
        return path.is_file() and self._read_unit(path) is not None

    def read_unit(self, unit: str) -> list[dict]:
        """One complete unit's records ([] if it is missing or damaged)."""
        path = self.unit_file(unit)
        return (self._read_unit(path) or []) if path.is_file() else []

    def progress_file(self, unit: str) -> Path:
        """Where an attack keeps its place in the unfinished `unit`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{unit}{PROGRESS_SUFFIX}"

    @contextlib.contextmanager
    def claimed(self, unit: str) -> Iterator[bool]:
        """Hold `unit` for this process while the block runs: yields False if another process
        holds it."""
        with lock_if_free(self.folder / f"{unit}{CLAIM_SUFFIX}") as mine:
            yield mine

    def write_unit(self, unit: str, records: list[dict], meta: dict | None = None) -> None:
        """Write a finished unit's records in one atomic step, with `meta` about the unit as a
        whole (a cascade's cost of it); the unit's saved place and claim are then of no use."""
        write_unit_file(self.folder, unit, records, meta)
        for leftover in (self.folder / f"{unit}{PROGRESS_SUFFIX}",
                         self.folder / f"{unit}{CLAIM_SUFFIX}",
                         *self.folder.glob(f"{unit}{PROGRESS_SUFFIX}.partial-*")):  # a kill's
            leftover.unlink(missing_ok=True)

    def read_meta(self) -> dict[str, dict]:
        """Each complete unit's `meta` ({} where it has none), by unit name."""
        metas = {}
        for path in self._unit_files():
            if self._read_unit(path) is not None:
                metas[path.name[: -len(UNIT_SUFFIX)]] = json.loads(path.read_text()).get(
                    "meta", {})
        return metas

    def save_images(self, unit: str, images: np.ndarray) -> str:
        """Save uint8 images (M, 64, 64) of a unit; returns their file, relative to RUN/attacks."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{unit}.npy"
        with atomic_path(path) as partial, open(partial, "wb") as file:
            np.save(file, images)
        return str(path.relative_to(self.folder.parent))

    def load_image(self, record: dict) -> np.ndarray:
        images = np.load(self.folder.parent / record["image_file"], mmap_mode="r")
        return np.array(images[record["image_index"]])

    def _unit_files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(path for path in self.folder.iterdir()
                      if path.name.endswith(UNIT_SUFFIX) and ".partial" not in path.name)

    @staticmethod
    def _read_unit(path: Path) -> list[dict] | None:
        try:
            document = json.loads(path.read_text())
            records = document["records"]
            complete = document["count"] == len(records) and all(
                record.get("unit") == document["unit"] for record in records)
        except (ValueError, KeyError, TypeError, OSError):
            complete = False
        return records if complete else None


def migrate_single_table(folder: Path) -> None:
    """Split an older run's `<folder>.jsonl` (all units appended to one file) into unit files.

    Around a torn line (a kill mid-write, or two processes appending at once) both neighbouring
    units are left out and redone. A line that the old writer truncated away before its next
    append left no trace and cannot be found here. The old file is kept as `.jsonl.migrated`.
    """
    single = folder.with_name(f"{folder.name}.jsonl")
    if not single.is_file():
        return
    units: dict[str, list[dict]] = {}
    damaged: set[str] = set()
    previous, after_torn_line = None, False
    for line in single.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            damaged.update([previous] if previous is not None else [])
            after_torn_line = True
            continue
        unit = record["unit"]
        if after_torn_line or (unit != previous and unit in units):
            damaged.add(unit)  # after a torn line, or a unit whose lines are not together
        units.setdefault(unit, []).append(record)
        previous, after_torn_line = unit, False
    for unit, records in units.items():
        if unit not in damaged and not (folder / f"{unit}{UNIT_SUFFIX}").is_file():
            write_unit_file(folder, unit, records)
    if damaged:
        print(f"warning: {single}: units {', '.join(sorted(damaged))} were damaged and are left "
              "out; `mindseye attack` redoes them", file=sys.stderr)
    with contextlib.suppress(FileNotFoundError):  # another process migrated it meanwhile
        os.replace(single, single.with_name(f"{single.name}.migrated"))


def write_unit_file(folder: Path, unit: str, records: list[dict],
                    meta: dict | None = None) -> None:
    """`folder/<unit>.json`: the unit's name, its record count and the records (and `meta`,
    where given), atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    document = {"unit": unit, "count": len(records), "records": records,
                **({"meta": meta} if meta is not None else {})}
    write_text_atomic(folder / f"{unit}{UNIT_SUFFIX}", json.dumps(document) + "\n")


def perturbation(original: np.ndarray, adversarial: np.ndarray) -> dict[str, float]:
    """Distortion sqrt(mean((x_adv - x)^2)) / 255 (paper, section 4), L-inf and SSIM, on 0..255."""
    original = np.asarray(original, dtype=np.float64)
    adversarial = np.asarray(adversarial, dtype=np.float64)
    difference = adversarial - original
    return {
        "distortion": float(np.sqrt(np.mean(difference**2)) / 255),
        "linf": float(np.abs(difference).max()),
        "ssim": float(structural_similarity(original, adversarial, data_range=255)),
    }
