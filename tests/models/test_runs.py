"""Run folders: what a trained network leaves behind, and loading it back."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mindseye.core.constants import TRAINED_NETWORKS
from mindseye.core.errors import UserError
from mindseye.core.files import write_json_atomic
from mindseye.dataset.manifest import read_manifest
from mindseye.models.jobs import train_network
from mindseye.models.runs import (
    CONFIG,
    FORMAT_VERSION,
    WEIGHTS,
    build_network,
    load_classifier,
    load_network,
    native_bfloat16,
    read_tensors,
    save_atomically,
)

CLASSES = ["monkey", "penguin", "aeroplane", "none"]


def _inputs(network: str) -> tuple:
    torch.manual_seed(1)
    images, classes = torch.rand(2, 1, 64, 64) * 255, torch.tensor([0, 2])
    if network == "estimator":
        return images, classes
    if network == "projector":
        return torch.rand(2, 3) - 0.5, classes
    if network == "comparator":
        return images, images.flip(0), torch.rand(2, 1, 64, 64)
    return (images,)


@pytest.mark.parametrize("network", TRAINED_NETWORKS)
def test_saved_network_loads_back_with_identical_outputs(network: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_network(network, len(CLASSES) - 1).eval()
    save_atomically(model.state_dict(), tmp_path / WEIGHTS)
    write_json_atomic(tmp_path / CONFIG, {"format_version": FORMAT_VERSION, "network": network,
                                   "classes": CLASSES})
    loaded = load_network(tmp_path, network, CLASSES)
    with torch.no_grad():
        expected, got = model(*_inputs(network)), loaded(*_inputs(network))
    for a, b in zip(expected if isinstance(expected, tuple) else (expected,),
                    got if isinstance(got, tuple) else (got,), strict=True):
        assert torch.equal(a, b)


@pytest.mark.blender
def test_trained_run_folder_holds_weights_config_metrics_and_evaluation(
    model_dataset: Path, tmp_path: Path
) -> None:
    results = train_network("direct-param", model_dataset, tmp_path, steps=3, batch_size=8,
                            device="cpu", show_progress=False, log_every=1)
    folder = tmp_path / "direct-param"
    manifest = read_manifest(model_dataset)
    classes = manifest.classes
    config = json.loads((folder / CONFIG).read_text())
    assert config["network"] == "direct-param" and config["classes"] == classes
    assert config["schedule"]["steps"] == 3 and len(config["data_fingerprint"]) == 64
    lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 3]
    assert all(line["loss"] > 0 for line in lines)
    assert json.loads((folder / "eval.json").read_text()) == results
    confusion = results["confusion"]
    assert len(confusion) == len(classes)
    assert sum(map(sum, confusion)) == manifest.split("test").samples
    classifier = load_classifier(tmp_path, "direct-param", classes)
    assert classifier(torch.zeros(5, 1, 64, 64)).shape == (5, len(classes))

    # Loading with the wrong type, class list or a newer format fails with one clear line.
    with pytest.raises(UserError, match="not 'direct'"):
        load_network(folder, "direct")
    with pytest.raises(UserError, match="trained for classes"):
        load_classifier(tmp_path, "direct-param", ["a", "b", "none"])
    write_json_atomic(folder / CONFIG, {**config, "format_version": FORMAT_VERSION + 1})
    with pytest.raises(UserError, match="newer"):
        load_classifier(tmp_path, "direct-param")
    write_json_atomic(folder / CONFIG, config)

    # Training again into the same folder with other settings is refused, not mixed.
    with pytest.raises(UserError, match="other schedule"):
        train_network("direct-param", model_dataset, tmp_path, steps=4, batch_size=8,
                      device="cpu", show_progress=False, log_every=1)

    # A run begun by an older mindseye recorded a sha256 over the shard files' sha256s: on
    # these very files it is carried over to the samples' digest; on other data it is refused.
    files = hashlib.sha256()
    for split in sorted(manifest.splits):
        for shard in manifest.splits[split].shards:
            files.update(f"{split}/{shard.file}:{shard.sha256}\n".encode())
    for recorded, resumes in ((files.hexdigest(), True), ("0" * 64, False)):
        write_json_atomic(folder / CONFIG, {**config, "data_fingerprint": recorded})
        if resumes:
            train_network("direct-param", model_dataset, tmp_path, steps=3, batch_size=8,
                          device="cpu", show_progress=False, log_every=1)
            assert json.loads((folder / CONFIG).read_text()) == config
        else:
            with pytest.raises(UserError, match="other data_fingerprint"):
                train_network("direct-param", model_dataset, tmp_path, steps=3, batch_size=8,
                              device="cpu", show_progress=False, log_every=1)


class NotATensor:
    """Stands for whatever a foreign checkpoint might unpickle into (code, in general)."""


def test_checkpoints_load_tensors_only_and_a_broken_one_is_one_line(tmp_path):
    path = tmp_path / "checkpoint.pt"
    state = {"step": 3, "network": build_network("direct", 3).state_dict(),
             "rng": {"python": (3, tuple(range(625)), None)}}
    save_atomically(state, path)
    assert read_tensors(path)["step"] == 3
    path.write_bytes(path.read_bytes()[:1000])  # cut short
    with pytest.raises(UserError, match=r"checkpoint.pt cannot be read.*delete it"):
        read_tensors(path, remedy="delete it")
    torch.save({"step": 3, "payload": NotATensor()}, path)  # would run code when unpickled
    with pytest.raises(UserError, match="checkpoint.pt cannot be read"):
        read_tensors(path)


@pytest.mark.blender
def test_the_paper_preset_builds_the_authors_rounding_and_loads_it_back(
    model_dataset: Path, tmp_path: Path
) -> None:
    train_network("direct", model_dataset, tmp_path, preset="paper", steps=1, batch_size=4,
                  device="cpu", show_progress=False)
    config = json.loads((tmp_path / "direct" / CONFIG).read_text())
    assert config["ceil_pooling"] is True and config["authors_parameters"] is True
    model = load_classifier(tmp_path, "direct", read_manifest(model_dataset).classes)
    assert model.trunk.fully_connected[1].in_features == 64 * 7 * 7
    assert model(torch.zeros(2, 1, 64, 64)).shape == (2, len(read_manifest(model_dataset).classes))
    # The stages too: the comparator trains on the authors' patch batches at their rates.
    for network in ("estimator", "projector", "comparator"):
        train_network(network, model_dataset, tmp_path, preset="paper", steps=2, batch_size=8,
                      device="cpu", show_progress=False)
    comparator = json.loads((tmp_path / "comparator" / CONFIG).read_text())
    assert comparator["schedule"]["patch_stride"] == 6
    assert comparator["schedule"]["batch_size"] == 8
    losses = [json.loads(line)["loss"]
              for line in (tmp_path / "comparator" / "metrics.jsonl").read_text().splitlines()]
    assert losses and all(np.isfinite(losses))


def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path) -> None:
    avx2 = tmp_path / "avx2"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")
    sapphire = tmp_path / "sapphire"
    sapphire.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16\n")
    cpu = torch.device("cpu")
    assert native_bfloat16(cpu, avx2) is False
    assert native_bfloat16(cpu, sapphire) is True
    assert native_bfloat16(cpu, tmp_path / "not-linux") is None
