"""`compare_datasets`: where two renders of one dataset differ, sample by sample.

The same render is not the same on every machine (results/README.md: the medium datasets on
an AVX2 EPYC and on a Xeon with AVX-512), and two content digests only say that something
differs. This says which samples and which of the digest's fields, and by how much, so a
user can judge the difference: a run's attack records, say, touch only the first test images.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mindseye.core.errors import UserError
from mindseye.dataset.manifest import read_manifest
from mindseye.dataset.shards import FIELDS, iter_split

COMPARE_CHUNK = 1000  # samples read at a time from each dataset


@dataclass(frozen=True)
class FieldDifference:
    """The samples of one split whose `field` differs, and the largest absolute difference
    there (grey levels for images, radians for params; inf for a value against NaN, a pose
    against none)."""

    split: str
    field: str
    samples: tuple[int, ...]
    largest: float


def compare_datasets(first: Path, second: Path) -> tuple[dict[str, int], list[FieldDifference]]:
    """(samples compared per split, the differences) of two renders of one dataset (the same
    classes and samples per split), over the splits both hold (a `dataset copy` holds some);
    the differences are empty where every field of the content digest (`shards.FIELDS`) is
    the same in every sample."""
    splits = _comparable_splits(Path(first), Path(second))
    differences = []
    for split in splits:
        differing: dict[str, list[np.ndarray]] = {name: [] for name in FIELDS}
        largest = dict.fromkeys(FIELDS, 0.0)
        start = 0
        chunks = zip(iter_split(first, split, COMPARE_CHUNK),
                     iter_split(second, split, COMPARE_CHUNK), strict=True)
        for ours, theirs in chunks:
            for name in FIELDS:
                rows, size = _differing_rows(ours[name], theirs[name])
                differing[name].append(rows + start)
                largest[name] = max(largest[name], size)
            start += len(ours["label"])
        for name in FIELDS:
            samples = np.concatenate(differing[name])
            if samples.size:
                differences.append(FieldDifference(split, name, tuple(samples.tolist()),
                                                   largest[name]))
    return splits, differences


def _comparable_splits(first: Path, second: Path) -> dict[str, int]:
    ours, theirs = read_manifest(first), read_manifest(second)
    if ours.classes != theirs.classes:
        raise UserError(f"{first} and {second} have other classes ({', '.join(ours.classes)} "
                        f"against {', '.join(theirs.classes)}): not two renders of one dataset")
    splits = {}
    for name in sorted(set(ours.splits) & set(theirs.splits)):  # a copy holds the test split
        for data_dir, manifest in ((first, ours), (second, theirs)):
            split = manifest.splits[name]
            if split.finished_samples != split.samples:
                raise UserError(f"{data_dir}: its {name} split is not finished; finish the "
                                f"render (`mindseye render {data_dir}` resumes it) first")
        if ours.splits[name].samples != theirs.splits[name].samples:
            raise UserError(f"{first} and {second} hold {ours.splits[name].samples} and "
                            f"{theirs.splits[name].samples} {name} samples: not two renders "
                            "of one dataset")
        splits[name] = ours.splits[name].samples
    if not splits:
        raise UserError(f"{first} and {second} have no split in common")
    return splits


def _differing_rows(ours: np.ndarray, theirs: np.ndarray) -> tuple[np.ndarray, float]:
    """The rows (samples) where two arrays differ (NaN equals NaN: the None class's params),
    and the largest absolute difference in them: infinite where one holds a value and the
    other NaN (a pose against none)."""
    same = ours == theirs
    if ours.dtype.kind == "f":
        same |= np.isnan(ours) & np.isnan(theirs)
    rows = np.flatnonzero(~same.reshape(len(same), -1).all(axis=1))
    if not rows.size:
        return rows, 0.0
    first, second = ours[rows].astype(np.float64), theirs[rows].astype(np.float64)
    gap = np.abs(first - second)
    gap[same[rows]] = 0.0  # NaN against NaN (and inf against inf) is no difference
    gap[np.isnan(first) != np.isnan(second)] = np.inf
    return rows, float(gap.max())
