from pathlib import Path

import numpy as np
import pytest
import torch

from dataset.shards import load_split
from dataset.torch_data import BatchOrder, InMemorySplit, ShardChunks, training_batches
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
