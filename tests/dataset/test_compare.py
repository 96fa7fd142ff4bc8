"""`mindseye dataset compare`: which samples two renders of one dataset differ in, and by how
much (the same render can differ across machines)."""

import math

import numpy as np
import pytest
from click.testing import CliRunner

from mindseye.cli import main
from mindseye.core.errors import UserError
from mindseye.dataset.compare import FieldDifference, compare_datasets
from mindseye.dataset.shards import load_split
from tests.fixtures.synthetic_shapes import (
    CLASSES,
    copy_with_field_set,
    copy_with_pixel_moved,
    write_synthetic_dataset,
)


def test_two_renders_differ_where_a_sample_does_and_by_how_much(tmp_path) -> None:
    data = write_synthetic_dataset(tmp_path / "data", per_class=2, test_per_class=3)
    again = write_synthetic_dataset(tmp_path / "again", per_class=2, test_per_class=3)
    assert compare_datasets(data, again) == ({"test": 12, "train": 8}, [])
    other = copy_with_pixel_moved(data, tmp_path / "other", "test", 9, by=3)
    assert compare_datasets(data, other)[1] == [FieldDifference("test", "image", (9,), 3.0)]

    result = CliRunner().invoke(main, ["dataset", "compare", str(data), str(other)])
    assert result.exit_code == 1
    assert "train: the same in all 8 samples" in result.output
    assert "test image: 1 of 12 samples differ (9), by up to 3" in result.output
    same = CliRunner().invoke(main, ["dataset", "compare", str(data), str(again)])
    assert same.exit_code == 0, same.output


def test_datasets_of_other_sizes_are_not_compared(tmp_path) -> None:
    data = write_synthetic_dataset(tmp_path / "data", per_class=2, test_per_class=3)
    bigger = write_synthetic_dataset(tmp_path / "bigger", per_class=2, test_per_class=4)
    result = CliRunner().invoke(main, ["dataset", "compare", str(data), str(bigger)])
    assert result.exit_code != 0 and "not two renders of one dataset" in result.output
    with pytest.raises(UserError, match="12 and 16 test samples"):
        compare_datasets(data, bigger)


def test_a_pose_against_none_is_as_far_apart_as_can_be(tmp_path) -> None:
    data = write_synthetic_dataset(tmp_path / "data", per_class=2, test_per_class=3)
    labels = load_split(data, "test", ("label",))["label"]
    none = int(np.flatnonzero(labels == CLASSES.index("none"))[0])  # its params are NaN
    posed = copy_with_field_set(data, tmp_path / "posed", "test", none, "params", 0.25)
    (difference,) = compare_datasets(data, posed)[1]
    assert (difference.field, difference.samples) == ("params", (none,))
    assert math.isinf(difference.largest)
