"""Small synthetic datasets in the real shard layout, for model tests that need no Blender.

Three flat shapes (disc, square, triangle) whose size, aspect and in-plane angle follow the three
"Euler angles", composited over smooth noise by the real shard writer and manifest code.
"""

from pathlib import Path

import numpy as np

from dataset.composite import composite
from dataset.manifest import Manifest, ShardRecord, SplitRecord, write_manifest
from dataset.shards import write_shard

CLASSES = ["disc", "square", "triangle", "none"]


def _shape_alpha(shape: int, params: np.ndarray) -> np.ndarray:
    y, x = np.mgrid[0:64, 0:64].astype(np.float32)
    angle = params[2] * 2.0
    u = ((x - 32) * np.cos(angle) + (y - 32) * np.sin(angle)) / (14 + 10 * params[0])
    v = (-(x - 32) * np.sin(angle) + (y - 32) * np.cos(angle)) / (14 - 10 * params[1])
    inside = [
        u**2 + v**2 <= 1,
        (np.abs(u) <= 0.9) & (np.abs(v) <= 0.9),
        (v <= 0.8) & (v >= -0.9 + 1.7 * np.abs(u)),
    ][shape]
    return np.where(inside, 255, 0).astype(np.uint8)


def write_synthetic_dataset(
    data_dir: Path, per_class: int = 48, test_per_class: int = 16, seed: int = 0
) -> Path:
    data_dir = Path(data_dir)
    k = len(CLASSES) - 1
    splits = {}
    for split_id, (split, per) in enumerate((("train", per_class), ("test", test_per_class))):
        n = per * (k + 1)
        rng = np.random.default_rng([seed, split_id])
        label = np.arange(n, dtype=np.int64) % (k + 1)
        params = rng.uniform(-0.5, 0.5, (n, 3)).astype(np.float32)
        params[label == k] = np.nan
        alpha = np.zeros((n, 64, 64), np.uint8)
        obj = np.zeros((n, 64, 64), np.uint8)
        y = np.mgrid[0:64, 0:64][0]
        for i in np.flatnonzero(label < k):
            alpha[i] = _shape_alpha(label[i], params[i])
            shade = 120 + 60 * params[i, 1] + 1.5 * (y - 32) * params[i, 0]
            obj[i] = np.clip(shade, 0, 255).astype(np.uint8) * (alpha[i] // 255)
        coarse = rng.uniform(0, 255, (n, 8, 8)).astype(np.float32)
        background = np.clip(np.kron(coarse, np.ones((8, 8), np.float32))
                             + rng.normal(0, 10, (n, 64, 64)), 0, 255).astype(np.uint8)
        arrays = {"image": composite(obj, alpha, background), "label": label, "params": params,
                  "object": obj, "alpha": alpha}
        file = f"{split}/shard-00000.h5"
        attrs = {"class_names": CLASSES, "split": split, "seed": seed, "shard_index": 0,
                 "first_index": 0, "backgrounds": "synthetic noise"}
        sha = write_shard(data_dir / file, arrays, attrs)
        splits[split] = SplitRecord(n, [ShardRecord(file, 0, n, sha)])
    write_manifest(data_dir, Manifest(CLASSES, {"synthetic": True, "seed": seed}, splits))
    return data_dir
