"""A small dataset in the real shard layout without Blender: shaded discs as the "renders",
composited over a real background source with each sample's own draws (`draw_sample`), so
`recomposite` with the same backgrounds must reproduce every image exactly."""

from pathlib import Path

import numpy as np

from dataset.backgrounds import open_background_source
from dataset.composite import composite
from dataset.manifest import Manifest, ShardRecord, SplitRecord, write_manifest
from dataset.samples import draw_sample
from dataset.shards import write_shard

CLASSES = ["disc", "ring", "none"]
SEED = 3


def disc_render(label: int, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Object over black and alpha of a shaded disc (or ring) whose place follows the rotation."""
    rows, cols = np.mgrid[:64, :64].astype(np.float32)
    centre = 32 + 20 * rotation[:2]
    radius = 12 + 10 * rotation[2]
    distance = np.hypot(rows - centre[0], cols - centre[1])
    coverage = np.clip(radius - distance + 0.5, 0, 1)
    if label == 1:
        coverage *= np.clip(distance - radius / 2 + 0.5, 0, 1)
    alpha = np.rint(coverage * 255).astype(np.uint8)
    shade = 0.4 + 0.5 * (cols / 63)
    return np.rint(alpha * shade).astype(np.uint8), alpha


def shard_arrays(split: str, first: int, count: int, spec: str) -> dict[str, np.ndarray]:
    source = open_background_source(spec, split)
    none_label = len(CLASSES) - 1
    arrays = {"image": [], "label": [], "params": [], "object": [], "alpha": []}
    for index in range(first, first + count):
        sample = draw_sample(SEED, split, index, len(CLASSES), source)
        if sample.label == none_label:
            obj = alpha = np.zeros((64, 64), np.uint8)
        else:
            obj, alpha = disc_render(sample.label, sample.rotation)
        arrays["image"].append(composite(obj, alpha, sample.background))
        arrays["label"].append(sample.label)
        arrays["params"].append(sample.rotation)
        arrays["object"].append(obj)
        arrays["alpha"].append(alpha)
    dtypes = {"label": np.int64, "params": np.float32}
    return {name: np.array(values, dtype=dtypes.get(name, np.uint8))
            for name, values in arrays.items()}


def make_dataset(
    data_dir: Path, spec: str, samples: dict[str, int] | None = None, shard_size: int = 12
) -> Path:
    samples = samples or {"train": 24, "test": 12}
    manifest = Manifest(CLASSES, {"seed": SEED}, {})
    for split, count in samples.items():
        manifest.splits[split] = SplitRecord(count)
        source = open_background_source(spec, split)
        for shard_index, first in enumerate(range(0, count, shard_size)):
            n = min(shard_size, count - first)
            file = f"{split}/shard-{shard_index:05d}.h5"
            attrs = {"class_names": CLASSES, "split": split, "seed": SEED,
                     "shard_index": shard_index, "first_index": first,
                     "backgrounds": source.describe(), "engine": {"name": "discs"}}
            sha256 = write_shard(data_dir / file, shard_arrays(split, first, n, spec), attrs)
            manifest.add_shard(split, ShardRecord(file, first, n, sha256))
    manifest.config["backgrounds"] = {
        split: open_background_source(spec, split).describe() for split in samples}
    write_manifest(data_dir, manifest)
    return data_dir
