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
