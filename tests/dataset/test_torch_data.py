from pathlib import Path

import numpy as np
import pytest
import torch

from mindseye.dataset.shards import load_split
from mindseye.dataset.torch_data import (
    BatchOrder,
    InMemorySplit,
    PatchBatches,
    ShardChunks,
    training_batches,
)
from tests.fixtures.synthetic_shapes import write_synthetic_dataset


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("data") / "synthetic", per_class=8,
                                   test_per_class=2)


def test_batch_order_visits_every_sample_once_per_epoch_and_resumes_exactly() -> None:
    order = BatchOrder(10, 4, seed=1)
    first_epoch = torch.cat([order.next() for _ in range(5)])  # 20 indices = two epochs
    assert sorted(first_epoch[:10].tolist()) == list(range(10))
    assert sorted(first_epoch[10:].tolist()) == list(range(10))
    state = order.state_dict()
    expected = [order.next().tolist() for _ in range(4)]
    restored = BatchOrder(10, 4, seed=99)
    restored.load_state_dict(state)
    assert [restored.next().tolist() for _ in range(4)] == expected


def test_in_memory_batches_are_float_images_on_0_255(data_dir: Path) -> None:
    batches = training_batches(data_dir, ("image", "label", "alpha"), 5, 0, torch.device("cpu"))
    assert isinstance(batches, InMemorySplit)
    batch = batches.next()
    assert batch["image"].shape == (5, 1, 64, 64) and batch["image"].dtype == torch.float32
    assert batch["image"].max() > 1 and batch["image"].max() <= 255
    assert batch["alpha"].max() <= 1 and batch["label"].dtype == torch.int64


@pytest.mark.parametrize("limit", [2**40, 0])
def test_only_positives_whether_in_memory_or_in_shard_chunks(data_dir: Path, limit: int) -> None:
    batches = training_batches(data_dir, ("image", "label"), 4, 0, torch.device("cpu"),
                               only_positives=3, in_memory_limit=limit)
    assert isinstance(batches, ShardChunks if limit == 0 else InMemorySplit)
    split = load_split(data_dir, "train")
    seen = []
    for _ in range(12):  # two passes over the 24 positives
        batch = batches.next()
        assert (batch["label"] < 3).all()
        seen += [image.numpy().astype(np.uint8).tobytes() for image in batch["image"][:, 0]]
    positives = {image.tobytes() for image in split["image"][split["label"] < 3]}
    assert set(seen) == positives


def test_patch_batches_are_the_authors_stride_6_patches_with_object_in_them() -> None:
    rng = np.random.default_rng(3)
    count = 5
    alpha = np.zeros((count, 64, 64), np.uint8)
    alpha[:, 20:40, 10:30] = 255  # the object: patches that miss it have no alpha
    pairs = {"query": rng.integers(0, 256, (count, 64, 64), dtype=np.uint8),
             "drawing": rng.integers(0, 256, (count, 64, 64), dtype=np.uint8),
             "alpha": alpha, "same": np.array([1, 0, 1, 0, 1], np.uint8)}
    batches = PatchBatches(pairs, patch=10, stride=6, min_coverage=0.01, batch_size=7, seed=0,
                           device=torch.device("cpu"))
    # Patch corners 0, 6, .., 54; rows 12..36 and columns 6..24 overlap the object by >= 1%.
    wanted = {(pair, row, column) for pair in range(count) for row in range(0, 55, 6)
              for column in range(0, 55, 6)
              if alpha[pair, row:row + 10, column:column + 10].mean() / 255 >= 0.01}
    assert len(batches.pair) == len(wanted) == count * 5 * 4
    seen = set()
    for _ in range(len(wanted) // 7):
        batch = batches.next()
        assert batch["query"].shape == (7, 1, 10, 10) and batch["query"].dtype == torch.float32
        assert 0 < batch["alpha"].mean() <= 1
        for index in range(7):  # find each patch where it was cut from
            query = batch["query"][index, 0].numpy().astype(np.uint8)
            found = [(p, r, c) for p, r, c in wanted
                     if np.array_equal(pairs["query"][p, r:r + 10, c:c + 10], query)]
            assert len(found) == 1
            pair, row, column = found[0]
            assert np.array_equal(batch["drawing"][index, 0].numpy(),
                                  pairs["drawing"][pair, row:row + 10, column:column + 10])
            assert int(batch["same"][index]) == pairs["same"][pair]
            seen.add(found[0])
    assert len(seen) == len(wanted) // 7 * 7  # one epoch: no patch twice
