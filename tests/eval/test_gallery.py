"""Fig. 5's drawing of the predicted angles: a real Blender re-render with the engine settings and
the .blend files the dataset was rendered with, or the run's projector where the dataset holds no
Blender render; a model that is missing or changed is refused, naming its class."""

from pathlib import Path

import numpy as np
import pytest

from mindseye.blender_assets.registry import AssetClass, write_classes
from mindseye.core.errors import UserError
from mindseye.core.files import file_sha256
from mindseye.dataset.backgrounds import open_background_source
from mindseye.dataset.manifest import read_manifest, write_manifest
from mindseye.dataset.samples import draw_sample
from mindseye.dataset.shards import load_split
from mindseye.eval.gallery import Overlay, pick_by_distortion
from mindseye.render.blender import EngineSettings
from tests.fixtures.runs import untrained_run
from tests.fixtures.synthetic_shapes import CLASSES, write_synthetic_dataset

# Not the defaults: a re-render with default settings would not match what this dataset holds.
RECORDED_ENGINE = EngineSettings(samples=4, ambient=0.5, diffuse=0.5)
SEED = 5


def test_gallery_rows_span_the_distortions_in_order():
    records = [{"distortion": value} for value in np.random.default_rng(0).uniform(0, 1, 50)]
    picked = [r["distortion"] for r in pick_by_distortion(records, rows=5)]
    everything = sorted(r["distortion"] for r in records)
    assert picked == sorted(picked) and picked[0] == everything[0]
    assert picked[-1] == everything[-1]


def test_a_dataset_without_a_blender_render_is_drawn_by_the_projector(tmp_path):
    data = write_synthetic_dataset(tmp_path / "data", per_class=1, test_per_class=1)
    run = untrained_run(tmp_path / "run", CLASSES, ("projector",))
    overlay = Overlay(run, CLASSES, "cpu", data_dir=data)
    drawing, alpha = overlay.draw(1, np.zeros((2, 3)))
    overlay.close()
    assert overlay.kind == "projector" and "not rendered by Blender" in overlay.reason
    assert drawing.shape == alpha.shape == (2, 64, 64) and drawing.dtype == np.uint8


