"""What an experiment attacks: the test images it picks and the run's networks as victims."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from mindseye.attacks.registry import AttackSpec
from mindseye.attacks.settings import AttackSettings, attack_batch_size
from mindseye.attacks.victims import DirectVictim, TripleStagedVictim, Victim
from mindseye.core.constants import CLASSIFIERS, TRIPLE_STAGED
from mindseye.dataset.manifest import read_manifest
from mindseye.dataset.shards import load_split
from mindseye.models.estimator import ClipMode
from mindseye.models.runs import load_classifier, load_triple_staged, resolve_device


def load_test_images(data_dir: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """The class list (None last) and the test split's images and labels."""
    return read_manifest(data_dir).classes, load_split(data_dir, "test", ("image", "label"))


def select_per_class(labels: np.ndarray, per_class: int, num_labels: int) -> np.ndarray:
    """Indices of the first `per_class` test images of each label, in index order."""
    chosen = [np.flatnonzero(labels == label)[:per_class] for label in range(num_labels)]
    return np.sort(np.concatenate(chosen))


def first_per_label(selected: np.ndarray, labels: np.ndarray, count: int | None) -> np.ndarray:
    """The first `count` of the selected indices of each label, in their order (all of them
    where `count` is None): of indices `select_per_class` chose, those it would choose with
    `count`."""
    if count is None:
        return selected
    return selected[np.isin(selected, select_per_class(labels, count, int(labels.max()) + 1))]


def images_of(spec: AttackSpec, selected: np.ndarray, labels: np.ndarray,
              settings: AttackSettings) -> np.ndarray:
    """The selected images an attack takes: all, or the first of each label its spec's
    `per_class_setting` names."""
    count = getattr(settings, spec.per_class_setting) if spec.per_class_setting else None
    return first_per_label(selected, labels, count)


def chunks(indices: np.ndarray, size: int) -> Iterator[tuple[int, np.ndarray]]:
    """(unit number, indices) for consecutive pieces of `size` indices."""
    for number, start in enumerate(range(0, len(indices), size)):
        yield number, indices[start : start + size]


def load_victims(
    run_dir: Path,
    classes: list[str],
    settings: AttackSettings,
    networks: tuple[str, ...] = CLASSIFIERS,
    clip: ClipMode = "hard",
) -> list[Victim]:
    """The run's networks, checked against the data's classes (models/runs.py raises UserError
    naming a missing network folder or a class mismatch)."""
    device = str(resolve_device(settings.device))
    found: list[Victim] = []
    for name in networks:
        if name == TRIPLE_STAGED:
            model = load_triple_staged(run_dir, classes, clip=clip, device=device)
            found.append(TripleStagedVictim(name, model, settings.thresholds))
        else:
            model = load_classifier(run_dir, name, classes, device=device)
            found.append(DirectVictim(name, model, len(classes) - 1))
    return found


def as_tensor(images: np.ndarray, victim: Victim) -> torch.Tensor:
    """uint8 images (N, 64, 64) -> float (N, 1, 64, 64) on the victim's device."""
    device = next(victim.model.parameters()).device
    return torch.as_tensor(images, dtype=torch.float32, device=device)[:, None]


def outputs_and_decisions(victim: Victim, images: np.ndarray,
                          batch_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The victim's outputs (N, ...) and decisions (N, T) for uint8 images (N, 64, 64), in
    batches of `batch_size` (None: the device's)."""
    batch_size = attack_batch_size(victim.model, batch_size)
    outputs, decisions = [], []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = victim.outputs(as_tensor(images[start : start + batch_size], victim))
            outputs.append(batch.cpu())
            decisions.append(victim.decisions(batch).cpu())
    if not outputs:
        return np.zeros((0, 0), np.float32), np.zeros((0, len(victim.thresholds)), np.int64)
    return torch.cat(outputs).numpy(), torch.cat(decisions).numpy()


def victim_decisions(victim: Victim, images: np.ndarray, batch_size: int | None
                     ) -> np.ndarray:
    """Decisions (N, T) at each of the victim's thresholds for uint8 images (N, 64, 64)."""
    return outputs_and_decisions(victim, images, batch_size)[1]
