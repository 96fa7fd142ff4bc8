"""Fig. 5: false-positive adversarials ordered by distortion, each shown as the original, the
adversarial, and what the network believes it sees: the target class drawn at the predicted
angles, alpha-blended on the original.

What draws the predictions (`Overlay.kind`) is decided once, up front, by explicit rules:
- "blender": the dataset was rendered by Blender (its manifest records the engine settings and
  each class's asset sha256) and bpy is installed. The drawing is then a re-render with exactly
  the engine settings and the .blend files the dataset was made with: each class's registered
  model (built-in, or the user's: `--assets-dir`, $MINDSEYE_ASSETS, the default folder), else the
  file the manifest says it was rendered from, whichever has the recorded sha256. A class with
  neither is a UserError naming it and what to do, and a renderer that fails is an error, not a
  silent switch to something else.
- "projector": the run's projector draws, where Blender cannot draw what the dataset holds: the
  dataset records no Blender render (a synthetic dataset), bpy is not installed, or no dataset
  folder was given (the call of older code; the settings are then unknown). `Overlay.reason`
  says which.
"""

import importlib.util
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch

from mindseye.blender_assets.registry import (
    AssetClass,
    all_classes,
    describe_user_assets_dir,
)
from mindseye.core.constants import TRIPLE_STAGED
from mindseye.core.errors import UserError
from mindseye.core.files import file_sha256
from mindseye.dataset.manifest import manifest_path, read_manifest
from mindseye.eval.figures import plt, save
from mindseye.render.blender import EngineSettings
from mindseye.render.worker import BlenderProcess

ROWS = 8  # examples per gallery
BLEND_OPACITY = 0.6  # how strongly the drawing covers the original in the third column


class Overlay:
    """Draws class c at angles (n, 3): object over black and alpha, uint8 (n, 64, 64) each.

    `data_dir` is the dataset the run was tested on; its manifest says how to re-render its
    classes. `assets_dir` is the folder of the user's classes, as for `mindseye render
    --assets-dir` (else $MINDSEYE_ASSETS, else the default); the built-in classes are the
    installed package's.
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
                                          assets_dir, config.get("assets"))
            engine = EngineSettings.from_record(config["engine"], where)
            self.blender, self.kind = BlenderProcess(engine), "blender"
        if self.kind == "projector":
            from mindseye.models.runs import load_network, resolve_device

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
                    assets_dir: Path | None = None,
                    recorded: dict[str, dict] | None = None) -> dict[str, AssetClass]:
    """The .blend of each class the dataset was rendered with, checked byte for byte (sha256)
    against `where` (its manifest): the registered class of that name, else the file
    `recorded` (the manifest's `assets`) says it came from."""
    registered = all_classes(assets_dir)
    recorded = recorded or {}
    assets = {}
    for name in names:
        if name not in recorded_sha256:
            raise UserError(f"class {name!r}: {where} records no 3D model for it; evaluate the "
                            "run on the dataset it was trained for")
        sha256 = recorded_sha256[name]
        asset = registered.get(name)
        if asset is not None and asset.blend_file.is_file() and (
                file_sha256(asset.blend_file) == sha256):
            assets[name] = asset
            continue
        then = recorded.get(name, {})
        rendered_from = Path(then["blend_file"]) if then.get("blend_file") else None
        if (rendered_from is not None and rendered_from.is_file()
                and file_sha256(rendered_from) == sha256):
            # Rendered with another --assets-dir than this one: that file is still there.
            assets[name] = AssetClass(
                name, rendered_from, then.get("object_name", name), sha256, 1.0,
                (0.0, 0.0, 0.0), then.get("source", ""), then.get("origin") == "built-in")
            continue
        _missing_model(name, asset, sha256, where, assets_dir, then)
    return assets


def _missing_model(name: str, asset: AssetClass | None, sha256: str, where: str,
                   assets_dir: Path | None, then: dict) -> NoReturn:
    """The UserError for a class whose recorded model is nowhere to be found."""
    origin = then.get("origin")
    from_file = (f"; it was rendered from {then['blend_file']} ({origin}, source "
                 f"{then.get('source') or 'unknown'})" if then.get("blend_file") else "")
    if asset is None:
        raise UserError(
            f"class {name!r} is not a built-in class nor a user class in "
            f"{describe_user_assets_dir(assets_dir)}, so Fig. 5 cannot re-render it{from_file}; "
            f"add that model again (`mindseye assets add {name} FILE`) or set $MINDSEYE_ASSETS "
            "to the folder it was added to")
    if not asset.blend_file.is_file():
        raise UserError(
            f"class {name!r} has no model file ({asset.blend_file} is missing), so Fig. 5 cannot "
            f"re-render it{from_file}; restore it (`mindseye assets add {name} FILE --overwrite`"
            " for a user class, reinstalling mindseye or `mindseye assets build` for a built-in)")
    found = file_sha256(asset.blend_file)
    fix = ("restore that .blend file (or set $MINDSEYE_ASSETS to the folder holding it), or "
           "render the dataset again with this one")
    if asset.built_in:
        fix = ("evaluate with the mindseye version that rendered the dataset, or render the "
               "dataset again with this one")
    raise UserError(f"class {name!r}: {asset.blend_file} (sha256 {found[:12]}...) is not "
                    f"the model the dataset was rendered with ({where} records "
                    f"{sha256[:12]}...){from_file}; {fix}")


def predicted_angles(network: str, model: torch.nn.Module, images: np.ndarray,
                     targets: np.ndarray) -> np.ndarray | None:
    """The angles the network predicts for its (adversarial) decision; None if it has no such
    output (the plain direct network)."""
    device = next(model.parameters()).device
    batch = torch.as_tensor(images, dtype=torch.float32, device=device)[:, None]
    with torch.no_grad():
        if network == TRIPLE_STAGED:
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