@pytest.fixture(scope="module")
def engine_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in classes rendered with RECORDED_ENGINE: 4 train and 4 test samples."""
    from mindseye.render.driver import render_dataset
    from mindseye.render.settings import render_settings

    settings = render_settings("demo", per_class=1, test_per_class=1, shard_size=4, seed=SEED)
    data = tmp_path_factory.mktemp("engine") / "data"
    render_dataset(data, settings, engine=RECORDED_ENGINE)
    return data


@pytest.mark.blender
def test_the_drawing_re_renders_the_dataset_with_its_recorded_engine(tmp_path, engine_dataset):
    from mindseye.render.worker import BlenderProcess

    classes = read_manifest(engine_dataset).classes
    test = load_split(engine_dataset, "test")
    source = open_background_source("builtin", "test")
    samples = [draw_sample(SEED, "test", i, len(classes), source) for i in range(len(classes) - 1)]
    run = untrained_run(tmp_path / "run", classes, ("projector",))
    overlay = Overlay(run, classes, "cpu", data_dir=engine_dataset)
    try:
        drawn = [overlay.draw(sample.label, sample.rotation[None]) for sample in samples]
    finally:
        overlay.close()
    assert overlay.kind == "blender" and overlay.blender.settings == RECORDED_ENGINE
    for sample, (drawing, alpha) in zip(samples, drawn, strict=True):
        # Exactly the pixels the dataset holds for that sample.
        np.testing.assert_array_equal(drawing[0], test["object"][sample.index])
        np.testing.assert_array_equal(alpha[0], test["alpha"][sample.index])
    asset = overlay.assets[classes[0]]
    with BlenderProcess(EngineSettings()) as default_engine:
        default_drawing, _ = default_engine.render(asset.blend_file, asset.object_name,
                                                   samples[0].rotation[None])
    assert not np.array_equal(default_drawing[0], test["object"][0])  # so the engine mattered


def _manifest_copy(engine_dataset: Path, folder: Path, change) -> tuple[Path, list[str]]:
    """A dataset folder holding engine_dataset's manifest after `change(config, classes)`
    (the drawing reads no shard before it draws)."""
    manifest = read_manifest(engine_dataset)
    change(manifest.config, manifest.classes)
    folder.mkdir()
    write_manifest(folder, manifest)
    return folder, manifest.classes


@pytest.mark.blender
def test_a_changed_built_in_model_is_refused_naming_its_class(tmp_path, engine_dataset):
    def other_penguin(config, classes):
        config["assets_sha256"]["penguin"] = "ab" * 32  # rendered by another mindseye
    data, classes = _manifest_copy(engine_dataset, tmp_path / "data", other_penguin)
    with pytest.raises(UserError, match=r"class 'penguin': .*penguin.blend .*not the model the "
                                        r"dataset was rendered with .*abababababab.*mindseye "
                                        r"version that rendered"):
        Overlay(tmp_path / "run", classes, "cpu", data_dir=data)


def _fake_model(folder: Path, name: str) -> AssetClass:
    """A user class registered in `folder` (the drawing checks its bytes before it renders)."""
    folder.mkdir(parents=True, exist_ok=True)
    blend_file = folder / f"{name}.blend"
    blend_file.write_bytes(b"a user's model " + name.encode())
    asset = AssetClass(name, blend_file, name, file_sha256(blend_file), 1.0, (0.0, 0.0, 0.0),
                       f"{name}.glb")
    write_classes([asset], folder)
    return asset


def _with_user_class(asset: AssetClass):
    def change(config, classes):
        classes.insert(-1, asset.name)
        config["assets_sha256"][asset.name] = asset.sha256
        config.setdefault("assets", {})[asset.name] = asset.record()
    return change


@pytest.mark.blender
def test_a_user_class_is_found_where_it_was_registered_or_rendered_from(
    tmp_path, engine_dataset, monkeypatch
):
    walrus = _fake_model(tmp_path / "rendered-with", "walrus")
    data, classes = _manifest_copy(engine_dataset, tmp_path / "data", _with_user_class(walrus))
    # The folder it was rendered from, named by $MINDSEYE_ASSETS.
    monkeypatch.setenv("MINDSEYE_ASSETS", str(walrus.blend_file.parent))
    overlay = Overlay(tmp_path / "run", classes, "cpu", data_dir=data)
    overlay.close()
    assert overlay.kind == "blender" and overlay.assets["walrus"].blend_file == walrus.blend_file
    assert not overlay.assets["walrus"].built_in and overlay.assets["monkey"].built_in
    # Another user folder without it: the file the manifest records is still there.
    monkeypatch.setenv("MINDSEYE_ASSETS", str(tmp_path / "elsewhere"))
    overlay = Overlay(tmp_path / "run", classes, "cpu", data_dir=data)
    overlay.close()
    assert overlay.assets["walrus"].blend_file == walrus.blend_file
    assert overlay.assets["walrus"].object_name == "walrus"


@pytest.mark.blender
def test_a_missing_or_unregistered_model_is_refused_naming_its_class(
    tmp_path, engine_dataset, monkeypatch
):
    walrus = _fake_model(tmp_path / "assets", "walrus")
    data, classes = _manifest_copy(engine_dataset, tmp_path / "data", _with_user_class(walrus))
    monkeypatch.setenv("MINDSEYE_ASSETS", str(tmp_path / "assets"))
    walrus.blend_file.unlink()
    with pytest.raises(UserError, match=r"class 'walrus' has no model file \(.*walrus.blend is "
                                        r"missing\).*assets add walrus FILE --overwrite"):
        Overlay(tmp_path / "run", classes, "cpu", data_dir=data)
    monkeypatch.setenv("MINDSEYE_ASSETS", str(tmp_path / "elsewhere"))
    with pytest.raises(UserError, match=r"class 'walrus' is not a built-in class nor a user class "
                                        r"in .*elsewhere.*rendered from .*walrus.blend \(user, "
                                        r"source walrus.glb\).*assets add walrus FILE"):
        Overlay(tmp_path / "run", classes, "cpu", data_dir=data)
    # A model of that name that is not the one rendered: refused, not drawn.
    _fake_model(tmp_path / "elsewhere", "walrus").blend_file.write_bytes(b"another walrus")
    with pytest.raises(UserError, match=r"class 'walrus': .*elsewhere/walrus.blend .*not the "
                                        r"model the dataset was rendered with.*restore"):
        Overlay(tmp_path / "run", classes, "cpu", data_dir=data)


@pytest.mark.blender
def test_engine_settings_this_version_does_not_know_are_refused(tmp_path, engine_dataset):
    manifest = read_manifest(engine_dataset)
    manifest.config["engine"]["warp_drive"] = 9  # a setting from some other mindseye
    data = tmp_path / "data"
    data.mkdir()
    write_manifest(data, manifest)
    with pytest.raises(UserError, match=r"manifest.json records engine settings .*warp_drive"):
        Overlay(tmp_path / "run", manifest.classes, "cpu", data_dir=data)
