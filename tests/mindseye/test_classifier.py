"""`mindseye.load_classifier`: a run's network as a plain module on [0, 1] images."""

import numpy as np
import pytest
import torch
from art.attacks.evasion import ProjectedGradientDescent
from art.estimators.classification import PyTorchClassifier

import mindseye
from mindseye.core.errors import UserError
from mindseye.dataset.shards import load_split
from mindseye.models.runs import load_classifier as load_direct
from mindseye.models.runs import load_triple_staged
from mindseye.models.triple_staged import decide
from tests.fixtures.runs import untrained_run
from tests.fixtures.synthetic_shapes import CLASSES, write_synthetic_dataset


@pytest.fixture()
def run(tmp_path):
    return untrained_run(tmp_path / "run", CLASSES)


def test_argmax_is_the_networks_decision(run):
    images = torch.rand(6, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    direct = mindseye.load_classifier(run, "direct", device="cpu")
    assert isinstance(direct, torch.nn.Module) and not direct.training
    with torch.no_grad():
        ours = load_direct(run, "direct", CLASSES)(images * 255).argmax(1)
        assert torch.equal(direct(images).argmax(1), ours)
        model = load_triple_staged(run, CLASSES)
        for threshold in (0.2, 0.7):
            triple = mindseye.load_classifier(run, "triple-staged", threshold, device="cpu")
            scores = triple(images)
            assert scores.shape == (6, len(CLASSES))
            assert torch.equal(scores.argmax(1), decide(model.ratios(images * 255), threshold))


def test_a_library_attack_flips_it(run):
    model = mindseye.load_classifier(run, "direct", device="cpu")
    library = PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(),
                                input_shape=(1, 64, 64), nb_classes=len(CLASSES),
                                clip_values=(0.0, 1.0))
    images = np.random.default_rng(0).random((8, 1, 64, 64), dtype=np.float32)
    clean = library.predict(images).argmax(1)
    attack = ProjectedGradientDescent(library, eps=0.5, eps_step=0.05, max_iter=40,
                                      verbose=False)
    adversarial = attack.generate(images, y=clean)
    assert np.abs(adversarial - images).max() <= 0.5 + 1e-6
    assert (library.predict(adversarial).argmax(1) != clean).any()


@pytest.mark.parametrize(("network", "threshold", "words"), [
    ("triple-staged", None, "threshold"), ("triple-staged", 1.5, "threshold"),
    ("direct", 0.5, "no threshold"), ("resnet", None, "direct-param")])
def test_bad_arguments_say_what_to_do(run, network, threshold, words):
    with pytest.raises(UserError, match=words):
        mindseye.load_classifier(run, network, threshold, device="cpu")


def test_test_images_are_the_datasets_in_the_unit_range(tmp_path):
    data = write_synthetic_dataset(tmp_path / "data", per_class=2, test_per_class=3)
    images, labels = mindseye.test_images(data, count=5, device="cpu")
    test = load_split(data, "test", ("image", "label"))
    assert images.shape == (5, 1, 64, 64) and images.dtype == torch.float32
    assert torch.equal(images[:, 0] * 255, torch.as_tensor(test["image"][:5], dtype=torch.float32))
    assert labels.tolist() == test["label"][:5].tolist()


@pytest.mark.parametrize(("arguments", "words"), [
    ({"threshold": "0.45"}, "give a number"), ({"run_dir": None}, "run folder's path"),
    ({"threshold": 0.45, "clip": "sideways"}, "choose one of hard")])
def test_wrong_types_and_clips_say_what_to_do(run, arguments, words):
    given = {"run_dir": run, "network": "triple-staged", **arguments}
    with pytest.raises(UserError, match=words):
        mindseye.load_classifier(device="cpu", **given)


def test_the_clis_spelling_of_the_straight_through_clip_is_the_straight_through_clip(run):
    # Before, any clip that was not exactly a ClipMode silently became the hard clip.
    for clip in ("straight-through", "straight_through"):
        model = mindseye.load_classifier(run, "triple-staged", 0.45, device="cpu", clip=clip)
        assert model.victim.model.clip == "straight_through"
