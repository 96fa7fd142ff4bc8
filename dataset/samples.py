"""What sample i of a split is: its label, its rotation and its background crop (and the photo
it came from).

Everything about a sample is a function of (seed, split, i) alone, so a dataset comes out the same
whatever the number of workers or the order in which shards finish, a killed render can resume,
and `dataset recomposite` can redraw sample i's background without Blender. The render driver,
`recomposite` and the tests all ask `draw_sample` rather than drawing from the stream themselves,
so the order of the draws (rotation first, then the crop) is written down exactly once.
"""

from dataclasses import dataclass

import numpy as np

from mindseye.core.constants import ROTATION_LIMIT
from mindseye.dataset.backgrounds import BackgroundSource

# A split's id is its position here; it is part of every sample's random stream.
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Sample:
    """Sample `index` of a split, before rendering."""

    index: int
    # Labels cycle through the classes, the None class last, so every shard is class-balanced.
    label: int
    # Euler angles (x, y, z) in radians, applied in Blender's 'ZXY' rotation mode; float64 (3,),
    # all NaN for the None class (which is rendered as background alone).
    rotation: np.ndarray
    # The background crop the object is composited over: uint8 (64, 64).
    background: np.ndarray
    # Which image of the background source the crop came from (BackgroundSource.photo_index;
    # backgrounds.PROCEDURAL for a generated one).
    photo: int


def draw_sample(
    seed: int, split: str, index: int, n_labels: int, backgrounds: BackgroundSource
) -> Sample:
    """Sample `index` of `split` in a dataset of `n_labels` labels (the None class included).

    Its random numbers come from `numpy.random.default_rng([seed, split_id, index])`: first the
    rotation, uniform in [-ROTATION_LIMIT, ROTATION_LIMIT]^3 (drawn for the None class too, so
    that every sample's crop comes from the same place in its stream, and then set to NaN), then
    the crop from `backgrounds`.
    """
    rng = np.random.default_rng([seed, SPLITS.index(split), index])
    label = index % n_labels
    rotation = rng.uniform(-ROTATION_LIMIT, ROTATION_LIMIT, 3)
    if label == n_labels - 1:
        rotation = np.full(3, np.nan)
    background, photo = backgrounds.draw(rng)
    return Sample(index, label, rotation, background, photo)
