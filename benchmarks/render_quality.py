"""Render quality against speed: which engine set-up gives the most renders/s at <= 3 grey levels
of error?

For a fixed set of random rotations of each class (the Monkey alone when the class assets are not
built yet), every set-up below is rendered in this one process (steady state, after a warm-up)
and compared with a 512-sample render of the same set-up: RMS grey-level error of the object
over black, over the pixels where either image has alpha > 0.

    python benchmarks/render_quality.py [--rotations 50] [--reference-samples 512]

Prints one table row per set-up, then (last line) the JSON summary: value = renders/s of the
project default (`EngineSettings()`), baseline = Cycles at 16 samples with sun + world lights.

The study (issue 2; bpy 4.5.15, 3 classes x 12 rotations, renders per CPU second of one render
thread on a 2-core machine loaded by other jobs; timings vary by ~20% between runs, errors
do not). Target: >= 40 renders/s with <= 3 grey levels RMS.

    light          samples adaptive denoise  filter crop renders/s RMS grey  meets target
    emission             1        -       - box 1.0  yes     206.8    19.21
    emission             4        -       - box 1.0  yes      94.6    10.10
    emission             8        -       - box 1.0  yes      69.1     5.92
    emission            16        -       - box 1.0  yes      36.2     3.29
    emission            24        -       - box 1.0  yes      27.8     2.66
    emission            24   0.02/4       - box 1.0  yes      41.9     2.78  yes
    emission            32   0.02/4       - box 1.0  yes      26.3     2.15
    emission            32   0.05/4       - box 1.0  yes      40.9     2.82  yes  <- default
    emission            32   0.07/4       - box 1.0  yes      42.9     3.12
    emission            48   0.05/4       - box 1.0  yes      40.5     2.80  yes
    emission            16        -       - box 1.0   no      30.0     3.29
    emission             1        -       - bla 1.5  yes     162.6    20.95
    emission            16        -       - bla 1.5  yes      43.8     4.10
    emission            32   0.05/4       - bla 1.5  yes      39.3     3.29
    emission            32   0.02/4       - bla 1.5  yes      37.5     2.56     <- previous
    emission             4        -    oidn box 1.0  yes       5.0     8.85
    sun+world b0         4        -       - box 1.0  yes      52.2    10.93
    sun+world b0        16        -       - box 1.0  yes      19.4     3.84
    sun+world b2        16        -       - bla 1.5   no      14.9     4.28     <- baseline

What mattered: emission shading (only edge antialiasing is left to converge; error ~1/samples);
a 1-pixel box filter (20% less error than Blackman-Harris 1.5 at the same samples); adaptive
sampling (flat pixels stop early); the crop; and a second, unseen user of the mesh
(`mindseye.render.blender._add_unseen_twin`), which halves the fixed cost of a frame (12.7 -> 6.4 ms
CPU at 1 sample). What did not: the sampling pattern (tabulated Sobol, Sobol-Burley: same or
~4% more error than the automatic blue noise), a Gaussian filter, auto-tiling off, a static BVH,
`use_lock_interface`, motion blur, OIDN. Rendering larger and downsampling was not tried: it
spends the same samples per output pixel plus a 4x larger film.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace

import numpy as np

from mindseye.blender_assets.registry import load_classes
from mindseye.core.constants import ROTATION_LIMIT
from mindseye.render.blender import EngineSettings, Renderer

TARGET_RENDERS_PER_S = 40.0
TARGET_RMS_GREY_LEVELS = 3.0
WARM_UP_FRAMES = 3
# Every set-up is timed in this many rounds, one set-up after the other, and its fastest round
# counts: other processes on the machine slow some rounds down, rarely all of them.
TIMING_ROUNDS = 3
DEFAULT = EngineSettings()
BLACKMAN_HARRIS = replace(DEFAULT, pixel_filter="BLACKMAN_HARRIS", filter_width=1.5)
# The default before the filter study (issue 2): 2.5 grey levels, 0.7x the speed of today's.
PREVIOUS_DEFAULT = replace(BLACKMAN_HARRIS, samples=32, adaptive_threshold=0.02)
LIGHTS = replace(DEFAULT, shading="lights", adaptive_threshold=0.0, denoiser=None)
# Path tracing as it comes: sun + world, 2 bounces, 16 samples, the whole frame.
BASELINE = replace(BLACKMAN_HARRIS, shading="lights", adaptive_threshold=0.0, max_bounces=2,
                   samples=16, crop_to_object=False)

SET_UPS: list[EngineSettings] = [
    *(replace(DEFAULT, samples=s, adaptive_threshold=0.0) for s in (1, 4, 8, 16, 24)),
    *(
        replace(DEFAULT, samples=s, adaptive_threshold=t)
        for s, t in ((24, 0.02), (32, 0.02), (32, 0.05), (32, 0.07), (48, 0.05))
    ),
    replace(DEFAULT, samples=16, adaptive_threshold=0.0, crop_to_object=False),
    *(replace(BLACKMAN_HARRIS, samples=s, adaptive_threshold=0.0) for s in (1, 16)),
    replace(BLACKMAN_HARRIS, samples=32, adaptive_threshold=0.05),
    PREVIOUS_DEFAULT,
    replace(DEFAULT, samples=4, adaptive_threshold=0.0, denoiser="OPENIMAGEDENOISE"),
    *(replace(LIGHTS, samples=s) for s in (4, 16)),
    BASELINE,
]
if DEFAULT not in SET_UPS:
    SET_UPS.insert(0, DEFAULT)


def class_assets() -> list[tuple[str, str]]:
    return [(str(c.blend_file), c.object_name) for c in load_classes().values()]


def render_all(settings: EngineSettings, assets, rotations) -> tuple[np.ndarray, float]:
    """(object images of every asset and rotation, steady renders per CPU second).

    CPU time, not wall time: the other processes on a shared machine stretch wall time by up
    to 2x, far less CPU time, and on an idle core the two are the same (one render thread)."""
    renderer = Renderer(settings)
    images, seconds = [], 0.0
    for blend_file, object_name in assets:
        renderer.load_object(blend_file, object_name)
        renderer.render_rotations(rotations[:WARM_UP_FRAMES])
        start = time.process_time()
        images.append(renderer.render_rotations(rotations))
        seconds += time.process_time() - start
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
    pixel_filter = f"{settings.pixel_filter[:3].lower()} {settings.filter_width}"
    return (f"{light:<14} {settings.samples:>7} {adaptive:>8} {denoise:>7} "
            f"{pixel_filter:>7} {crop:>4}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rotations", type=int, default=50)
    parser.add_argument("--reference-samples", type=int, default=512)
    args = parser.parse_args()

    # Blender prints per-frame status lines on fd 1 from C code: send them to stderr and keep
    # our own stdout for the table and the JSON line.
    report = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    rotations = np.random.default_rng(2024).uniform(-ROTATION_LIMIT, ROTATION_LIMIT,
                                                    (args.rotations, 3))
    assets = class_assets()
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
          f"{TIMING_ROUNDS} rounds, one thread, per CPU second", file=report)
    print(f"{'light':<14} {'samples':>7} {'adaptive':>8} {'denoise':>7} {'filter':>7} "
          f"{'crop':>4} {'renders/s':>9} {'RMS grey':>8}  meets target", file=report)
    for settings in SET_UPS:
        speed, error = speeds[settings], errors[settings]
        meets = speed >= TARGET_RENDERS_PER_S and error <= TARGET_RMS_GREY_LEVELS
        print(f"{describe(settings)} {speed:>9.1f} {error:>8.2f}  {'yes' if meets else ''}",
              file=report)

    print(json.dumps({
        "name": "render_quality_default_renders_per_s",
        "value": round(speeds[DEFAULT], 2),
        "unit": "renders per CPU second (1 thread)",
        "baseline": round(speeds[BASELINE], 2),
        "ratio": round(speeds[DEFAULT] / speeds[BASELINE], 2),
    }), file=report)


if __name__ == "__main__":
    main()
