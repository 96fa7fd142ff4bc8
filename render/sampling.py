"""What sample i of a split is: its class, its rotation and its random stream.

Everything about a sample is a function of (seed, split, i) alone, so a dataset comes out the same
whatever the number of workers or the order in which shards finish, and a killed job can resume.
"""

from dataclasses import dataclass

import numpy as np

from core.constants import ROTATION_LIMIT

SPLITS = ("train", "test")


def split_id(split: str) -> int:
    return SPLITS.index(split)


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random stream of one sample: the rotation is drawn first, then the background crop."""
    return np.random.default_rng([seed, split_id(split), index])


def label_of(index: int, n_labels: int) -> int:
    """Labels cycle through the classes (None last), so every shard is class-balanced."""
    return index % n_labels


def draw_rotation(rng: np.random.Generator) -> np.ndarray:
    """Euler angles (x, y, z), applied in Blender's 'ZXY' rotation mode."""
    return rng.uniform(-ROTATION_LIMIT, ROTATION_LIMIT, 3)


@dataclass(frozen=True)
class ShardPlan:
    """One shard: samples first_index .. first_index + count - 1 of a split."""

    split: str
    shard_index: int
    first_index: int
    count: int

    @property
    def file_name(self) -> str:
        return f"shard-{self.shard_index:05d}.h5"


def plan_shards(split: str, n_samples: int, shard_size: int) -> list[ShardPlan]:
    return [
        ShardPlan(split, k, first, min(shard_size, n_samples - first))
        for k, first in enumerate(range(0, n_samples, shard_size))
    ]
