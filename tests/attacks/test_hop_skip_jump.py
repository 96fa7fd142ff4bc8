"""HopSkipJump (ART) image by image: a killed unit carries on with an unbroken run's draws."""

import numpy as np
import pytest
import torch

from mindseye.attacks.budgeted import numpy_seeded_by
from mindseye.attacks.hop_skip_jump import DecisionOnly
from mindseye.attacks.victims import DirectVictim


class SavesCounted(DecisionOnly):
    """DecisionOnly that notes how many network calls had been made at each place it keeps.
    (Private attributes: the attack's public ones are its settings, which a place must match.)"""

    def __init__(self, *args, calls: list, **kwargs):
        super().__init__(*args, **kwargs)
        self._calls, self._saved_at = calls, []

    def _save_progress(self, progress: dict) -> None:
        super()._save_progress(progress)
        self._saved_at.append(len(self._calls))


def test_a_killed_unit_carries_on_from_the_next_image_with_the_same_draws(trained_direct,
                                                                         shapes_test, tmp_path):
    victim = DirectVictim("direct", trained_direct, 3)
    rows = np.flatnonzero(shapes_test["label"] < 3)[:4]
    images = torch.as_tensor(shapes_test["image"][rows], dtype=torch.float32)[:, None]
    labels = torch.as_tensor(shapes_test["label"][rows])
    calls, kill = [], {"at": None}

    def count_or_kill(module, inputs, output):
        calls.append(len(inputs[0]))
        if len(calls) == kill["at"]:
            raise KeyboardInterrupt

    def attack(place=None):
        method = SavesCounted(victim, None, iterations=3, evaluations=40, calls=calls)
        method.progress_file = place
        return method

    hook = trained_direct.register_forward_hook(count_or_kill)
    try:
        whole = attack()
        before = victim.passes.forward
        with numpy_seeded_by("unit"):
            unbroken = whole.run(images, labels)
        unbroken_passes, total = victim.passes.forward - before, len(calls)
        after_second_image = whole._saved_at[1]  # (noted, though no place was given)

        place = tmp_path / "unit.progress.pt"
        calls.clear()
        kill["at"] = after_second_image + 1  # the first call on the third image
        with pytest.raises(KeyboardInterrupt), numpy_seeded_by("unit"):
            attack(place).run(images, labels)
        calls.clear()
        kill["at"] = None
        resumed = attack(place)
        before = victim.passes.forward
        with numpy_seeded_by("unit"):
            result = resumed.run(images, labels)
        # Only the last two images ran again, to the results an unbroken run gives, and the
        # passes the kept place had spent make up the rest of the unit's cost.
        assert len(calls) == total - after_second_image
        for name in ("steps", "success", "images", "clipped_steps", "decisions"):
            assert np.array_equal(getattr(result, name), getattr(unbroken, name)), name
        assert (resumed.carried_cost["forward"] + victim.passes.forward - before
                == unbroken_passes)
        assert resumed.carried_cost["wall_s"] > 0
    finally:
        hook.remove()


def test_the_start_is_drawn_as_art_draws_it(trained_direct, shapes_test, monkeypatch):
    """With ART's unseeded generator swapped for numpy's global one, ART alone and the attack
    here find the same adversarials from the same seed: the start is ART's own, only seeded."""
    monkeypatch.setattr(np.random, "RandomState", lambda *args, **kwargs: np.random.mtrand._rand)
    victim = DirectVictim("direct", trained_direct, 3)
    rows = np.flatnonzero(shapes_test["label"] < 3)[:3]
    originals = shapes_test["image"][rows].astype(np.float32)[:, None]
    labels = shapes_test["label"][rows]
    ours = DecisionOnly(victim, None, iterations=3, evaluations=40)
    with numpy_seeded_by("unit"):
        found = ours.generate(originals, labels)
    arts = DecisionOnly(victim, None, iterations=3, evaluations=40)
    with numpy_seeded_by("unit"):
        expected = arts.attack.generate(originals, y=labels)
    assert np.array_equal(found, expected)
    assert not np.array_equal(found, originals)  # it found something to compare
