"""Any attack library on our networks: a trained network of a run as a plain `torch.nn.Module`.

torchattacks, foolbox, AutoAttack and ART expect a module that takes images in [0, 1] and
returns one score per class whose argmax is the decision. `load_classifier` makes one from a run
folder, for the direct networks and for the triple-staged network at a threshold:

    import mindseye
    model = mindseye.load_classifier("runs/demo", "triple-staged", threshold=0.45)
    images, labels = mindseye.test_images("data/demo", count=32)  # in [0, 1], (B, 1, 64, 64)
    decisions = model(images).argmax(dim=1)   # 0..K-1 the classes, K is None
"""

import numbers
import os
from pathlib import Path
from typing import get_args

import torch

from mindseye.attacks.sources import load_test_images
from mindseye.attacks.victims import (
    GREY_LEVELS,
    DirectVictim,
    TripleStagedVictim,
    UnitRangeClassifier,
)
from mindseye.core.constants import CLASSIFIERS, DIRECT_NETWORKS, TRIPLE_STAGED
from mindseye.core.errors import UserError
from mindseye.models.estimator import ClipMode
from mindseye.models.runs import load_classifier as load_direct
from mindseye.models.runs import load_triple_staged, read_config, resolve_device


def load_classifier(
    run_dir: Path | str,
    network: str,
    threshold: float | None = None,
    device: str = "auto",
    clip: ClipMode = "hard",
) -> UnitRangeClassifier:
    """The trained `network` of RUN (direct, direct-param or triple-staged) as a module on
    images in [0, 1], in eval mode on `device` (auto: CUDA when present). The triple-staged
    network needs its `threshold`; `clip` chooses its estimator's clip (hard, straight_through
    for BPDA, none)."""
    if not isinstance(run_dir, str | os.PathLike):
        raise UserError(f"run_dir {run_dir!r}: give the run folder's path, e.g. 'runs/demo'")
    if threshold is not None and (isinstance(threshold, bool)
                                  or not isinstance(threshold, numbers.Real)):
        raise UserError(f"threshold {threshold!r}: give a number in (0, 1), e.g. 0.45")
    clip = {"straight-through": "straight_through"}.get(clip, clip)  # the CLI's spelling
    if clip not in get_args(ClipMode):
        raise UserError(f"clip {clip!r}: choose one of {', '.join(get_args(ClipMode))}")
    run_dir = Path(run_dir)
    where = str(resolve_device(device))
    if network in DIRECT_NETWORKS:
        if threshold is not None:
            raise UserError(f"{network}: a direct network has no threshold; leave it out")
        classes = read_config(run_dir / network, network)["classes"]
        victim = DirectVictim(network, load_direct(run_dir, network, classes, where),
                              len(classes) - 1)
        return UnitRangeClassifier(victim, None).eval()
    if network == TRIPLE_STAGED:
        if threshold is None or not 0 < threshold < 1:
            raise UserError(f"{network}: give a threshold in (0, 1), e.g. threshold=0.45")
        model = load_triple_staged(run_dir, clip=clip, device=where)
        return UnitRangeClassifier(TripleStagedVictim(network, model, (threshold,)),
                                   threshold).eval()
    raise UserError(f"network {network!r}: choose one of {', '.join(CLASSIFIERS)}")


def test_images(data_dir: Path | str, count: int | None = None,
                device: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """The first `count` test images of a dataset (all without it) in [0, 1], (N, 1, 64, 64),
    and their labels (N,) (None = K), on `device`, as attack libraries take them."""
    _, test = load_test_images(Path(data_dir))
    chosen = slice(None) if count is None else slice(0, count)
    where = resolve_device(device)
    images = torch.as_tensor(test["image"][chosen], dtype=torch.float32, device=where)
    labels = torch.as_tensor(test["label"][chosen], dtype=torch.long, device=where)
    return images[:, None] / GREY_LEVELS, labels
