"""Blending a rendered object over a background, in numpy, never in Blender.

Rendering stores the object over black (premultiplied by its alpha) and the alpha, both uint8,
so any background can be blended in later and re-compositing reproduces the stored image exactly.
"""

import numpy as np


def composite(object: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """`round(object + background * (1 - alpha / 255))` clipped to 0..255, as uint8.

    Works on one image (64, 64) or a batch (N, 64, 64); a single background broadcasts over a
    batch. float32 arithmetic in one fixed order, so the result is bit-identical on every call.
    """
    transmitted = (255 - alpha.astype(np.float32)) / np.float32(255)
    blended = object.astype(np.float32) + background.astype(np.float32) * transmitted
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


# The authors' contrast stretch (their lib/range_extend.py): a model's grey levels, taken without
# the alpha (object / alpha, where alpha > 0), from the 15th to the 85th percentile over its
# renders, are mapped to 0..255, then multiplied by the alpha again.
STRETCH_PERCENTILES = (0.15, 0.85)


def stretch_range(objects: np.ndarray, alphas: np.ndarray) -> tuple[float, float]:
    """(low, high): the grey levels at the 15th and 85th percentiles of a model's renders
    (uint8 objects over black and alphas, any shape), taken as the authors did: the sorted
    levels at index floor(n * p), no interpolation."""
    covered = alphas > 0
    levels = np.sort(objects[covered].astype(np.float64) / (alphas[covered] / 255.0))
    if levels.size == 0:
        raise ValueError("no covered pixel to take a grey range from")
    low, high = (float(levels[int(len(levels) * p)]) for p in STRETCH_PERCENTILES)
    return low, max(high, low + 1.0)  # a flat model still gets a usable range


def contrast_stretch(objects: np.ndarray, alphas: np.ndarray, low: float,
                     high: float) -> np.ndarray:
    """Objects over black (uint8) with their grey levels stretched so that `low` -> 0 and
    `high` -> 255, still over black: `clip((object / a - low) * a * 255 / (high - low))`,
    a = alpha / 255, truncated to uint8 as the authors' code does."""
    a = alphas.astype(np.float64) / 255.0
    straight = np.divide(objects.astype(np.float64), a, out=np.zeros_like(a), where=a > 0)
    stretched = (straight - low) * a * (255.0 / (high - low))
    return np.clip(stretched, 0, 255).astype(np.uint8)
