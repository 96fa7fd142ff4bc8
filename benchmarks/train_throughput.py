"""Training throughput of the reduced AlexNet (Direct): ours vs a straightforward implementation.

Ours: the banded-matmul LRN, channels_last, and the split held in memory as uint8
(`dataset.torch_data`). Baseline: `torch.nn.LocalResponseNorm`, default memory format, and a
map-style Dataset that reads each sample from the HDF5 shard (a DataLoader with default
settings). Both run the same SGD step on the same shard; they alternate in rounds so that load
from other processes hits both alike. Last line: one JSON object (samples/s, ratio ours/baseline).

    python benchmarks/train_throughput.py [--steps 10] [--rounds 3] [--batch-size 64]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from mindseye.core.constants import ROTATION_LIMIT
from mindseye.dataset.manifest import Manifest, ShardRecord, SplitRecord, write_manifest
from mindseye.dataset.shards import write_shard
from mindseye.dataset.torch_data import training_batches
from mindseye.models.direct import Direct


def write_dataset(data_dir: Path, samples: int) -> Path:
    rng = np.random.default_rng(0)
    arrays = {"image": rng.integers(0, 256, (samples, 64, 64), dtype=np.uint8),
              "label": np.arange(samples, dtype=np.int64) % 4,
              "params": rng.uniform(-ROTATION_LIMIT, ROTATION_LIMIT,
                                    (samples, 3)).astype(np.float32),
              "object": np.zeros((samples, 64, 64), np.uint8),
              "alpha": np.zeros((samples, 64, 64), np.uint8)}
    attrs = {"class_names": ["a", "b", "c", "none"], "split": "train", "seed": 0,
             "shard_index": 0, "first_index": 0, "backgrounds": "random"}
    sha = write_shard(data_dir / "train/shard-00000.h5", arrays, attrs)
    split = SplitRecord(samples, [ShardRecord("train/shard-00000.h5", 0, samples, sha)])
    write_manifest(data_dir, Manifest(["a", "b", "c", "none"], {}, {"train": split}))
    return data_dir


class PerSampleHDF5(torch.utils.data.Dataset):
    """The straightforward loader: one HDF5 read per sample."""

    def __init__(self, path: Path):
        self.path = path
        with h5py.File(path, "r") as h5:
            self.length = len(h5["label"])
        self.h5: h5py.File | None = None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.h5 is None:
            self.h5 = h5py.File(self.path, "r")
        image = torch.from_numpy(self.h5["image"][index]).float()[None]
        return image, torch.tensor(self.h5["label"][index])


def make_step(network: torch.nn.Module):
    optimiser = torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step(images: torch.Tensor, labels: torch.Tensor) -> None:
        loss = torch.nn.functional.cross_entropy(network(images), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="steps per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory() as folder:
        data_dir = write_dataset(Path(folder), 2000)
        torch.manual_seed(0)
        baseline_net = Direct(3, fast_lrn=False).train()
        ours_net = Direct(3, fast_lrn=True).to(memory_format=torch.channels_last).train()
        baseline_step, ours_step = make_step(baseline_net), make_step(ours_net)
        loader = iter(torch.utils.data.DataLoader(
            PerSampleHDF5(data_dir / "train/shard-00000.h5"), batch_size=args.batch_size,
            shuffle=True, drop_last=True, persistent_workers=False))
        batches = training_batches(data_dir, ("image", "label"), args.batch_size, 0, cpu)

        def run_baseline() -> None:
            nonlocal loader
            try:
                images, labels = next(loader)
            except StopIteration:  # a new epoch
                loader = iter(torch.utils.data.DataLoader(
                    PerSampleHDF5(data_dir / "train/shard-00000.h5"),
                    batch_size=args.batch_size, shuffle=True, drop_last=True))
                images, labels = next(loader)
            baseline_step(images, labels)

        def run_ours() -> None:
            batch = batches.next()
            ours_step(batch["image"], batch["label"])

        seconds = {"baseline": 0.0, "ours": 0.0}
        for run in (run_baseline, run_ours):  # warm-up
            run()
        for _ in range(args.rounds):
            for name, run in (("baseline", run_baseline), ("ours", run_ours)):
                start = time.perf_counter()
                for _ in range(args.steps):
                    run()
                seconds[name] += time.perf_counter() - start
    samples = args.rounds * args.steps * args.batch_size
    baseline, ours = samples / seconds["baseline"], samples / seconds["ours"]
    print(f"baseline (stock LRN, per-sample HDF5 reads): {baseline:.1f} samples/s")
    print(f"ours (banded LRN, channels_last, in memory): {ours:.1f} samples/s")
    print(json.dumps({"name": "train_throughput_reduced_alexnet", "value": round(ours, 2),
                      "unit": "samples/s", "baseline": round(baseline, 2),
                      "ratio": round(ours / baseline, 3), "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
