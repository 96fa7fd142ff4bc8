"""Training batches from the shards, fast enough that the network is the bottleneck.

A split is read once into memory as uint8 arrays when it fits (the `paper` preset's train split
is about 2.6 GB with every field) and converted to float per batch on the training device;
otherwise `ShardChunks` keeps one shard at a time in memory. Batches are drawn by `BatchOrder`,
a seeded shuffle whose whole state (generator, permutation, position) goes into checkpoints, so
a resumed run sees exactly the batches an uninterrupted one would.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mindseye.core.errors import UserError
from mindseye.dataset.manifest import read_manifest
from mindseye.dataset.shards import FIELDS, load_split, read_shard

# uint8 fields on 0..255 that become float images (B,1,64,64); "alpha" becomes 0..1.
IMAGE_FIELDS = ("image", "object", "query", "drawing")

# Splits up to this size (in bytes, for the fields asked for) are held in memory whole.
IN_MEMORY_LIMIT = 8 * 2**30


class BatchOrder:
    """Indices 0..n-1 in seeded random order, epoch after epoch, `batch_size` at a time."""

    def __init__(self, n: int, batch_size: int, seed: int):
        if n == 0:
            raise ValueError("cannot draw batches from an empty set")
        self.n, self.batch_size = n, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(n, generator=self.generator)
        self.position = 0

    def next(self) -> torch.Tensor:
        taken: list[torch.Tensor] = []
        wanted = self.batch_size
        while wanted:
            if self.position == self.n:
                self.order = torch.randperm(self.n, generator=self.generator)
                self.position = 0
            piece = self.order[self.position:self.position + wanted]
            taken.append(piece)
            self.position += len(piece)
            wanted -= len(piece)
        return torch.cat(taken)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self.order,
                "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.order, self.position = state["order"], state["position"]


def split_bytes(data_dir: Path, split: str, fields: tuple[str, ...]) -> int:
    samples = read_manifest(data_dir).split(split).samples
    per_sample = sum(FIELDS[name][0].itemsize * int(np.prod(FIELDS[name][1])) for name in fields)
    return samples * per_sample


def positives(arrays: dict[str, np.ndarray], num_classes: int) -> dict[str, np.ndarray]:
    """Only the samples that show an object (label < K), for the estimator and projector."""
    keep = arrays["label"] < num_classes
    return {name: values[keep] for name, values in arrays.items()}


def to_batch(arrays: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """Numpy fields -> tensors on `device`: images (B,1,64,64) float on 0..255, alpha on 0..1."""
    batch = {}
    for name, values in arrays.items():
        tensor = torch.from_numpy(np.ascontiguousarray(values)).to(device, non_blocking=True)
        if name in IMAGE_FIELDS:
            tensor = tensor[:, None].float()
        elif name == "alpha":
            tensor = tensor[:, None].float() / 255.0
        batch[name] = tensor
    return batch


@dataclass
class InMemorySplit:
    """A whole split (or any dict of equally long arrays) in memory, drawn in `BatchOrder`."""

    arrays: dict[str, np.ndarray]
    order: BatchOrder
    device: torch.device

    def next(self) -> dict[str, torch.Tensor]:
        index = self.order.next().numpy()
        return to_batch({name: values[index] for name, values in self.arrays.items()},
                        self.device)

    def state_dict(self) -> dict:
        return self.order.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.order.load_state_dict(state)


class PatchBatches:
    """The authors' comparator batches: square patches cut from every pair at a fixed stride
    (their 04_Stage3Data/01_preconvolute.py, which kept patches whose 0/1-truncated alpha summed
    to more than 1%; here, whose mean alpha reaches `min_coverage`),
    shuffled across all pairs and drawn `batch_size` at a time in `BatchOrder`. A batch holds
    query, drawing and alpha patches (B,1,patch,patch) and `same` of each patch's pair."""

    def __init__(self, pairs: dict[str, np.ndarray], patch: int, stride: int,
                 min_coverage: float, batch_size: int, seed: int, device: torch.device):
        self.pairs, self.patch, self.device = pairs, patch, device
        coverage = torch.nn.functional.avg_pool2d(
            torch.from_numpy(pairs["alpha"])[:, None].float() / 255.0, patch, stride)[:, 0]
        pair, row, column = (coverage >= min_coverage).nonzero(as_tuple=True)
        self.pair = pair.numpy()
        self.row, self.column = row.numpy() * stride, column.numpy() * stride
        self.order = BatchOrder(len(self.pair), batch_size, seed)

    def next(self) -> dict[str, torch.Tensor]:
        index = self.order.next().numpy()
        offsets = np.arange(self.patch)
        pair = self.pair[index][:, None, None]
        rows = (self.row[index][:, None] + offsets)[:, :, None]
        columns = (self.column[index][:, None] + offsets)[:, None, :]
        patches = {name: self.pairs[name][pair, rows, columns]
                   for name in ("query", "drawing", "alpha")}
        return to_batch({**patches, "same": self.pairs["same"][self.pair[index]]}, self.device)

    def state_dict(self) -> dict:
        return self.order.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.order.load_state_dict(state)


