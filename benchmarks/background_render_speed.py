"""Render speed over the `photos` backgrounds against `builtin`'s (issue 22: within 10%).

    python benchmarks/background_render_speed.py [--per-class 50] [--repeats 2] [--workers 1]

The same small dataset (all classes, one seed) is rendered over each set into a fresh folder,
Blender start-up included, the two sets taking turns (builtin, photos, builtin, photos, ...)
so that a machine's drift hits both alike; each set's speed is its best run. A photo crop is
cut from a decoded, downscaled greyscale copy kept in memory (`dataset/photos.py`), so the
photos should cost what the procedural pictures cost. Needs the photos set (`mindseye dataset
fetch-photos`). The last line is the JSON record: value = photos samples/s, baseline =
builtin's, ratio = photos / builtin (target >= 0.9).
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from mindseye.render.driver import render_dataset
from mindseye.render.settings import render_settings

SETS = ("builtin", "photos")


def samples_per_second(backgrounds: str, per_class: int, workers: int, folder: Path) -> float:
    settings = render_settings("demo", per_class=per_class, test_per_class=per_class // 4,
                               shard_size=max(1, per_class // 2), backgrounds=backgrounds)
    start = time.perf_counter()
    manifest = render_dataset(folder, settings, workers=workers)
    elapsed = time.perf_counter() - start
    return sum(split.samples for split in manifest.splits.values()) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    speeds: dict[str, list[float]] = {name: [] for name in SETS}
    with tempfile.TemporaryDirectory() as root:
        for repeat in range(args.repeats):
            for name in SETS:
                speeds[name].append(samples_per_second(
                    name, args.per_class, args.workers, Path(root) / f"{name}-{repeat}"))
                print(f"{name}, run {repeat + 1}: {speeds[name][-1]:.1f} samples/s", flush=True)
    builtin, photos = max(speeds["builtin"]), max(speeds["photos"])
    print(json.dumps({"name": "photos_render_speed", "value": round(photos, 2),
                      "unit": "samples/s", "baseline": round(builtin, 2),
                      "ratio": round(photos / builtin, 3)}))


if __name__ == "__main__":
    main()
