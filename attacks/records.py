"""The records an attack writes: `RUN/attacks/<attack>/`, one file per finished unit.

Work is done in units (a network and a chunk of test images). A unit's adversarial images go to
`<unit>.npy` (uint8, row `image_index`) first, then its records to `<unit>.json`, one JSON
document holding the unit's name, its record count and the records, written atomically. So
after a kill a unit is either complete on disk or absent and redone. A unit file damaged later
(a copy cut short) no longer parses: reading the table is then an error naming the file (a
table with a unit left out would give other numbers, not an error), and `mindseye attack`
counts the unit as not done and redoes it. Two attack processes on one run never write the
same file halfway: at worst both finish the same unit and the second rename replaces the first
with the same records. An iterative attack keeps its place in an unfinished unit in
`<unit>.progress.pt` (attacks/base.py), deleted once the unit is written.

Processes share an iterative attack's units (two on one machine, or machines on a shared
folder): each takes a unit by creating `<unit>.claim` (exclusively, naming its host and process)
and leaves alone a unit another process holds. A claim is held while its process lives: on the
same machine the machine says so; from another machine, while its claim or its saved place
(rewritten every minute by an iterative attack) is younger than CLAIM_STALE_SECONDS. A claim
left by a killed process is taken over, so a rerun after a kill carries on at once.

Runs made before units had files of their own kept one `RUN/attacks/<attack>.jsonl`; it is
split into unit files the first time the table is opened (see `migrate_single_table`).
"""

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

from mindseye.attacks.settings import PROGRESS_EVERY_SECONDS
from mindseye.core.errors import UserError
from mindseye.core.files import atomic_path, write_text_atomic

UNIT_SUFFIX = ".json"
PROGRESS_SUFFIX = ".progress.pt"
CLAIM_SUFFIX = ".claim"
# A claim whose claim file and saved place (rewritten every PROGRESS_EVERY_SECONDS while its
# process works) are both older than this was left by a process that is gone.
CLAIM_STALE_SECONDS = 5 * PROGRESS_EVERY_SECONDS


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

    def claim(self, unit: str) -> bool:
        """Take `unit` for this process: False if another process holds it (see the module's
        docstring), else True with `<unit>.claim` naming this process."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{unit}{CLAIM_SUFFIX}"
        holder = f"{socket.gethostname()} {os.getpid()}"
        for _ in range(2):
            try:
                descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if self._held_by_another(unit, holder):
                    return False
                path.unlink(missing_ok=True)  # left by a process that is gone: take it over
                continue
            with os.fdopen(descriptor, "w") as file:
                file.write(holder + "\n")
            return True
        return False  # another process took it over in between

    def _held_by_another(self, unit: str, holder: str) -> bool:
        files = (self.folder / f"{unit}{CLAIM_SUFFIX}", self.folder / f"{unit}{PROGRESS_SUFFIX}")
        try:
            claimant = files[0].read_text().split()
            touched = max(path.stat().st_mtime for path in files if path.exists())
        except (OSError, ValueError):
            return True  # being written or removed this instant: leave it alone
        if " ".join(claimant) == holder:
            return False
        if len(claimant) == 2 and claimant[0] == socket.gethostname() and claimant[1].isdigit():
            return process_alive(int(claimant[1]))  # on this machine, ask the machine
        return time.time() - touched < CLAIM_STALE_SECONDS

    def write_unit(self, unit: str, records: list[dict], meta: dict | None = None) -> None:
        """Write a finished unit's records in one atomic step, with `meta` about the unit as a
        whole (a cascade's cost of it); the unit's saved place and claim are then of no use."""
        write_unit_file(self.folder, unit, records, meta)
        for suffix in (PROGRESS_SUFFIX, CLAIM_SUFFIX):
            (self.folder / f"{unit}{suffix}").unlink(missing_ok=True)

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


def process_alive(pid: int) -> bool:
    """Whether process `pid` of this machine is running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


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
