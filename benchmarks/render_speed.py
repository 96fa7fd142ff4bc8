"""Steady renders/s through one BlenderProcess against one Blender start per image.

The naive baseline is what the project must never do: a fresh `python -c` per image that imports
bpy, loads the object and renders one frame. Both use the project's default `EngineSettings`.

    python benchmarks/render_speed.py [--frames 100] [--naive 10]

Last line: JSON with value = steady renders/s, baseline = naive renders/s, ratio (target >= 20).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mindseye.blender_assets.registry import load_classes
from mindseye.core.constants import ROTATION_LIMIT
from mindseye.render.worker import BlenderProcess

PROJECT_ROOT = Path(__file__).resolve().parents[1]

NAIVE_ONE_IMAGE = """
import os, sys
os.dup2(2, 1)
from mindseye.render.blender import Renderer
renderer = Renderer()
renderer.load_object(sys.argv[1], sys.argv[2])
renderer.render_rotations([[float(v) for v in sys.argv[3:6]]])
"""

def monkey_asset() -> tuple[str, str]:
    monkey = load_classes()["monkey"]
    return str(monkey.blend_file), monkey.object_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--naive", type=int, default=10)
    args = parser.parse_args()
    rotations = np.random.default_rng(0).uniform(-ROTATION_LIMIT, ROTATION_LIMIT, (args.frames, 3))

    asset = monkey_asset()
    with BlenderProcess() as blender:
        blender.render(*asset, rotations[:5])  # start-up and warm-up
        start = time.perf_counter()
        blender.render(*asset, rotations)
        steady = args.frames / (time.perf_counter() - start)

    start = time.perf_counter()
    for rotation in rotations[: args.naive]:
        subprocess.run(
            [sys.executable, "-c", NAIVE_ONE_IMAGE, *asset, *map(str, rotation)],
            check=True, cwd=PROJECT_ROOT, stderr=subprocess.DEVNULL,
        )
    naive = args.naive / (time.perf_counter() - start)

    print(f"BlenderProcess steady: {steady:.1f} renders/s; one start per image: {naive:.2f}/s")
    print(json.dumps({
        "name": "render_speed_worker_vs_start_per_image",
        "value": round(steady, 2),
        "unit": "renders/s",
        "baseline": round(naive, 2),
        "ratio": round(steady / naive, 1),
    }))


if __name__ == "__main__":
    main()
