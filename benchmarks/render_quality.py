"""Render quality against speed: which engine set-up gives the most renders/s at <= 3 grey levels
of error?

For a fixed set of random rotations of each class (the Monkey alone when the class assets are not
built yet), every set-up below is rendered in this one process (steady state, after a warm-up)
and compared with a 512-sample render of the same set-up: RMS grey-level error of the object
over black, over the pixels where either image has alpha > 0.

    python benchmarks/render_quality.py [--rotations 50] [--reference-samples 512]

Prints one table row per set-up, then (last line) the JSON summary: value = renders/s of the
project default (`EngineSettings()`), baseline = Cycles at 16 samples with sun + world lights.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from render.blender import EngineSettings, Renderer  # noqa: E402

TARGET_RENDERS_PER_S = 40.0
TARGET_RMS_GREY_LEVELS = 3.0
WARM_UP_FRAMES = 3
# Every set-up is timed in this many rounds, one set-up after the other, and its fastest round
# counts: other processes on the machine slow some rounds down, rarely all of them.
TIMING_ROUNDS = 3
DEFAULT = EngineSettings()
LIGHTS = replace(DEFAULT, shading="lights", adaptive_threshold=0.0, denoiser=None)
# Path tracing as it comes: sun + world, 2 bounces, 16 samples, the whole frame.
BASELINE = replace(LIGHTS, max_bounces=2, samples=16, crop_to_object=False)

SET_UPS: list[EngineSettings] = [
    *(replace(DEFAULT, samples=s, adaptive_threshold=0.0) for s in (1, 2, 4, 8, 16, 32)),
    *(
        replace(DEFAULT, samples=s, adaptive_threshold=t, adaptive_min_samples=4)
        for s, t in ((16, 0.05), (32, 0.02), (32, 0.05), (32, 0.1), (64, 0.05))
    ),
    replace(DEFAULT, samples=16, adaptive_threshold=0.0, crop_to_object=False),
    *(
        replace(DEFAULT, samples=s, adaptive_threshold=0.0, denoiser="OPENIMAGEDENOISE")
        for s in (1, 4)
    ),
    replace(DEFAULT, samples=16, adaptive_threshold=0.0, filter_width=1.0),
    *(replace(LIGHTS, samples=s) for s in (1, 4, 16)),
    *(replace(LIGHTS, samples=s, denoiser="OPENIMAGEDENOISE") for s in (1, 4)),
    BASELINE,
]
if DEFAULT not in SET_UPS:
    SET_UPS.insert(0, DEFAULT)


def suzanne_blend(folder: str) -> tuple[str, str]:
    """A stand-in Monkey (Suzanne, face towards the camera, scaled to fit) when no assets exist."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_monkey_add()
    monkey = bpy.context.active_object
    monkey.name = "Monkey"
    modifier = monkey.modifiers.new("subdivide", "SUBSURF")
    modifier.levels = 1
    bpy.ops.object.modifier_apply(modifier=modifier.name)
    bpy.ops.object.shade_smooth()
    monkey.scale = (0.5, 0.5, 0.5)
    monkey.rotation_euler = (-math.pi / 2, 0.0, 0.0)
    bpy.ops.object.transform_apply(location=True, rotation=True, scale=True)
    material = bpy.data.materials.new("grey")
    material.use_nodes = True
    principled = material.node_tree.nodes["Principled BSDF"]
    principled.inputs["Base Color"].default_value = (0.6, 0.6, 0.6, 1.0)
    monkey.data.materials.append(material)
    path = os.path.join(folder, "monkey.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    return path, "Monkey"


def class_assets(folder: str) -> list[tuple[str, str]]:
    try:
        from blender_assets.registry import load_classes

        return [(str(c.blend_file), c.object_name) for c in load_classes().values()]
    except Exception as error:  # the assets package may not be built yet
        print(f"no class assets ({error}); using a stand-in Suzanne", file=sys.stderr)
        return [suzanne_blend(folder)]


def render_all(settings: EngineSettings, assets, rotations) -> tuple[np.ndarray, float]:
    """(object images of every asset and rotation, steady renders/s)."""
    renderer = Renderer(settings)
    images, seconds = [], 0.0
    for blend_file, object_name in assets:
        renderer.load_object(blend_file, object_name)
        renderer.render_rotations(rotations[:WARM_UP_FRAMES])
        start = time.perf_counter()
        images.append(renderer.render_rotations(rotations))
        seconds += time.perf_counter() - start
    renderer.close()
    objects = np.concatenate([o for o, _ in images])
    alphas = np.concatenate([a for _, a in images])
    return (objects, alphas), len(objects) / seconds


def rms_error(rendered, reference) -> float:
    (objects, alphas), (ref_objects, ref_alphas) = rendered, reference
    covered = (alphas > 0) | (ref_alphas > 0)
    difference = objects.astype(np.float64) - ref_objects
    return float(np.sqrt(np.mean(difference[covered] ** 2)))


def describe(settings: EngineSettings) -> str:
    light = "emission" if settings.shading == "emission" else f"sun+world b{settings.max_bounces}"
    denoise = "oidn" if settings.denoiser else "-"
    adaptive = (
        f"{settings.adaptive_threshold}/{settings.adaptive_min_samples}"
        if settings.adaptive_threshold else "-"
    )
    crop = "yes" if settings.crop_to_object else "no"
    return (f"{light:<14} {settings.samples:>7} {adaptive:>8} {denoise:>7} "
            f"{settings.filter_width:>6} {crop:>4}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rotations", type=int, default=50)
    parser.add_argument("--reference-samples", type=int, default=512)
    args = parser.parse_args()

    # Blender prints per-frame status lines on fd 1 from C code: send them to stderr and keep
    # our own stdout for the table and the JSON line.
    report = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    rotations = np.random.default_rng(2024).uniform(-0.5, 0.5, (args.rotations, 3))
    with tempfile.TemporaryDirectory() as folder:
        assets = class_assets(folder)
        references: dict[EngineSettings, tuple] = {}
        speeds: dict[EngineSettings, float] = {}
        errors: dict[EngineSettings, float] = {}
        for settings in SET_UPS:
            reference_settings = replace(
                settings,
                samples=args.reference_samples,
                denoiser=None,
                adaptive_threshold=0.0,
                crop_to_object=True,  # the same pixels, faster
                threads=os.cpu_count(),
            )
            if reference_settings not in references:
                references[reference_settings], _ = render_all(
                    reference_settings, assets, rotations
                )
            rendered, speeds[settings] = render_all(settings, assets, rotations)
            errors[settings] = rms_error(rendered, references[reference_settings])
            print(f"{describe(settings)} {errors[settings]:>8.2f}", file=sys.stderr)

        for _ in range(TIMING_ROUNDS - 1):
            for settings in SET_UPS:
                _, speed = render_all(settings, assets, rotations)
                speeds[settings] = max(speed, speeds[settings])

    print(f"{len(assets)} object(s) x {len(rotations)} rotations; renders/s: fastest of "
          f"{TIMING_ROUNDS} rounds, one thread", file=report)
    print(f"{'light':<14} {'samples':>7} {'adaptive':>8} {'denoise':>7} {'filter':>6} "
          f"{'crop':>4} {'renders/s':>9} {'RMS grey':>8}  meets target", file=report)
    for settings in SET_UPS:
        speed, error = speeds[settings], errors[settings]
        meets = speed >= TARGET_RENDERS_PER_S and error <= TARGET_RMS_GREY_LEVELS
        print(f"{describe(settings)} {speed:>9.1f} {error:>8.2f}  {'yes' if meets else ''}",
              file=report)

    print(json.dumps({
        "name": "render_quality_default_renders_per_s",
        "value": round(speeds[DEFAULT], 2),
        "unit": "renders/s (1 thread)",
        "baseline": round(speeds[BASELINE], 2),
        "ratio": round(speeds[DEFAULT] / speeds[BASELINE], 2),
    }), file=report)


if __name__ == "__main__":
    main()
