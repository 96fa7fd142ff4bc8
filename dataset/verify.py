"""`verify_dataset`: every way a dataset's files disagree with its manifest or the shard format.

It reads both the manifest and every shard, so it sits above `dataset.manifest` and
`dataset.shards`.
"""

from pathlib import Path

import numpy as np

from mindseye.core.files import file_sha256
from mindseye.dataset.composite import composite
from mindseye.dataset.manifest import ShardRecord, read_manifest
from mindseye.dataset.shards import ShardError, content_sha256, read_shard


def verify_dataset(data_dir: Path) -> list[str]:
    """Every problem found in a dataset, one line each; an empty list means it is sound."""
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    problems = []
    for split_name, split in manifest.splits.items():
        expected_first = 0
        for shard in split.shards:
            if shard.first_index != expected_first:
                problems.append(f"{split_name}: shard {shard.file} starts at sample "
                                f"{shard.first_index}, expected {expected_first}")
            expected_first = shard.first_index + shard.count
            problems += _shard_problems(data_dir, split_name, shard, manifest.classes)
        if split.finished_samples != split.samples:
            problems.append(f"{split_name}: shards hold {split.finished_samples} samples, the "
                            f"manifest asks for {split.samples} (unfinished render? run "
                            "`mindseye render` again to resume)")
        listed = {Path(shard.file).name for shard in split.shards}
        split_dir = data_dir / split_name
        for stray in sorted(split_dir.glob("*.h5")) if split_dir.is_dir() else []:
            if stray.name not in listed:
                problems.append(f"{stray}: shard file not listed in the manifest")
    if manifest.copied_from and not problems and (
            content_sha256(data_dir) != manifest.copied_from["copy_sha256"]):
        problems.append(f"{data_dir}: its samples are not the ones copied (`mindseye dataset "
                        "copy` again)")
    return problems


def _shard_problems(
    data_dir: Path, split: str, shard: ShardRecord, classes: list[str]
) -> list[str]:
    path = data_dir / shard.file
    if not path.is_file():
        return [f"{path}: shard file missing"]
    if file_sha256(path) != shard.sha256:
        return [f"{path}: sha256 differs from the manifest (file changed or damaged)"]
    try:
        arrays, attrs = read_shard(path)
    except ShardError as error:
        return [error.message]
    problems = []
    for key, expected in (("split", split), ("first_index", shard.first_index),
                          ("class_names", classes)):
        if attrs.get(key) != expected:
            problems.append(f"{path}: attribute {key} is {attrs.get(key)!r}, "
                            f"the manifest says {expected!r}")
    label, params, obj, alpha = arrays["label"], arrays["params"], arrays["object"], arrays["alpha"]
    none_label = len(classes) - 1
    checks = {
        f"holds {len(label)} samples, the manifest says {shard.count}": len(label) != shard.count,
        f"labels outside 0..{none_label}": bool(np.any((label < 0) | (label > none_label))),
        "params are not NaN exactly for the None class": bool(
            np.any(np.isnan(params).any(axis=1) != (label == none_label))
            or np.any(np.isnan(params).any(axis=1) != np.isnan(params).all(axis=1))),
        "None samples have a non-zero alpha": bool(np.any(alpha[label == none_label])),
        "object is not 0 where alpha is 0": bool(np.any(obj[alpha == 0])),
        # Where the object is opaque the composite is the object whatever the background.
        "image differs from the object where alpha is 255": bool(np.any(
            (composite(obj, alpha, np.zeros_like(obj)) != arrays["image"]) & (alpha == 255))),
    }
    problems += [f"{path}: {message}" for message, failed in checks.items() if failed]
    return problems
