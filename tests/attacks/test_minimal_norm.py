"""Fast Minimum-Norm (foolbox): the smallest perturbation to the target, on real networks."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from mindseye.attacks.experiments import record_table as table
from mindseye.attacks.minimal_norm import MinimalNorm
from mindseye.attacks.registry import get_attack
from mindseye.attacks.settings import AttackSettings
from mindseye.attacks.sources import select_per_class
from mindseye.attacks.targeted import run_targeted
from mindseye.attacks.victims import DirectVictim, TripleStagedVictim, UnitRangeClassifier
from mindseye.core.constants import NONE_TO_CLASS
from tests.fixtures.tiny_networks import tiny_triple_staged

SETTINGS = AttackSettings(max_steps=300, per_class=3, extra_per_class=3, chunk=3, fmn_steps=60)


def paired(records_a: list[dict], records_b: list[dict]) -> list[tuple[dict, dict]]:
    key = lambda r: (r["network"], r["threshold"], r["source"], r["target"])  # noqa: E731
    other = {key(r): r for r in records_b if r.get("success")}
    return [(r, other[key(r)]) for r in records_a if r.get("success") and key(r) in other]


def test_fmn_needs_no_more_l2_than_the_paper_attack_on_the_same_pair(tmp_path, trained_direct,
                                                                      shapes_test):
    direct = DirectVictim("direct", trained_direct, 3)
    selected = select_per_class(shapes_test["label"], 3, 4)
    run_targeted(tmp_path, get_attack("ifgsm"), [direct], shapes_test, selected, SETTINGS)
    run_targeted(tmp_path, get_attack("fmn-l2"), [direct], shapes_test, selected, SETTINGS)
    fmn, paper = table(tmp_path, "fmn-l2").read(), table(tmp_path, "ifgsm").read()
    pairs = paired(fmn, paper)
    # Started from the paper's adversarials, FMN flips every pair the paper's attack flipped,
    # with at most its L2 (distortion is L2 scaled), and mostly far less.
    assert len(pairs) == sum(bool(r.get("success")) for r in paper) >= 6
    assert all(f["distortion"] <= p["distortion"] + 1e-12 for f, p in pairs)
    assert np.median([f["distortion"] / p["distortion"] for f, p in pairs]) < 0.8
    # Every record is what the network says of the saved image.
    images = table(tmp_path, "fmn-l2")
    for record in table(tmp_path, "fmn-l2").read():
        if record["status"] != "attacked":
            continue
        adversarial = images.load_image(record)
        assert record["max_steps"] == SETTINGS.fmn_steps
        with torch.no_grad():
            decision = trained_direct(torch.as_tensor(adversarial, dtype=torch.float32)[None, None])
        assert (decision.argmax(1).item() == record["target"]) == record["success"]


def test_fmn_takes_each_none_image_towards_every_class_in_units_of_their_own(
        tmp_path, trained_direct, shapes_test):
    direct = DirectVictim("direct", trained_direct, 3)
    selected = select_per_class(shapes_test["label"], 3, 4)
    # A run made before FMN took None sources: its positives' units are kept as they are.
    positives_only = replace(get_attack("fmn-l2"), none_sources=False)
    run_targeted(tmp_path, positives_only, [direct], shapes_test, selected, SETTINGS)
    before = table(tmp_path, "fmn-l2").read()
    assert before and all(r["source_class"] < 3 for r in before)
    run_targeted(tmp_path, get_attack("fmn-l2"), [direct], shapes_test, selected, SETTINGS)
    records = table(tmp_path, "fmn-l2").read()
    nones = [r for r in records if r["kind"] == NONE_TO_CLASS]
    assert [r for r in records if r["kind"] != NONE_TO_CLASS] == before
    assert {r["unit"] for r in nones} == {"direct-None-none-00000"}
    none_sources = selected[shapes_test["label"][selected] == 3]
    assert sorted({r["source"] for r in nones}) == sorted(none_sources.tolist())
    for source in none_sources:
        assert sorted(r["target"] for r in nones if r["source"] == source) == [0, 1, 2]
    attacked = [r for r in nones if r["status"] == "attacked"]
    assert any(r["success"] for r in attacked)
    images = table(tmp_path, "fmn-l2")
    for record in attacked:
        adversarial = torch.as_tensor(images.load_image(record), dtype=torch.float32)
        with torch.no_grad():
            decision = trained_direct(adversarial[None, None]).argmax(1).item()
        assert (decision == record["target"]) == record["success"]
    # The paper's attack keeps to the paper's protocol: positives only.
    run_targeted(tmp_path, get_attack("ifgsm"), [direct], shapes_test, selected, SETTINGS)
    assert all(r["source_class"] < 3 for r in table(tmp_path, "ifgsm").read())


def test_fmn_on_the_triple_staged_network_at_each_threshold(tmp_path, shapes_test):
    model = tiny_triple_staged()
    victim = TripleStagedVictim("triple-staged", model, (0.2, 0.45))
    selected = select_per_class(shapes_test["label"], 2, 4)
    settings = replace(SETTINGS, thresholds=(0.2, 0.45))
    run_targeted(tmp_path, get_attack("ifgsm"), [victim], shapes_test, selected, settings)
    run_targeted(tmp_path, get_attack("fmn-linf"), [victim], shapes_test, selected, settings)
    records = [r for r in table(tmp_path, "fmn-linf").read() if r["status"] == "attacked"]
    assert any(r["success"] for r in records)
    # At each threshold, every pair the paper's attack flipped is flipped, within its L-inf.
    paper = table(tmp_path, "ifgsm").read()
    pairs = paired(records, paper)
    assert len(pairs) == sum(bool(r.get("success")) for r in paper) > 0
    assert all(fmn["linf"] <= other["linf"] for fmn, other in pairs)
    images = table(tmp_path, "fmn-linf")
    for record in records:
        adversarial = torch.as_tensor(images.load_image(record), dtype=torch.float32)[None, None]
        with torch.no_grad():
            scores = UnitRangeClassifier(victim, record["threshold"])(adversarial / 255)
        assert (scores.argmax(1).item() == record["target"]) == record["success"]
        assert np.array_equal(images.load_image(record), np.rint(images.load_image(record)))


def test_a_killed_fmn_run_carries_on_from_its_last_finished_batch(trained_direct, shapes_test,
                                                                  tmp_path):
    direct = DirectVictim("direct", trained_direct, 3)
    rows = np.flatnonzero(shapes_test["label"] < 3)[:6]
    images = torch.as_tensor(shapes_test["image"][rows], dtype=torch.float32)[:, None]
    targets = torch.as_tensor((shapes_test["label"][rows] + 1) % 3)
    calls = []

    def count_or_kill(module, inputs, output):
        calls.append(len(inputs[0]))
        if killed_at is not None and len(calls) == killed_at:
            raise KeyboardInterrupt

    hook = trained_direct.register_forward_hook(count_or_kill)
    try:
        killed_at = None
        unbroken = MinimalNorm(direct, "l2", steps=20, batch_size=2).run(images, targets)
        per_batch = len(calls) // 3  # three batches of two
        place = tmp_path / "unit.progress.pt"
        calls.clear()
        killed_at = 2 * per_batch + per_batch // 2  # in the third batch
        killed = MinimalNorm(direct, "l2", steps=20, batch_size=2)
        killed.progress_file = place
        with pytest.raises(KeyboardInterrupt):
            killed.run(images, targets)
        assert place.is_file()
        calls.clear()
        killed_at = None
        resumed = MinimalNorm(direct, "l2", steps=20, batch_size=2)
        resumed.progress_file = place
        result = resumed.run(images, targets)
        # Only the unfinished batch ran again, to the result an unbroken run gives.
        assert len(calls) == per_batch
        for name in ("steps", "success", "images", "clipped_steps", "decisions"):
            assert np.array_equal(getattr(result, name), getattr(unbroken, name)), name
        # A place kept for other targets, or without the starts a run is given, is not this
        # run's: it starts over.
        calls.clear()
        MinimalNorm(direct, "l2", steps=20, batch_size=2).run(images, (targets + 1) % 3)
        fresh = len(calls)
        calls.clear()
        other = MinimalNorm(direct, "l2", steps=20, batch_size=2)
        other.progress_file = place
        other.run(images, (targets + 1) % 3)
        assert len(calls) == fresh
        no_starts = np.full((len(images), 1, *images.shape[2:]), np.nan, np.float32)
        calls.clear()
        given_starts = MinimalNorm(direct, "l2", steps=20, batch_size=2)
        given_starts.progress_file = place
        given_starts.run(images, (targets + 1) % 3, starts=no_starts)
        assert len(calls) == fresh
    finally:
        hook.remove()


def test_the_l2_fmn_step_is_projected_back_onto_its_budget(monkeypatch):
    monkeypatch.setenv("GIT_PYTHON_REFRESH", "quiet")  # foolbox imports GitPython
    import eagerpy
    import foolbox

    from mindseye.attacks.minimal_norm import projected_l2_fmn

    source = eagerpy.astensor(torch.zeros(2, 1, 4, 4))
    moved = eagerpy.astensor(torch.full((2, 1, 4, 4), 0.5))  # L2 norm 2 from the source
    budget = eagerpy.astensor(torch.tensor([1.0, 3.0]))
    projected = projected_l2_fmn(foolbox)(steps=1).project(moved, source, budget).raw
    norms = (projected - source.raw).flatten(1).norm(dim=1)
    # Onto the ball where the step left it, unchanged inside it.
    assert torch.allclose(norms, torch.tensor([1.0, 2.0]))
