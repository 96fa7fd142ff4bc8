"""Fig. 5: false-positive adversarials ordered by distortion, each shown as the original, the
adversarial, and what the network believes it sees: the target class drawn at the predicted
angles, alpha-blended on the original.

What draws the predictions (`Overlay.kind`) is decided once, up front, by explicit rules:
- "blender": the dataset was rendered by Blender (its manifest records the engine settings and
  each class's asset sha256) and bpy is installed. The drawing is then a re-render with exactly
  the engine settings and the .blend files the dataset was made with; a class whose .blend is
  missing or differs from the recorded sha256 is a UserError naming it, and a renderer that
  fails is an error, not a silent switch to something else.
- "projector": the run's projector draws, where Blender cannot draw what the dataset holds: the
  dataset records no Blender render (a synthetic dataset), bpy is not installed, or no dataset
  folder was given (the call of older code; the settings are then unknown). `Overlay.reason`
  says which.
"""

import importlib.util
from pathlib import Path

import numpy as np
import torch

from blender_assets.registry import CLASSES_FILE, AssetClass, read_classes_file, resolve_assets_dir
from core.errors import UserError
from core.files import file_sha256
from dataset.manifest import manifest_path, read_manifest
from eval.figures import plt, save
from render.blender import EngineSettings
from render.worker import BlenderProcess

ROWS = 8  # examples per gallery
BLEND_OPACITY = 0.6  # how strongly the drawing covers the original in the third column


class Overlay:
    """Draws class c at angles (n, 3): object over black and alpha, uint8 (n, 64, 64) each.

    `data_dir` is the dataset the run was tested on; its manifest says how to re-render its
    classes. `assets_dir` is where their .blend files are registered (the installed
    blender_assets by default), as for `mindseye render --assets-dir`.
    """

    def __init__(self, run_dir: Path, classes: list[str], device: str,
                 data_dir: Path, assets_dir: Path | None = None) -> None:
        self.classes = classes
        self.kind = "projector"
        self.reason = ""  # why the projector draws instead of Blender
        self.blender: BlenderProcess | None = None
        self.assets: dict[str, AssetClass] = {}
        self.projector: torch.nn.Module | None = None
        config = read_manifest(data_dir).config
        if "engine" not in config or "assets_sha256" not in config:
            self.reason = (f"{data_dir} was not rendered by Blender (its manifest records no "
                           "engine settings or asset sha256s)")
        elif importlib.util.find_spec("bpy") is None:
            self.reason = "bpy is not installed"
        else:
            where = str(manifest_path(data_dir))
            self.assets = recorded_assets(classes[:-1], config["assets_sha256"], where,
                                          assets_dir)
            engine = EngineSettings.from_record(config["engine"], where)
            self.blender, self.kind = BlenderProcess(engine), "blender"
        if self.kind == "projector":
            from models.runs import load_network, resolve_device

            self.projector = load_network(Path(run_dir) / "projector", "projector", classes,
                                          str(resolve_device(device)))

    def draw(self, class_index: int, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.blender is not None:
            asset = self.assets[self.classes[class_index]]
            return self.blender.render(asset.blend_file, asset.object_name, angles)
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


def recorded_assets(names: list[str], recorded_sha256: dict[str, str], where: str,
                    assets_dir: Path | None = None) -> dict[str, AssetClass]:
    """The registered .blend of each class, checked byte for byte (sha256) against the one the
    dataset was rendered with, as `where` (its manifest) records it."""
    directory = resolve_assets_dir(assets_dir)
    registered = read_classes_file(directory) if (directory / CLASSES_FILE).is_file() else {}
    assets = {}
    for name in names:
        if name not in recorded_sha256:
            raise UserError(f"class {name!r}: {where} records no 3D model for it; evaluate the "
                            "run on the dataset it was trained for")
        asset = registered.get(name)
        if asset is None or not asset.blend_file.is_file():
            missing = (f"is not registered in {directory / CLASSES_FILE}" if asset is None
                       else f"has no model file ({asset.blend_file} is missing)")
            raise UserError(f"class {name!r} {missing}, so Fig. 5 cannot re-render it; register "
                            f"the model the dataset was rendered with (`mindseye assets add "
                            f"{name} FILE`, or `mindseye assets build` for a built-in class)")
        found = file_sha256(asset.blend_file)
        if found != recorded_sha256[name]:
            raise UserError(f"class {name!r}: {asset.blend_file} (sha256 {found[:12]}...) is not "
                            f"the model the dataset was rendered with ({where} records "
                            f"{recorded_sha256[name][:12]}...); restore that .blend file, or "
                            "render the dataset again with this one")
        assets[name] = asset
    return assets


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
