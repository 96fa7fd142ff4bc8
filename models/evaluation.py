"""Test-split measurements for each network, as plain JSON-ready dicts."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mindseye.core.constants import THRESHOLDS
from mindseye.core.files import atomic_path
from mindseye.models.triple_staged import TripleStaged, decide


@torch.no_grad()
def in_batches(
    function: Callable[..., torch.Tensor], arrays: list[np.ndarray], device: torch.device,
    batch_size: int = 256,
) -> np.ndarray:
    """Apply `function` to tensors made from equally long arrays, `batch_size` rows at a time.

    uint8 image arrays (N,64,64) become float (B,1,64,64) on 0..255; other arrays stay as they
    are. Returns the outputs concatenated as numpy.
    """
    outputs = []
    for start in range(0, len(arrays[0]), batch_size):
        tensors = []
        for array in arrays:
            tensor = torch.from_numpy(np.ascontiguousarray(array[start:start + batch_size]))
            if array.ndim == 3:
                tensor = tensor[:, None].float()
            tensors.append(tensor.to(device))
        outputs.append(function(*tensors).float().cpu().numpy())
    return np.concatenate(outputs)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    return np.bincount(labels * n + predictions, minlength=n * n).reshape(n, n)


def classification_metrics(labels: np.ndarray, predictions: np.ndarray, classes: list[str]) -> dict:
    confusion = confusion_matrix(labels, predictions, len(classes))
    accuracy = float(np.mean(labels == predictions))
    return {"accuracy": accuracy, "error": 1 - accuracy, "classes": classes,
            "confusion": confusion.tolist()}


def evaluate_direct(network: torch.nn.Module, test: dict, classes: list[str],
                    device: torch.device) -> dict:
    logits = in_batches(network, [test["image"]], device)
    return classification_metrics(test["label"], logits.argmax(axis=1), classes)


def evaluate_estimator(network: torch.nn.Module, test: dict, classes: list[str],
                       device: torch.device) -> dict:
    """Mean absolute angle error in degrees, per class and over all positives (clipped output)."""
    k = len(classes) - 1
    keep = test["label"] < k
    params = in_batches(network, [test["image"][keep], test["label"][keep]], device)
    error = np.degrees(np.abs(params - test["params"][keep])).mean(axis=1)
    per_class = {classes[c]: float(error[test["label"][keep] == c].mean()) for c in range(k)}
    return {"mean_abs_error_deg": float(error.mean()), "per_class_deg": per_class}


def evaluate_projector(network: torch.nn.Module, test: dict, classes: list[str],
                       device: torch.device) -> dict:
    """PSNR of the drawing against the rendered object, and IoU of alpha > 0.5."""
    k = len(classes) - 1
    keep = test["label"] < k
    params, labels = test["params"][keep], test["label"][keep]
    drawing = in_batches(lambda p, c: network.draw(p, c)[0], [params, labels], device)[:, 0]
    alpha = in_batches(lambda p, c: network.draw(p, c)[1], [params, labels], device)[:, 0]
    mse = np.mean((drawing - test["object"][keep].astype(np.float32)) ** 2)
    drawn, true = alpha > 0.5, test["alpha"][keep] > 127
    iou = np.sum(drawn & true, axis=(1, 2)) / np.maximum(np.sum(drawn | true, axis=(1, 2)), 1)
    return {"psnr_db": float(10 * np.log10(255.0**2 / max(mse, 1e-12))),
            "alpha_iou": float(iou.mean())}


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a positive outscores a negative (ties half)."""
    positive = positive.astype(bool)
    pos, neg = scores[positive], scores[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.sort(neg)
    below = np.searchsorted(order, pos, side="left")
    equal = np.searchsorted(order, pos, side="right") - below
    return float((below + 0.5 * equal).sum() / (len(pos) * len(neg)))


def evaluate_comparator(network: torch.nn.Module, pairs: dict, device: torch.device) -> dict:
    """AUC of the image-level alpha-weighted ratio on test same/different pairs."""
    alpha = pairs["alpha"].astype(np.float32) / 255
    ratios = in_batches(network.ratio, [pairs["query"], pairs["drawing"], alpha], device)
    return {"auc": auc(ratios, pairs["same"]), "pairs": len(ratios)}


def evaluate_triple_staged(network: TripleStaged, test: dict, classes: list[str],
                           device: torch.device) -> dict:
    """Error rate and confusion matrix at each threshold, from one pass of ratios."""
    ratios = torch.from_numpy(in_batches(network.ratios, [test["image"]], device, batch_size=64))
    results = {}
    for threshold in THRESHOLDS:
        predictions = decide(ratios, threshold).numpy()
        results[str(threshold)] = classification_metrics(test["label"], predictions, classes)
    return {"thresholds": results,
            "error": {threshold: r["error"] for threshold, r in results.items()}}


def save_drawings(network: torch.nn.Module, test: dict, classes: list[str], path: Path,
                  device: torch.device, per_class: int = 4) -> None:
    """A PNG grid; per row: test image, rendered object, drawing from the true angles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(classes) - 1
    rows = np.concatenate([np.flatnonzero(test["label"] == c)[:per_class] for c in range(k)])
    drawing = in_batches(lambda p, c: network.draw(p, c)[0],
                         [test["params"][rows], test["label"][rows]], device)[:, 0]
    columns = ("input", "rendered object", "projector drawing")
    figure, axes = plt.subplots(len(rows), 3, figsize=(4.5, 1.5 * len(rows)), squeeze=False)
    for row, index in enumerate(rows):
        for column, picture in enumerate((test["image"][index], test["object"][index],
                                          drawing[row])):
            axis = axes[row, column]
            axis.imshow(picture, cmap="gray", vmin=0, vmax=255)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(columns[column], fontsize=8)
        axes[row, 0].set_ylabel(classes[test["label"][index]], fontsize=8)
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as partial:
        figure.savefig(partial, dpi=100)
    plt.close(figure)
