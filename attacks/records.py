"""The table an attack writes: `RUN/attacks/<attack>.jsonl`, one JSON object per line, plus
its adversarial images in `RUN/attacks/<attack>/<unit>.npy` (uint8, row `image_index`).

Work is done in units (a network and a chunk of test images); a unit's images are saved first
(atomically), then its records are appended and fsynced, so after a kill a unit is either in
the table or redone. A torn last line is dropped when the table is opened again.
"""

import json
import os
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

from core.files import atomic_path


class RecordTable:
    """Append-only JSONL table of attack records."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.image_dir = self.path.with_suffix("")

    def read(self) -> list[dict]:
        if not self.path.is_file():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a line torn by a kill; its unit was not finished and is redone
        return records

    def done_units(self) -> set[str]:
        return {record["unit"] for record in self.read()}

    def append(self, records: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_torn_tail()
        with open(self.path, "a") as table:
            table.write("".join(json.dumps(record) + "\n" for record in records))
            table.flush()
            os.fsync(table.fileno())

    def save_images(self, unit: str, images: np.ndarray) -> str:
        """Save uint8 images (M, 64, 64) of a unit; returns their file, relative to RUN/attacks."""
        self.image_dir.mkdir(parents=True, exist_ok=True)
        path = self.image_dir / f"{unit}.npy"
        with atomic_path(path) as partial, open(partial, "wb") as file:
            np.save(file, images)
        return str(path.relative_to(self.path.parent))

    def load_image(self, record: dict) -> np.ndarray:
        images = np.load(self.path.parent / record["image_file"], mmap_mode="r")
        return np.array(images[record["image_index"]])

    def _drop_torn_tail(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as table:
                table.truncate(data.rfind(b"\n") + 1)


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
