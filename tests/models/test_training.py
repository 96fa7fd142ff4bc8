"""Real training steps on a small dataset in the shard layout: losses fall, runs resume."""

import json
from pathlib import Path

import pytest
import torch

from mindseye.dataset.manifest import read_manifest
from mindseye.models.jobs import LOSSES, train_network
from mindseye.models.runs import CHECKPOINT, WEIGHTS, build_network
from mindseye.models.training import seed_everything
from tests.fixtures.training import train_and_kill, training_batch

pytestmark = pytest.mark.blender  # model_dataset is rendered


@pytest.mark.parametrize("network", list(LOSSES))
def test_loss_falls_over_real_training_steps(model_dataset: Path, network: str) -> None:
    seed_everything(0)
    model = build_network(network, len(read_manifest(model_dataset).classes) - 1)
    batch = training_batch(model_dataset, network)
    loss = LOSSES[network]
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    with torch.no_grad():
        before = loss(model.eval(), batch).item()
    model.train()
    for _ in range(8):
        optimiser.zero_grad()
        loss(model, batch).backward()
        optimiser.step()
    with torch.no_grad():
        after = loss(model.eval(), batch).item()
    assert after < 0.97 * before, (before, after)


_TRAIN_SCRIPT = """
import sys
from mindseye.models.jobs import train_network
train_network("direct", sys.argv[1], sys.argv[2], steps=10, batch_size=8, seed=3,
              device="cpu", show_progress=False, checkpoint_every=2, log_every=1)
"""


def _run_uninterrupted(data_dir: Path, run_dir: Path) -> None:
    train_network("direct", data_dir, run_dir, steps=10, batch_size=8, seed=3, device="cpu",
                  show_progress=False, checkpoint_every=2, log_every=1)


def test_run_killed_with_sigkill_resumes_to_the_same_weights(
    model_dataset: Path, tmp_path: Path
) -> None:
    killed_run = tmp_path / "killed"
    resumed_from = train_and_kill(_TRAIN_SCRIPT, model_dataset, killed_run)
    checkpoint = killed_run / "direct" / CHECKPOINT
    assert not (killed_run / "direct" / WEIGHTS).exists()
    assert 4 <= resumed_from < 10

    _run_uninterrupted(model_dataset, killed_run)
    _run_uninterrupted(model_dataset, tmp_path / "whole")

    resumed = torch.load(killed_run / "direct" / WEIGHTS, weights_only=True)
    whole = torch.load(tmp_path / "whole" / "direct" / WEIGHTS, weights_only=True)
    assert resumed.keys() == whole.keys()
    for name in whole:
        assert torch.equal(resumed[name], whole[name]), name
    assert not checkpoint.exists()

    def losses(run: Path) -> list:
        lines = (run / "direct" / "metrics.jsonl").read_text().splitlines()
        return [(record["step"], record["loss"]) for record in map(json.loads, lines)]

    assert losses(killed_run) == losses(tmp_path / "whole")
    assert [step for step, _ in losses(killed_run)] == list(range(1, 11))
