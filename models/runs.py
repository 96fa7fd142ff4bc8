"""Run folders: `RUN/<network>/` holds weights.pt, config.json, metrics.jsonl and eval.json.

config.json says everything needed to rebuild a network (type, classes, preset, schedule, seed,
the data's fingerprint, the format version), so `load_classifier` needs nothing but the folder,
and a run resumed or loaded against other data, classes or code fails with one clear line.
"""

import hashlib
import pickle
from pathlib import Path

import torch
from torch import nn

from mindseye.core.constants import DIRECT_NETWORKS, NETWORK_CONFIG_FILE, STAGES, TRIPLE_STAGED
from mindseye.core.errors import UserError
from mindseye.core.files import atomic_path, file_sha256, read_json, write_json_atomic
from mindseye.models.comparator import Comparator
from mindseye.models.direct import Direct, DirectParam
from mindseye.models.estimator import ClipMode, Estimator
from mindseye.models.projector import Projector
from mindseye.models.triple_staged import TripleStaged

# Bump when saved weights or config.json change meaning; newer runs are refused.
FORMAT_VERSION = 1
WEIGHTS, CHECKPOINT, CONFIG = "weights.pt", "checkpoint.pt", NETWORK_CONFIG_FILE
METRICS, EVALUATION = "metrics.jsonl", "eval.json"

# The config keys that must agree for a run folder to be resumed.
IDENTITY_KEYS = ("network", "classes", "preset", "schedule", "seed", "data_fingerprint", "stages",
                 "adversarial")


def build_network(network: str, num_classes: int, fast_lrn: bool = True,
                  ceil_pooling: bool = False) -> nn.Module:
    """A freshly initialised network for K positive classes, in channels_last memory format:
    on CPU (oneDNN) that makes training 1.3x and the triple-staged attack step 1.7x faster
    than the default layout, with the same values up to float rounding. `ceil_pooling`: the
    AlexNet trunk's pooling rounds up, as in the authors' Caffe networks (models/alexnet.py)."""
    if network == "direct":
        model: nn.Module = Direct(num_classes, fast_lrn, ceil_pooling)
    elif network == "direct-param":
        model = DirectParam(num_classes, fast_lrn, ceil_pooling)
    elif network == "estimator":
        model = Estimator(num_classes, fast_lrn, ceil_pooling)
    elif network == "projector":
        model = Projector(num_classes)
    elif network == "comparator":
        model = Comparator()
    else:
        raise ValueError(f"unknown network {network!r}")
    return model.to(memory_format=torch.channels_last)


def weights_fingerprint(run_dir: Path, network: str) -> str:
    """sha256 of what a classifier computes with: its weights file, or for the triple-staged
    network its three stages' (what attack records and reports are tied to)."""
    parts = STAGES if network == TRIPLE_STAGED else (network,)
    digest = hashlib.sha256()
    for part in parts:
        path = Path(run_dir) / part / WEIGHTS
        if not path.is_file():
            raise UserError(f"{path} not found; train it with `mindseye train all` (or "
                            f"`mindseye train {part}`)")
        digest.update(f"{part}:{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when present, else CPU; asking for absent CUDA is the user's mistake."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA device is available here; use --device cpu")
        return torch.device("cuda")
    raise UserError(f"--device {name!r}: unknown device; choose auto, cpu or cuda")


# CPU flags of native bfloat16 arithmetic (Linux /proc/cpuinfo): without them torch emulates
# it, and a bfloat16 pass is several times slower than a float32 one (about 10x measured on a
# Zen 3 EPYC, AVX2 only, against 2.3x faster on a CPU with AVX512-BF16).
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def native_bfloat16(device: torch.device, cpuinfo: Path = Path("/proc/cpuinfo")) -> bool | None:
    """Whether `device` computes in bfloat16 natively: a CUDA device that supports it, or a
    CPU whose flags name it; None where the CPU's flags cannot be read (not Linux)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return None
    return any(flag in flags for flag in BFLOAT16_CPU_FLAGS)


def read_tensors(path: Path, device: str | torch.device = "cpu", remedy: str = "") -> dict:
    """A weights or checkpoint file written by `save_atomically`, loaded safely: tensors,
    numbers, strings and containers only (weights_only), so a file from a run folder someone
    else made cannot run code. A file that cannot be read (cut short by an interrupted copy,
    say) is the user's to fix: one line naming it and what to do (`remedy`)."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path} cannot be read ({reason[:120]}); {remedy or 'restore it'}"
                        ) from None


