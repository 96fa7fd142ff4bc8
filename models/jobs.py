"""What differs per network: its batches, its loss, its evaluation; and `train_network`, which
runs one network from data folder to trained, evaluated run folder (resuming what was begun)."""

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from mindseye.core.constants import DIRECT_NETWORKS, STAGES, TRAINED_NETWORKS
from mindseye.core.errors import UserError
from mindseye.core.files import file_sha256, write_json_atomic
from mindseye.dataset.fingerprint import data_fingerprint
from mindseye.dataset.manifest import copy_description, read_manifest
from mindseye.dataset.shards import load_split
from mindseye.dataset.stage3 import comparator_pairs, load_pairs, save_pairs
from mindseye.dataset.torch_data import (
    BatchOrder,
    InMemorySplit,
    PatchBatches,
    held_out_samples,
    training_batches,
)
from mindseye.models import evaluation
from mindseye.models.adversarial import (
    ADVERSARIAL_INPUTS,
    COLLAPSE,
    FGSM,
    WATCH_IMAGES,
    AdversarialTraining,
    adversarial_loss,
    robust_accuracy,
)
from mindseye.models.comparator import MIN_PATCH_COVERAGE, PATCH, masked_patch_loss
from mindseye.models.initialisation import initialise_like_authors, parameter_groups
from mindseye.models.runs import (
    CONFIG,
    EVALUATION,
    FORMAT_VERSION,
    WEIGHTS,
    build_network,
    load_network,
    load_triple_staged,
    prepare_folder,
    resolve_device,
)
from mindseye.models.settings import AUTHORS_PARAMETERS, CEIL_POOLING, schedule_for
from mindseye.models.training import Job, seed_everything, train

# Projector loss weights (docs/design.md): squared error on the 0..255 drawing, cross-entropy
# on alpha.
IMAGE_LOSS_WEIGHT = 0.01


def direct_loss(network: nn.Module, batch: dict) -> torch.Tensor:
    return nn.functional.cross_entropy(network(batch["image"]), batch["label"])


