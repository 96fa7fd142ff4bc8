"""The parallel render driver: plans shards, farms them out, writes them, resumes after a kill.

What each sample is (label, rotation, background crop) is `dataset.samples.draw_sample`'s
business; the driver only decides which samples go into which shard file.

Workers (joblib's local processes, or a Dask cluster through joblib's dask backend) each keep one
Blender child process alive across shards (`render.worker.shared_blender_process`) and return a
finished shard's arrays; only this process writes files, so a cluster needs no shared output
folder and a complete shard is never half-written. Local workers read the .blend files where the
driver found them; a cluster's workers get their bytes (`render.shipping`), so they need neither
the user's assets folder nor the same mindseye version's built-in files.
"""

import json
import os
import shutil
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import joblib
import numpy as np
from tqdm import tqdm

from mindseye.blender_assets.registry import AssetClass, builtin_classes, select_classes
from mindseye.core import __version__
from mindseye.core.constants import IMAGE_SIZE, NONE_CLASS, ROTATION_LIMIT
from mindseye.core.errors import UserError
from mindseye.core.files import file_sha256
from mindseye.core.parallel import parallel_backend
from mindseye.dataset.backgrounds import open_background_source
from mindseye.dataset.composite import composite, contrast_stretch, stretch_range
from mindseye.dataset.manifest import (
    Manifest,
    ShardRecord,
    SplitRecord,
    copy_description,
    manifest_path,
    read_manifest,
    write_manifest,
)
from mindseye.dataset.samples import SPLITS, draw_sample
from mindseye.dataset.shards import read_shard, write_shard
from mindseye.render.blender import EngineSettings
from mindseye.render.settings import RenderSettings
from mindseye.render.shipping import ModelRef, ModelShipment, model_refs
from mindseye.render.worker import end_with_parent, shared_blender_process


@dataclass(frozen=True)
class ShardPlan:
    """One shard: samples first_index .. first_index + count - 1 of a split."""

    split: str
    shard_index: int
    first_index: int
    count: int

    @property
    def file_name(self) -> str:
        return f"shard-{self.shard_index:05d}.h5"


