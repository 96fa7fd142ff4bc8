"""Render throughput of the whole driver with 1 and with 2 worker processes (target: >= 1.8x),
and what that means for the presets.

    python benchmarks/render_scaling.py [--per-class 100]

Each run renders the same small dataset (all classes, default backgrounds) into a fresh folder,
Blender start-up included, so the ratio is what a user sees. For scale, it also measures what
two processes of pure arithmetic gain on this machine (on the 2-vCPU machines here: about 1.5x,
so no workload reaches 1.8x). The last line is the JSON record.
"""

import argparse
import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mindseye.render.driver import render_dataset
from mindseye.render.settings import RENDER_PRESETS, render_settings


def samples_per_second(workers: int, per_class: int, folder: Path) -> float:
    settings = render_settings("demo", per_class=per_class, test_per_class=per_class // 4,
                               shard_size=max(1, per_class // 2))
    start = time.perf_counter()
    manifest = render_dataset(folder / f"workers-{workers}", settings, workers=workers)
    elapsed = time.perf_counter() - start
    return sum(split.samples for split in manifest.splits.values()) / elapsed


def _arithmetic(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def machine_scaling(n: int = 10_000_000) -> float:
    """How much faster two processes finish two loops of pure arithmetic than one does."""
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_arithmetic, [1000, 1000]))  # start both workers first
        start = time.perf_counter()
        list(pool.map(_arithmetic, [n]))
        one = time.perf_counter() - start
        start = time.perf_counter()
        list(pool.map(_arithmetic, [n, n]))
        two = time.perf_counter() - start
    return 2 * one / two


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        one = samples_per_second(1, args.per_class, Path(folder))
        two = samples_per_second(2, args.per_class, Path(folder))
    ceiling = machine_scaling()
    print(f"1 worker: {one:.1f} samples/s; 2 workers: {two:.1f} samples/s "
          f"({two / one:.2f}x; two processes of pure arithmetic: {ceiling:.2f}x)")
    for name, preset in RENDER_PRESETS.items():
        samples = (preset.per_class + preset.test_per_class) * 4
        print(f"preset {name}: {samples} samples (3/4 rendered), about "
              f"{samples / two / 60:.1f} min on 2 cores at this rate")
    print(json.dumps({"name": "render_scaling_2_workers", "value": round(two, 2),
                      "unit": "samples/s", "baseline": round(one, 2),
                      "ratio": round(two / one, 3)}))


if __name__ == "__main__":
    main()