class ShardChunks:
    """For splits larger than memory: one shard at a time, shards and samples in seeded order."""

    def __init__(self, data_dir: Path, split: str, fields: tuple[str, ...], batch_size: int,
                 seed: int, device: torch.device, only_positives: int | None = None):
        self.paths = [Path(data_dir) / s.file for s in read_manifest(data_dir).split(split).shards]
        self.fields, self.device, self.only_positives = fields, device, only_positives
        self.shard_order = BatchOrder(len(self.paths), 1, seed)
        self.batch_size = batch_size
        self._load(int(self.shard_order.next()[0]), None)

    def _load(self, shard: int, order_state: dict | None) -> None:
        arrays, _ = read_shard(self.paths[shard], tuple(set(self.fields) | {"label"}))
        if self.only_positives is not None:
            arrays = positives(arrays, self.only_positives)
        self.shard, self.arrays = shard, {name: arrays[name] for name in self.fields}
        # Each pass over a shard gets a fresh order, drawn from the (checkpointed) shard order.
        order_seed = int(torch.randint(2**62, (1,), generator=self.shard_order.generator))
        self.order = BatchOrder(len(self.arrays[self.fields[0]]), self.batch_size, order_seed)
        if order_state is not None:
            self.order.load_state_dict(order_state)

    def next(self) -> dict[str, torch.Tensor]:
        # A shard is used for one pass of its samples, then the next shard in order is loaded.
        if self.order.position == self.order.n:
            self._load(int(self.shard_order.next()[0]), None)
        index = self.order.next().numpy()
        return to_batch({name: values[index] for name, values in self.arrays.items()},
                        self.device)

    def state_dict(self) -> dict:
        return {"shards": self.shard_order.state_dict(), "shard": self.shard,
                "order": self.order.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.shard_order.load_state_dict(state["shards"])
        self._load(state["shard"], state["order"])


def held_out_samples(data_dir: Path, fields: tuple[str, ...], count: int,
                     device: torch.device) -> dict[str, torch.Tensor]:
    """The train split's last `count` samples (what `training_batches(hold_out=count)` leaves
    out), as tensors on `device`; images as float (N, 1, 64, 64)."""
    arrays = load_split(data_dir, "train", fields)
    out = {}
    for name, values in arrays.items():
        tensor = torch.as_tensor(values[-count:], device=device)
        out[name] = tensor.float()[:, None] if name == "image" else tensor
    return out


def training_batches(
    data_dir: Path,
    fields: tuple[str, ...],
    batch_size: int,
    seed: int,
    device: torch.device,
    only_positives: int | None = None,
    in_memory_limit: int = IN_MEMORY_LIMIT,
    hold_out: int = 0,
) -> InMemorySplit | ShardChunks:
    """Batches of the train split's `fields`; `only_positives=K` keeps samples with label < K;
    `hold_out=N` leaves the split's last N samples out (`held_out_samples` reads them)."""
    if split_bytes(data_dir, "train", fields) > in_memory_limit:
        if hold_out:
            raise UserError(f"{data_dir}: holding training samples out needs the train split "
                            "in memory; it is larger than the limit")
        return ShardChunks(data_dir, "train", fields, batch_size, seed, device, only_positives)
    arrays = load_split(data_dir, "train", tuple(set(fields) | {"label"}))
    if hold_out:
        arrays = {name: values[:-hold_out] for name, values in arrays.items()}
    if only_positives is not None:
        arrays = positives(arrays, only_positives)
    arrays = {name: arrays[name] for name in fields}
    return InMemorySplit(arrays, BatchOrder(len(arrays[fields[0]]), batch_size, seed), device)
