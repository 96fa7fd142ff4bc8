"""Fig. 5: false-positive adversarials ordered by distortion, each shown as the original, the
adversarial, and what the network believes it sees: the target class drawn at the predicted
angles, alpha-blended on the original.

The drawing is a Blender re-render of the class's .blend (render/worker.py) when Blender and the
class's asset are available, else the run's projector's drawing; `Overlay.kind` says which.
"""

from pathlib import Path

import numpy as np
import torch

from eval.figures import plt, save

ROWS = 8  # examples per gallery
BLEND_OPACITY = 0.6  # how strongly the drawing covers the original in the third column


class Overlay:
    """Draws class c at angles (n, 3): object over black and alpha, uint8 (n, 64, 64) each."""

    def __init__(self, run_dir: Path, classes: list[str], device: str):
        self.kind = "projector"
        self.blender = None
        self.assets: dict = {}
        self.reason = ""  # why the projector draws instead of Blender
        try:
            from blender_assets.registry import load_classes
            from render.worker import BlenderProcess

            assets = load_classes()
            missing = [name for name in classes[:-1] if name not in assets]
            if missing:
                self.reason = f"classes {missing} have no registered 3D model"
            else:
                self.assets, self.blender, self.kind = assets, BlenderProcess(), "blender"
        except Exception as problem:  # no bpy, no assets: the projector still draws
            self.reason = f"{type(problem).__name__}: {problem}"
        from models.runs import load_network, resolve_device

        self.projector = load_network(Path(run_dir) / "projector", "projector", classes,
                                      str(resolve_device(device)))
        self.classes = classes

    def draw(self, class_index: int, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.blender is not None:
            try:
                asset = self.assets[self.classes[class_index]]
                return self.blender.render(asset.blend_file, asset.object_name, angles)
            except Exception as problem:  # Blender died for good: fall back for the rest
                self.blender.close()
                self.blender, self.kind = None, "projector"
                self.reason = f"{type(problem).__name__}: {problem}"
        parameters = next(self.projector.parameters())
        with torch.no_grad():
            classes = torch.full((len(angles),), class_index, device=parameters.device)
            drawing, alpha = self.projector.draw(
                torch.as_tensor(angles, dtype=torch.float32, device=parameters.device), classes)
        return (drawing[:, 0].clamp(0, 255).round().byte().cpu().numpy(),
                (alpha[:, 0] * 255).round().byte().cpu().numpy())

    def close(self) -> None:
        if self.blender is not None:
            self.blender.close()


def predicted_angles(network: str, model: torch.nn.Module, images: np.ndarray,
                     targets: np.ndarray) -> np.ndarray | None:
    """The angles the network predicts for its (adversarial) decision; None if it has no such
    output (the plain direct network)."""
    device = next(model.parameters()).device
    batch = torch.as_tensor(images, dtype=torch.float32, device=device)[:, None]
    with torch.no_grad():
        if network == "triple-staged":
            classes = torch.as_tensor(targets, device=device)
            return model.estimator(batch, classes).cpu().numpy()
        if network == "direct-param":
            return model.logits_and_params(batch)[1].clamp(-0.5, 0.5).cpu().numpy()
    return None


def pick_by_distortion(records: list[dict], rows: int = ROWS) -> list[dict]:
    """`rows` records at evenly spaced ranks of distortion, lowest first."""
    ordered = sorted(records, key=lambda record: record["distortion"])
    if len(ordered) <= rows:
        return ordered
    return [ordered[int(i)] for i in np.linspace(0, len(ordered) - 1, rows).round()]


def gallery_figure(
    records: list[dict],
    originals: np.ndarray,
    adversarials: np.ndarray,
    drawings: tuple[np.ndarray, np.ndarray] | None,
    classes: list[str],
    title: str,
    path: Path,
) -> Path:
    """One row per record: original, adversarial, drawing blended on the original."""
    columns = 3 if drawings is not None else 2
    figure, axes = plt.subplots(len(records), columns, figsize=(2.1 * columns, 2.0 * len(records)),
                                squeeze=False)
    for row, record in enumerate(records):
        panels = [originals[row], adversarials[row]]
        if drawings is not None:
            drawing, alpha = (array[row].astype(np.float32) for array in drawings)
            cover = BLEND_OPACITY * alpha / 255
            panels.append(originals[row] * (1 - cover) + drawing * BLEND_OPACITY)
        labels = [classes[record["source_class"]],
                  f"-> {classes[record['target']]}, d={record['distortion']:.3f}, "
                  f"{record['steps']} steps", "drawn prediction"]
        for column, (panel, label) in enumerate(zip(panels, labels, strict=False)):
            axis = axes[row][column]
            axis.imshow(panel, cmap="gray", vmin=0, vmax=255)
            axis.set_title(label, fontsize=6)
            axis.axis("off")
    figure.suptitle(title, fontsize=9)
    return save(figure, path)
