"""The comparator's training data: query images paired with drawings of the first two stages.

For every positive image we keep one "same" pair: the image with the estimator and projector run
for its own class. "Different" pairs are the image with a wrong class, or a None image with any
class; we draw as many of them as there are "same" pairs (seeded), so the set is balanced
(paper, section 3.1). Drawings are stored as uint8 like the shards, and the pairs are cached in
an HDF5 file (written atomically) so a resumed comparator run reuses them.
"""

from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

from mindseye.core.files import atomic_path

PAIR_FIELDS = ("query", "drawing", "alpha", "same")


def choose_pairs(labels: np.ndarray, num_classes: int, seed: int) -> tuple[np.ndarray, ...]:
    """(sample index, class, same) for a balanced same/different set; labels == K are None."""
    index = np.arange(len(labels))
    positive = labels < num_classes
    same_index, same_class = index[positive], labels[positive]
    # Every (image, class) combination that is "different": wrong classes and None images.
    grid_index = np.repeat(index, num_classes)
    grid_class = np.tile(np.arange(num_classes), len(labels))
    different = grid_class != labels[grid_index]
    rng = np.random.default_rng(seed)
    pick = rng.permutation(int(different.sum()))[:len(same_index)]
    diff_index, diff_class = grid_index[different][pick], grid_class[different][pick]
    sample = np.concatenate([same_index, diff_index])
    classes = np.concatenate([same_class, diff_class])
    same = np.concatenate([np.ones(len(same_index), np.uint8), np.zeros(len(pick), np.uint8)])
    return sample, classes, same


@torch.no_grad()
def draw_hypotheses(
    estimator: torch.nn.Module,
    projector: torch.nn.Module,
    images: np.ndarray,
    classes: np.ndarray,
    device: torch.device,
    batch_size: int = 256,
    progress: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run estimator -> clip -> projector on uint8 images (N,64,64) with the given classes.

    Returns the drawing and its alpha as uint8 (N,64,64), on the shards' scales.
    """
    estimator.eval()
    projector.eval()
    drawings = np.empty(images.shape, np.uint8)
    alphas = np.empty(images.shape, np.uint8)
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc=progress, disable=progress is None, leave=False):
        stop = start + batch_size
        query = torch.from_numpy(images[start:stop]).to(device)[:, None].float()
        wanted = torch.from_numpy(classes[start:stop]).to(device)
        drawing, alpha = projector.draw(estimator(query, wanted), wanted)
        drawings[start:stop] = drawing[:, 0].round().clamp(0, 255).byte().cpu().numpy()
        alphas[start:stop] = (alpha[:, 0] * 255).round().byte().cpu().numpy()
    return drawings, alphas


def comparator_pairs(
    estimator: torch.nn.Module,
    projector: torch.nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    seed: int,
    device: torch.device,
    progress: str | None = None,
) -> dict[str, np.ndarray]:
    """The balanced pair set for one split: query, drawing, alpha (uint8 N,64,64) and same."""
    sample, classes, same = choose_pairs(labels, num_classes, seed)
    query = images[sample]
    drawing, alpha = draw_hypotheses(estimator, projector, query, classes, device,
                                     progress=progress)
    return {"query": query, "drawing": drawing, "alpha": alpha, "same": same}


def save_pairs(path: Path, pairs: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as partial, h5py.File(partial, "w") as h5:
        for name in PAIR_FIELDS:
            h5.create_dataset(name, data=pairs[name])


def load_pairs(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        return {name: h5[name][...] for name in PAIR_FIELDS}