def plan_shards(split: str, n_samples: int, shard_size: int) -> list[ShardPlan]:
    """The shards of a split of `n_samples` samples, `shard_size` each (the last may be short)."""
    return [
        ShardPlan(split, k, first, min(shard_size, n_samples - first))
        for k, first in enumerate(range(0, n_samples, shard_size))
    ]


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs to make one shard, as plain picklable data."""

    plan: ShardPlan
    seed: int
    models: tuple[ModelRef, ...]  # one per positive class, in label order
    backgrounds: str
    engine: EngineSettings
    stretch: tuple[tuple[float, float], ...] | None = None  # (low, high) per class, or none
    # The `mindseye render` process, and whether its workers are its own children (joblib's
    # processes): those end with it. A Dask worker's parent is the cluster's, not ours.
    driver_pid: int = 0
    local_workers: bool = False


def render_shard(
    job: ShardJob, shipment: ModelShipment | None = None
) -> tuple[ShardPlan, dict[str, np.ndarray]]:
    """Render, composite and return one shard's arrays (runs in a worker process).

    With a `shipment` (a cluster) each model is rendered from this machine's cached copy of the
    shipped bytes; without, from the driver's file.
    """
    plan = job.plan
    if job.local_workers and os.getpid() != job.driver_pid:
        end_with_parent()  # a local worker process: nothing of it outlives a killed job
    n_labels = len(job.models) + 1
    source = open_background_source(job.backgrounds, plan.split)
    samples = [
        draw_sample(job.seed, plan.split, index, n_labels, source)
        for index in range(plan.first_index, plan.first_index + plan.count)
    ]
    labels = np.array([sample.label for sample in samples], dtype=np.int64)
    rotations = np.stack([sample.rotation for sample in samples])  # NaN rows: the None class

    objects = np.zeros((plan.count, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    alphas = np.zeros((plan.count, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    blender = shared_blender_process(job.engine)
    for label, model in enumerate(job.models):
        rows = np.flatnonzero(labels == label)
        if rows.size:
            blend_file = model.blend_file if shipment is None else shipment.local_file(model)
            objects[rows], alphas[rows] = blender.render(
                blend_file, model.object_name, rotations[rows])
            if job.stretch is not None:
                objects[rows] = contrast_stretch(objects[rows], alphas[rows], *job.stretch[label])

    backgrounds = np.stack([sample.background for sample in samples])
    return plan, {
        "image": composite(objects, alphas, backgrounds),
        "label": labels,
        "params": rotations.astype(np.float32),
        "object": objects,
        "alpha": alphas,
        "background": np.array([sample.photo for sample in samples], dtype=np.int32),
    }


def _dataset_config(
    settings: RenderSettings, engine: EngineSettings, assets: dict[str, AssetClass]
) -> dict:
    """What makes two datasets the same: compared before resuming into an existing folder
    (all but `assets`, which says where each model came from: a folder may move).

    Returned as it reads back from manifest.json (tuples become lists), so the two compare equal.
    """
    render = {**asdict(settings), "classes": list(assets)}
    if not settings.contrast_stretch:  # as datasets made before the option record it
        del render["contrast_stretch"], render["stretch_calibration"]
    config = {
        "render": render,
        "engine": asdict(engine),
        "assets_sha256": {name: asset.sha256 for name, asset in assets.items()},
        "assets": {name: asset.record() for name, asset in assets.items()},
        "backgrounds": {
            split: open_background_source(settings.backgrounds, split).describe()
            for split in SPLITS
        },
    }
    return json.loads(json.dumps(config))


def _stretch_config(data_dir: Path, config: dict, settings: RenderSettings,
                    engine: EngineSettings, assets: dict[str, AssetClass]) -> dict:
    """Each class's stretch range as the manifest records it: taken from the folder's manifest
    when that dataset is this one (the ranges follow from what its identity already pins down:
    models, engine, seed, calibration size), else rendered anew (seconds per class)."""
    if manifest_path(data_dir).exists():
        recorded = read_manifest(data_dir).config
        if ("contrast_stretch" in recorded
                and _identity({**recorded, "contrast_stretch": None}) == _identity(
                    {**config, "contrast_stretch": None})):
            return recorded["contrast_stretch"]
    return {name: list(stretch) for name, stretch in
            zip(assets, stretch_ranges(settings, engine, assets), strict=True)}


def stretch_ranges(settings: RenderSettings, engine: EngineSettings,
                   assets: dict[str, AssetClass]) -> list[tuple[float, float]]:
    """Each class's grey range for the contrast stretch, from `settings.stretch_calibration`
    renders at rotations drawn from (seed, class index) alone, so the same dataset always gets
    the same."""
    blender = shared_blender_process(engine)
    ranges = []
    for label, asset in enumerate(assets.values()):
        rng = np.random.default_rng([settings.seed, len(SPLITS), label])
        rotations = rng.uniform(-ROTATION_LIMIT, ROTATION_LIMIT,
                                (settings.stretch_calibration, 3))
        objects, alphas = blender.render(str(asset.blend_file), asset.object_name, rotations)
        ranges.append(stretch_range(objects, alphas))
    return ranges


# Config entries that describe where a dataset's inputs were found rather than what it is.
_PROVENANCE = ("assets",)


def _identity(config: dict) -> dict:
    return {key: value for key, value in config.items() if key not in _PROVENANCE}


def _differences(recorded: dict, config: dict) -> list[str]:
    """What the asked-for config changes of the recorded one: `render.per_class (40 there, 12
    asked)` for a setting, the section's name alone where its values are long (models,
    backgrounds)."""
    found = []
    for key in sorted(_identity(config)):
        old, new = recorded.get(key), config[key]
        if old == new:
            continue
        if key in ("render", "engine") and isinstance(old, dict):
            found += [f"{key}.{name} ({old.get(name)!r} there, {new.get(name)!r} asked)"
                      for name in sorted(old.keys() | new.keys()) if old.get(name) != new.get(name)]
        else:
            found.append(key)
    return found


def _changed_model(data_dir: Path, recorded: dict, config: dict) -> str | None:
    """One line naming the first class whose model differs from the one the dataset recorded."""
    old, new = recorded.get("assets_sha256", {}), config["assets_sha256"]
    for name, sha256 in new.items():
        if name in old and old[name] != sha256:
            now = config["assets"][name]
            then = recorded.get("assets", {}).get(name, {}).get("blend_file", "a model")
            return (f"class {name!r}: {now['origin']} model {now['blend_file']} (sha256 "
                    f"{sha256[:12]}...) is not the one {data_dir} was rendered with ({then}, "
                    f"sha256 {old[name][:12]}...); restore that model, or pass --overwrite to "
                    "render the dataset again with this one")
    return None


def _prepare_folder(data_dir: Path, config: dict, classes: list[str], overwrite: bool) -> Manifest:
    """Create, resume into, or (with overwrite) clear the output folder; return its manifest."""
    manifest_file = manifest_path(data_dir)
    if manifest_file.exists():
        manifest = read_manifest(data_dir)
        if manifest.copied_from and not overwrite:
            raise UserError(f"{copy_description(data_dir, manifest)}; render into the dataset "
                            "it copies, or pass --overwrite to replace the copy")
        if _identity(manifest.config) == _identity(config) and not overwrite:
            if "assets" not in manifest.config:  # made before manifests recorded it
                manifest.config["assets"] = config["assets"]
                write_manifest(data_dir, manifest)
            return manifest
        if not overwrite:
            changed = _changed_model(data_dir, manifest.config, config)
            if changed:
                raise UserError(changed)
            raise UserError(
                f"{data_dir} holds a dataset made with other settings (differs in: "
                f"{', '.join(_differences(manifest.config, config))}); pass --overwrite to "
                "replace it or choose another folder"
            )
        for split in SPLITS:
            shutil.rmtree(data_dir / split, ignore_errors=True)
        manifest_file.unlink()
    elif data_dir.exists() and any(data_dir.iterdir()) and not overwrite:
        raise UserError(
            f"{data_dir} is not empty and holds no manifest.json; choose an empty or new folder "
            "(or pass --overwrite to render into it anyway)"
        )
    try:
        for split in SPLITS:
            (data_dir / split).mkdir(parents=True, exist_ok=True)
        splits = {split: SplitRecord(samples=0) for split in SPLITS}
        manifest = Manifest(classes=classes, config=config, splits=splits)
        write_manifest(data_dir, manifest)
    except OSError as error:
        raise UserError(f"cannot write to output folder {data_dir}: {error.strerror}") from None
    return manifest


def _adopt_finished_shards(data_dir: Path, manifest: Manifest, plans: list[ShardPlan]) -> None:
    """Record shards that were renamed into place just before a kill, drop stale partials."""
    for plan in plans:
        path = data_dir / plan.split / plan.file_name
        for partial in path.parent.glob(path.name + ".partial*"):
            partial.unlink()
        if path.exists() and not _has_shard(manifest, plan):
            arrays, _ = read_shard(path, fields=("label",))
            if len(arrays["label"]) == plan.count:
                manifest.add_shard(plan.split, _record(plan, file_sha256(path)))
            else:
                path.unlink()


def _record(plan: ShardPlan, sha256: str) -> ShardRecord:
    return ShardRecord(
        file=f"{plan.split}/{plan.file_name}",
        first_index=plan.first_index,
        count=plan.count,
        sha256=sha256,
    )


def _has_shard(manifest: Manifest, plan: ShardPlan) -> bool:
    file = f"{plan.split}/{plan.file_name}"
    return any(shard.file == file for shard in manifest.split(plan.split).shards)


def render_dataset(
    data_dir: Path,
    settings: RenderSettings,
    engine: EngineSettings | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    overwrite: bool = False,
    assets_dir: Path | None = None,
) -> Manifest:
    """Render (or finish rendering) a dataset into data_dir; return its manifest.

    The classes are `settings.classes` in that order, else the built-in ones: adding a class
    of one's own never changes what a preset renders (nor stops a render from resuming). User
    classes come from `assets_dir`, else $MINDSEYE_ASSETS, else the default folder
    (`blender_assets.registry.user_assets_dir`).
    """
    engine = engine or EngineSettings()
    names = settings.classes or tuple(builtin_classes())
    assets = {asset.name: asset for asset in select_classes(names, assets_dir)}
    config = _dataset_config(settings, engine, assets)
    if settings.contrast_stretch:
        config["contrast_stretch"] = _stretch_config(data_dir, config, settings, engine, assets)
    manifest = _prepare_folder(data_dir, config, [*assets, NONE_CLASS], overwrite)

    n_labels = len(assets) + 1
    plans = [
        plan
        for split in SPLITS
        for plan in plan_shards(split, settings.samples_in(split, n_labels), settings.shard_size)
    ]
    recorded = manifest.to_json()
    for split in SPLITS:
        manifest.split(split).samples = settings.samples_in(split, n_labels)
    _adopt_finished_shards(data_dir, manifest, plans)
    if manifest.to_json() != recorded:
        write_manifest(data_dir, manifest)
    todo = [plan for plan in plans if not _has_shard(manifest, plan)]
    if not todo:
        return manifest

    models = model_refs(assets.values())
    stretch = (tuple(tuple(config["contrast_stretch"][name]) for name in assets)
               if settings.contrast_stretch else None)
    jobs = [ShardJob(plan, settings.seed, models, settings.backgrounds, engine, stretch,
                     os.getpid(), local_workers=scheduler is None) for plan in todo]
    # A cluster's workers get the models' bytes, read here before any worker is contacted.
    shipment = ModelShipment.read(assets.values()) if scheduler is not None else None
    attrs = {
        "class_names": [*assets, NONE_CLASS],
        "seed": settings.seed,
        "blender_version": version("bpy"),
        "engine": asdict(engine),
        "assets_sha256": config["assets_sha256"],
        "code_version": __version__,
    }
    progress = tqdm(total=sum(p.count for p in todo), unit="sample", desc=f"render {data_dir}")
    with parallel_backend(scheduler, scatter=[shipment] if shipment else None):
        parallel = joblib.Parallel(n_jobs=workers, return_as="generator_unordered")
        tasks = (joblib.delayed(render_shard)(job, shipment) for job in jobs)
        for plan, arrays in parallel(tasks):
            shard_attrs = {
                **attrs,
                "split": plan.split,
                "shard_index": plan.shard_index,
                "first_index": plan.first_index,
                "backgrounds": config["backgrounds"][plan.split],
            }
            sha256 = write_shard(data_dir / plan.split / plan.file_name, arrays, shard_attrs)
            manifest.add_shard(plan.split, _record(plan, sha256))
            write_manifest(data_dir, manifest)
            progress.update(plan.count)
    progress.close()
    return manifest


def default_workers() -> int:
    return len(os.sched_getaffinity(0))