def save_atomically(obj: object, path: Path) -> None:
    """torch.save to `path.partial`, fsync, rename: a kill leaves the old file or the new one."""
    with atomic_path(path) as partial:
        torch.save(obj, partial)


def prepare_folder(folder: Path, config: dict) -> None:
    """Create `folder` with `config`, or check that the run already there is the same run."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG
    if path.is_file():
        existing = read_config(folder, config["network"])
        differing = [key for key in IDENTITY_KEYS if existing.get(key) != config.get(key)]
        if differing:
            raise UserError(f"{folder} holds a run with other {', '.join(differing)}; use "
                            "another --out or delete that folder to start over")
        return
    write_json_atomic(path, config)


def read_config(folder: Path, network: str, classes: list[str] | None = None) -> dict:
    """A network folder's config.json, checked against the network type and class list wanted."""
    path = Path(folder) / CONFIG
    if not path.is_file():
        raise UserError(f"{path} not found: train it first with `mindseye train {network}`")
    config = read_json(path, f"delete {folder} and train again")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise UserError(f"{path}: format version {config.get('format_version')} is newer than "
                        f"this mindseye reads ({FORMAT_VERSION}); update mindseye")
    if config.get("network") != network:
        raise UserError(f"{path}: holds a {config.get('network')!r} network, not {network!r}")
    if classes is not None and config.get("classes") != list(classes):
        raise UserError(f"{path}: trained for classes {config.get('classes')}, the data has "
                        f"{list(classes)}; train on this dataset first")
    return config


def load_network(
    folder: Path, network: str, classes: list[str] | None = None, device: str = "cpu"
) -> nn.Module:
    """A trained network from its folder, in eval mode on `device`."""
    config = read_config(folder, network, classes)
    weights = Path(folder) / WEIGHTS
    if not weights.is_file():
        raise UserError(f"{weights} not found: training of {folder} did not finish; run "
                        f"`mindseye train {network}` again to resume it")
    model = build_network(network, len(config["classes"]) - 1,
                          ceil_pooling=config.get("ceil_pooling", False))
    remedy = (f"copy it again from where the run was made, or delete {folder} and run "
              f"`mindseye train {network}` to train it again")
    try:
        model.load_state_dict(read_tensors(weights, device, remedy))
    except RuntimeError as error:  # the tensors are not this network's (names or shapes)
        raise UserError(f"{weights} does not hold a {network} network for "
                        f"{len(config['classes'])} labels ({str(error).splitlines()[0]}); "
                        f"{remedy}") from None
    return model.to(device).eval()


def load_classifier(
    run_dir: Path, name: str, classes: list[str] | None = None, device: str = "cpu"
) -> nn.Module:
    """`direct` or `direct-param` from RUN: images (B,1,64,64) on 0..255 -> logits (B, K+1)."""
    if name not in DIRECT_NETWORKS:
        raise UserError(f"{name!r} is not a direct classifier; use load_triple_staged")
    return load_network(Path(run_dir) / name, name, classes, device)


def load_triple_staged(
    run_dir: Path, classes: list[str] | None = None, clip: ClipMode = "hard",
    device: str = "cpu",
) -> TripleStaged:
    """The triple-staged network assembled from RUN/{estimator,projector,comparator}."""
    run_dir = Path(run_dir)
    stages = {name: load_network(run_dir / name, name, classes, device)
              for name in STAGES}
    stage_classes = {name: read_config(run_dir / name, name)["classes"] for name in stages}
    if len({tuple(c) for c in stage_classes.values()}) > 1:
        raise UserError(f"{run_dir}: the stages were trained on different classes "
                        f"{stage_classes}; train them again on one dataset")
    return TripleStaged(stages["estimator"], stages["projector"], stages["comparator"], clip)
