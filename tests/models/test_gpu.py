"""The same training step on CUDA; skipped where there is none."""

from pathlib import Path

import pytest
import torch

from mindseye.models.jobs import train_network
from mindseye.models.runs import load_triple_staged

pytestmark = [pytest.mark.gpu, pytest.mark.blender,  # model_dataset is rendered
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_every_network_trains_and_evaluates_on_cuda(model_dataset: Path, tmp_path: Path) -> None:
    for network in ("direct", "direct-param", "estimator", "projector", "comparator"):
        results = train_network(network, model_dataset, tmp_path, steps=3, batch_size=8,
                                device="cuda", show_progress=False)
        assert results
    triple = load_triple_staged(tmp_path, device="cuda")
    assert triple.ratios(torch.zeros(2, 1, 64, 64, device="cuda")).shape == (2, 3)