def euclidean_loss(
    predicted: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Caffe's EuclideanLoss, sum of squares / 2 per sample, averaged over the masked samples."""
    squares = ((predicted - target.nan_to_num()) ** 2).sum(dim=1) / 2
    return (squares * mask).sum() / mask.sum().clamp_min(1)


def direct_param_loss(network: nn.Module, batch: dict) -> torch.Tensor:
    logits, params = network.logits_and_params(batch["image"])
    positive = (batch["label"] < network.num_classes).to(params.dtype)
    return (nn.functional.cross_entropy(logits, batch["label"])
            + euclidean_loss(params, batch["params"], positive))


def estimator_loss(network: nn.Module, batch: dict) -> torch.Tensor:
    # Trained on positives only, on the unclipped output (the clip would stop the gradient).
    params = network.unclipped(batch["image"], batch["label"])
    return euclidean_loss(params, batch["params"], torch.ones_like(params[:, 0]))


def projector_loss(network: nn.Module, batch: dict) -> torch.Tensor:
    drawing, alpha_logits = network(batch["params"], batch["label"])
    return (IMAGE_LOSS_WEIGHT * nn.functional.mse_loss(drawing, batch["object"])
            + nn.functional.binary_cross_entropy_with_logits(alpha_logits, batch["alpha"]))


def comparator_loss(network: nn.Module, batch: dict) -> torch.Tensor:
    logits = network(batch["query"], batch["drawing"], batch["alpha"])
    return masked_patch_loss(logits, batch["alpha"], batch["same"])


LOSSES = {"direct": direct_loss, "direct-param": direct_param_loss,
          "estimator": estimator_loss, "projector": projector_loss,
          "comparator": comparator_loss}
TRAIN_FIELDS = {"direct": ("image", "label"), "direct-param": ("image", "label", "params"),
                "estimator": ("image", "label", "params"),
                "projector": ("params", "label", "object", "alpha")}
POSITIVES_ONLY = ("estimator", "projector")


def check_data(data_dir: Path) -> list[str]:
    """The dataset's classes, after checking it has finished train and test splits."""
    manifest = read_manifest(data_dir)
    if manifest.copied_from:
        raise UserError(f"{copy_description(data_dir, manifest)}, for attacks and reports; "
                        "train on the dataset it copies")
    for split in ("train", "test"):
        if split not in manifest.splits or not manifest.splits[split].shards:
            raise UserError(f"{data_dir}: the dataset has no {split} split; render it with "
                            f"`mindseye render {data_dir}`")
        if manifest.splits[split].finished_samples < manifest.splits[split].samples:
            raise UserError(f"{data_dir}: the {split} split is not finished rendering; run "
                            f"`mindseye render {data_dir}` again to complete it")
    if len(manifest.classes) < 2:
        raise UserError(f"{data_dir}: the manifest lists no positive class")
    return manifest.classes


def _carry_over_file_fingerprint(folder: Path, data_dir: Path, fingerprint: str) -> None:
    """A run begun before runs fingerprinted the samples recorded a sha256 over the manifest's
    shard-file sha256s. Where that is this data's, the run saw these very files: re-stamp it
    with the samples' digest, so that it resumes instead of being refused."""
    path = folder / CONFIG
    if not path.is_file():
        return
    config = json.loads(path.read_text())
    manifest = read_manifest(data_dir)
    files = hashlib.sha256()
    for split in sorted(manifest.splits):
        for shard in manifest.splits[split].shards:
            files.update(f"{split}/{shard.file}:{shard.sha256}\n".encode())
    if config.get("data_fingerprint") == files.hexdigest():
        write_json_atomic(path, {**config, "data_fingerprint": fingerprint})


def _stage_weights(run_dir: Path, network: str) -> dict:
    """The comparator is trained on the outputs of the estimator and projector: record which."""
    if network != "comparator":
        return {}
    stages = {}
    for stage in STAGES[:2]:
        weights = run_dir / stage / WEIGHTS
        if not weights.is_file():
            raise UserError(f"{weights} not found: the comparator needs a trained {stage}; run "
                            f"`mindseye train {stage}` first (or `mindseye train all`)")
        stages[stage] = file_sha256(weights)
    return stages


def _comparator_pairs(run_dir: Path, data_dir: Path, split: str, classes: list[str],
                      seed: int, device: torch.device) -> dict:
    """Same/different pairs from the trained first two stages; the train pairs are cached."""
    cache = run_dir / "comparator" / f"pairs-{split}.h5"
    if cache.is_file():
        return load_pairs(cache)
    estimator = load_network(run_dir / "estimator", "estimator", classes, str(device))
    projector = load_network(run_dir / "projector", "projector", classes, str(device))
    arrays = load_split(data_dir, split, ("image", "label"))
    pairs = comparator_pairs(estimator, projector, arrays["image"], arrays["label"],
                             len(classes) - 1, seed, device, progress=f"pairs ({split})")
    if split == "train":
        save_pairs(cache, pairs)
    return pairs


def train_network(
    network: str,
    data_dir: Path,
    run_dir: Path,
    preset: str = "demo",
    steps: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    device: str = "auto",
    show_progress: bool = True,
    progress_row: int = 0,
    adversarial: AdversarialTraining | None = None,
    **schedule_overrides: int,
) -> dict:
    """Train (or resume, or skip if done) one network, then evaluate it on the test split.

    Returns the evaluation, also written to RUN/<network>/eval.json. `progress_row` is the
    terminal row of its progress bar; `adversarial` trains on adversarial examples
    (models/adversarial.py; the projector, which never sees an image, trains as before);
    `schedule_overrides` (e.g. checkpoint_every) are for tests and benchmarks.
    """
    if network not in TRAINED_NETWORKS:
        raise UserError(f"unknown network {network!r}; choose one of "
                        f"{', '.join(TRAINED_NETWORKS)}, all")
    data_dir, run_dir = Path(data_dir), Path(run_dir)
    classes = check_data(data_dir)
    schedule = replace(schedule_for(preset, network, steps, batch_size), **schedule_overrides)
    torch_device = resolve_device(device)
    k = len(classes) - 1
    folder = run_dir / network
    config = {
        "format_version": FORMAT_VERSION, "network": network, "classes": classes,
        "num_classes": k, "input": "float images (B,1,64,64) on 0..255",
        "preset": preset, "schedule": schedule.to_json(), "seed": seed,
        "data_fingerprint": data_fingerprint(data_dir),
        "stages": _stage_weights(run_dir, network),
        # Only where set: configs written before the option keep reading as the same run.
        **({"ceil_pooling": True} if CEIL_POOLING[preset] else {}),
        **({"authors_parameters": True} if AUTHORS_PARAMETERS[preset] else {}),
        **({"adversarial": adversarial.to_json()}
           if adversarial and network in ADVERSARIAL_INPUTS else {}),
    }
    _carry_over_file_fingerprint(folder, data_dir, config["data_fingerprint"])
    prepare_folder(folder, config)

    if not (folder / WEIGHTS).is_file():
        seed_everything(seed)
        model = build_network(network, k, ceil_pooling=CEIL_POOLING[preset]).to(torch_device)
        groups = None
        if AUTHORS_PARAMETERS[preset]:
            initialise_like_authors(network, model)
            groups = parameter_groups(network, model, schedule.lr, schedule.weight_decay)
        if network == "comparator":
            pairs = _comparator_pairs(run_dir, data_dir, "train", classes, seed, torch_device)
            if schedule.patch_stride:
                batches = PatchBatches(pairs, PATCH, schedule.patch_stride, MIN_PATCH_COVERAGE,
                                       schedule.batch_size, seed, torch_device)
            else:
                batches = InMemorySplit(pairs, BatchOrder(len(pairs["same"]),
                                                          schedule.batch_size, seed),
                                        torch_device)
        else:
            held = held_out_count(data_dir) if watches(adversarial, network) else 0
            batches = training_batches(data_dir, TRAIN_FIELDS[network], schedule.batch_size,
                                       seed, torch_device,
                                       k if network in POSITIVES_ONLY else None, hold_out=held)
        job = Job(network, model, batches, LOSSES[network], schedule, groups)
        if adversarial and network in ADVERSARIAL_INPUTS:
            job = replace(job, loss=adversarial_loss(LOSSES[network], network, adversarial))
            if watches(adversarial, network):
                held_out = held_out_samples(data_dir, ("image", "label"), held, torch_device)
                job = replace(job, collapse=COLLAPSE, watch=lambda net: robust_accuracy(
                    net, held_out["image"], held_out["label"], adversarial.epsilon))
        train(job, folder, show_progress, progress_row)

    if (folder / EVALUATION).is_file():
        return evaluation_summary(folder)
    results = evaluate(network, data_dir, run_dir, classes, seed, torch_device)
    write_json_atomic(folder / EVALUATION, results)
    return results


def held_out_count(data_dir: Path) -> int:
    """How many of the train split's last samples fast AT's guard holds out: WATCH_IMAGES, or
    an eighth of a smaller split."""
    return min(WATCH_IMAGES, read_manifest(data_dir).split("train").samples // 8)


def watches(adversarial: AdversarialTraining | None, network: str) -> bool:
    """Whether fast adversarial training's guard watches this network: a direct network
    trained with FGSM (for the stages, accuracy under PGD is not defined)."""
    return bool(adversarial and adversarial.method == FGSM and network in DIRECT_NETWORKS)


def evaluate(network: str, data_dir: Path, run_dir: Path, classes: list[str], seed: int,
             device: torch.device) -> dict:
    """The test-split evaluation of a trained network (and of the triple-staged network once
    the comparator is trained)."""
    model = load_network(run_dir / network, network, classes, str(device))
    test = load_split(data_dir, "test")
    if network in DIRECT_NETWORKS:
        return evaluation.evaluate_direct(model, test, classes, device)
    if network == "estimator":
        return evaluation.evaluate_estimator(model, test, classes, device)
    if network == "projector":
        evaluation.save_drawings(model, test, classes, run_dir / network / "drawings.png",
                                 device)
        return evaluation.evaluate_projector(model, test, classes, device)
    pairs = _comparator_pairs(run_dir, data_dir, "test", classes, seed + 1, device)
    results = evaluation.evaluate_comparator(model, pairs, device)
    triple = load_triple_staged(run_dir, classes, device=str(device))
    results["triple_staged"] = evaluation.evaluate_triple_staged(triple, test, classes, device)
    return results


def evaluation_summary(folder: Path) -> dict:
    return json.loads((folder / EVALUATION).read_text())


def describe(network: str, results: dict) -> str:
    """One line of the headline numbers, for the terminal."""
    if network in DIRECT_NETWORKS:
        return f"{network}: test error {results['error']:.2%}"
    if network == "estimator":
        per_class = ", ".join(f"{c} {v:.1f}" for c, v in results["per_class_deg"].items())
        return (f"estimator: mean abs angle error {results['mean_abs_error_deg']:.2f} deg "
                f"({per_class})")
    if network == "projector":
        return f"projector: PSNR {results['psnr_db']:.1f} dB, alpha IoU {results['alpha_iou']:.3f}"
    errors = ", ".join(f"@{t} {e:.2%}" for t, e in results["triple_staged"]["error"].items())
    return f"comparator: AUC {results['auc']:.3f}; triple-staged test error {errors}"

