"""The paper's attack run as the authors' code ran it: stop rule, loss, clip, step cap."""

import copy

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mindseye.attacks.experiments import record_table, variant_tables
from mindseye.attacks.ifgsm import ORIGINAL, OURS, IterativeFGSM, Variant, variant_of_table
from mindseye.attacks.victims import DirectVictim, euclidean_ratio_loss, ratio_loss
from mindseye.cli import main
from mindseye.models.estimator import clip_rotations
from tests.fixtures.runs import untrained_run
from tests.fixtures.synthetic_shapes import CLASSES
from tests.fixtures.tiny_networks import tiny_triple_staged


def positives(test: dict, count: int):
    rows = np.flatnonzero(test["label"] < 3)[:count]
    images = torch.as_tensor(test["image"][rows], dtype=torch.float32)[:, None]
    labels = torch.as_tensor(test["label"][rows])
    return images, labels


def test_any_other_stops_at_the_first_other_positive_never_later_than_the_target(
        trained_direct, shapes_test):
    # float64, so that both runs take bit-identical steps until the earlier one stops.
    victim = DirectVictim("direct", copy.deepcopy(trained_direct).double(), 3)
    images, labels = positives(shapes_test, 12)
    images = images.double()
    targets = (labels + 1) % 3
    ours = IterativeFGSM(victim, max_steps=300).run(images, targets, labels)
    theirs = IterativeFGSM(victim, max_steps=300, stop_at="any-other").run(images, targets,
                                                                           labels)
    assert theirs.success.all()
    assert (theirs.steps[:, 0] <= ours.steps[:, 0]).all()
    assert (theirs.steps[:, 0] < ours.steps[:, 0]).any() or (theirs.decisions == targets[:, None]
                                                             .numpy()).all()
    with torch.no_grad():
        reached = victim.model(torch.as_tensor(theirs.images[:, 0])[:, None]).argmax(1).numpy()
    assert (reached == theirs.decisions[:, 0]).all()
    assert ((reached != labels.numpy()) & (reached != 3)).all()
    # Where the rule stopped early, the decision it stopped at is another class than the target.
    early = theirs.steps[:, 0] < ours.steps[:, 0]
    assert (reached[early] != targets.numpy()[early]).all()
    # A false negative still has to reach None.
    to_none = torch.full_like(labels, 3)
    none = IterativeFGSM(victim, max_steps=300, stop_at="any-other").run(images, to_none, labels)
    assert (none.decisions[none.success] == 3).all()


def test_the_euclidean_loss_is_the_authors_formula():
    ratios = torch.tensor([[0.9, 0.2, 0.4], [0.1, 0.3, 0.8], [0.5, 0.5, 0.5]])
    targets = torch.tensor([1, 3, 0])  # class 1, None, class 0
    wanted = np.array([[0, 1, 0], [0, 0, 0], [1, 0, 0]], dtype=np.float32)
    direct = 0.5 * ((ratios.numpy() - wanted) ** 2).sum(axis=1)
    np.testing.assert_allclose(euclidean_ratio_loss(ratios, targets).numpy(), direct, rtol=1e-6)


def test_clip_none_passes_the_gradient_everywhere():
    angles = torch.tensor([[0.9, -0.7, 0.1], [0.2, 0.3, -0.4]], requires_grad=True)
    for mode, expected in (("none", torch.ones(2, 3)),
                           ("straight_through", torch.ones(2, 3)),
                           ("hard", torch.tensor([[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]))):
        (gradient,) = torch.autograd.grad(clip_rotations(angles, mode).sum(), angles)
        assert torch.equal(gradient, expected), mode
    assert torch.equal(clip_rotations(angles, "none"), angles)
    # On the assembled network: with every angle pushed out of range, the hard clip hides the
    # estimator from the attack and `none` does not.
    model = tiny_triple_staged()
    with torch.no_grad():
        model.estimator.estimate.bias += 5.0
    images = torch.full((1, 1, 64, 64), 100.0)
    gradients = {}
    for mode in ("hard", "none"):
        model.clip = mode
        parameters = list(model.estimator.parameters())
        loss = ratio_loss(model.ratios(images), torch.tensor([0])).sum()
        gradients[mode] = torch.autograd.grad(loss, parameters)[0].abs().sum().item()
    assert gradients["hard"] == 0 and gradients["none"] > 0


def test_a_variant_is_its_own_table_and_comes_back_from_the_name():
    assert OURS.table() == "ifgsm" and ORIGINAL.table() == "ifgsm+original"
    for variant in (ORIGINAL, Variant(stop_at="any-other"), Variant(loss="euclidean"),
                    Variant(clip="none"), Variant(clip="straight_through", max_steps=3000)):
        assert variant_of_table(variant.table()) == variant
    assert variant_of_table("ifgsm-bpda") is None


def test_original_on_the_command_line_records_its_variant(tmp_path, shapes_dataset):
    run = untrained_run(tmp_path / "run", CLASSES, ("estimator", "projector", "comparator"))
    args = ["attack", str(run), str(shapes_dataset), "--per-class", "3", "--networks",
            "triple-staged", "--thresholds", "0.01,0.2", "--device", "cpu"]
    assert CliRunner().invoke(main, [*args, "--max-steps", "3"]).exit_code == 0
    result = CliRunner().invoke(main, [*args, "--original", "--max-steps", "4"])
    assert result.exit_code == 0, result.output
    assert variant_tables(run) == ["ifgsm+stop-any-other+loss-euclidean+clip-none+cap-4"]
    records = record_table(run, variant_tables(run)[0]).read()
    attacked = [r for r in records if r["status"] == "attacked"]
    assert attacked and all(r["max_steps"] == 4 for r in records)
    assert all(r["variant"] == {"stop_at": "any-other", "loss": "euclidean", "clip": "none"}
               for r in attacked)
    none = len(CLASSES) - 1
    for record in attacked:
        if record["success"] and record["kind"] == "false-positive":
            assert record["decision"] not in (record["source_class"], none)
        if record["success"] and record["kind"] == "false-negative":
            assert record["decision"] == none
    # Ours on the same run keeps its table and its cap.
    assert {r["max_steps"] for r in record_table(run, "ifgsm").read()} == {3}


def test_clip_is_spelled_with_a_hyphen_on_the_command_line(tmp_path, shapes_dataset):
    run = untrained_run(tmp_path / "run", CLASSES, ("estimator", "projector", "comparator"))
    result = CliRunner().invoke(main, [
        "attack", str(run), str(shapes_dataset), "--per-class", "3", "--networks",
        "triple-staged", "--thresholds", "0.01,0.2", "--max-steps", "2", "--device", "cpu",
        "--clip", "straight-through"])
    assert result.exit_code == 0, result.output
    # --max-steps beside a variant option caps the variant's table alone.
    assert variant_tables(run) == ["ifgsm+clip-straight-through+cap-2"]
    records = record_table(run, variant_tables(run)[0]).read()
    assert {r["variant"]["clip"] for r in records if r["status"] == "attacked"} == {
        "straight_through"}


@pytest.mark.parametrize("option", [["--original"], ["--stop-at", "any-other"],
                                    ["--loss", "euclidean"], ["--clip", "none"]])
def test_variant_options_belong_to_ifgsm(tmp_path, shapes_dataset, option):
    run = untrained_run(tmp_path / "run", CLASSES, ("direct",))
    result = CliRunner().invoke(main, ["attack", str(run), str(shapes_dataset), "--attack",
                                       "pgd", *option])
    assert result.exit_code == 2 and "--attack ifgsm" in result.output
    assert len(result.output.strip().splitlines()) == 1
