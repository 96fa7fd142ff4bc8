"""Reading a whole split through `dataset.shards.load_split`, against reading the same arrays from
one uncompressed, unchunked HDF5 file (the fastest h5py can go). Also prints the size on disk.

    python benchmarks/dataset_shard_read.py [--samples 4000]

Samples look like real ones: a shaded disc (object, alpha) over builtin background crops.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from mindseye.core.constants import ROTATION_LIMIT
from mindseye.dataset.backgrounds import open_background_source
from mindseye.dataset.composite import composite
from mindseye.dataset.manifest import Manifest, ShardRecord, SplitRecord, write_manifest
from mindseye.dataset.shards import FIELDS, load_split, write_shard

SHARD_SIZE = 1000
CLASSES = ["disc", "none"]


def synthetic_samples(count: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:64, :64]
    centres = rng.uniform(20, 44, (count, 2))
    radii = rng.uniform(10, 25, count)
    distance = np.hypot(rows - centres[:, 0, None, None], cols - centres[:, 1, None, None])
    alpha = (np.clip(radii[:, None, None] - distance + 0.5, 0, 1) * 255).astype(np.uint8)
    label = np.arange(count) % len(CLASSES)
    alpha[label == 1] = 0
    shading = 0.5 + 0.3 * np.sin(cols / 5.0)
    obj = np.rint(alpha * shading).astype(np.uint8)
    source = open_background_source("builtin", "train")
    backgrounds = np.stack([source.crop(np.random.default_rng(i)) for i in range(count)])
    params = rng.uniform(-ROTATION_LIMIT, ROTATION_LIMIT, (count, 3)).astype(np.float32)
    params[label == 1] = np.nan
    return {"image": composite(obj, alpha, backgrounds), "label": label.astype(np.int64),
            "params": params, "object": obj, "alpha": alpha}


def best_time(function, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=4000)
    count = parser.parse_args().samples
    arrays = synthetic_samples(count)
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        manifest = Manifest(CLASSES, {}, {"train": SplitRecord(count)})
        for shard_index, first in enumerate(range(0, count, SHARD_SIZE)):
            part = {name: array[first:first + SHARD_SIZE] for name, array in arrays.items()}
            file = f"train/shard-{shard_index:05d}.h5"
            attrs = {"class_names": CLASSES, "split": "train", "seed": 0,
                     "shard_index": shard_index, "first_index": first, "backgrounds": "builtin"}
            sha256 = write_shard(data_dir / file, part, attrs)
            manifest.add_shard("train", ShardRecord(file, first, len(part["label"]), sha256))
        write_manifest(data_dir, manifest)
        baseline_file = data_dir / "baseline.h5"
        with h5py.File(baseline_file, "w") as h5:
            for name, array in arrays.items():
                h5.create_dataset(name, data=array)

        def read_baseline() -> None:
            with h5py.File(baseline_file, "r") as h5:
                {name: h5[name][:] for name in FIELDS}

        ours = best_time(lambda: load_split(data_dir, "train"))
        baseline = best_time(read_baseline)
        shard_bytes = sum(path.stat().st_size for path in (data_dir / "train").glob("*.h5"))
        raw_bytes = sum(array.nbytes for array in arrays.values())
    print(f"load_split: {count / ours:.0f} samples/s, baseline {count / baseline:.0f} samples/s; "
          f"shards {shard_bytes / 1e6:.1f} MB for {raw_bytes / 1e6:.1f} MB of arrays")
    print(json.dumps({"name": "dataset_load_split_samples_per_s", "value": round(count / ours),
                      "unit": "samples/s", "baseline": round(count / baseline),
                      "ratio": round(baseline / ours, 3)}))


if __name__ == "__main__":
    main()
