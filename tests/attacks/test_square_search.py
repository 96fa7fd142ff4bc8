"""Our Square attack on a tiny trained network: it breaks images within the budget, on whole
grey levels, with one forward pass per query, and gives each image the same search alone or in
a batch, and carries a killed unit on from its kept place."""

import numpy as np
import pytest
import torch

from mindseye.attacks.sources import select_per_class
from mindseye.attacks.square_search import SquareSearch, square_share
from mindseye.attacks.victims import DirectVictim
from tests.fixtures.budgeted_results import assert_decided_within_budget_on_grey_levels


def test_the_square_shrinks_on_schedule_whatever_the_queries() -> None:
    assert square_share(1, 5000) == 0.8
    assert square_share(3000, 5000) == 0.8 / 128  # 6000 of 10,000: past 4000, not past 6000
    assert square_share(300, 1000) == square_share(1500, 5000)


def test_square_breaks_images_within_the_budget_in_one_pass_per_query(trained_direct,
                                                                       shapes_test) -> None:
    victim = DirectVictim("direct", trained_direct, 3)
    rows = select_per_class(shapes_test["label"], 2, 4)
    images = torch.as_tensor(shapes_test["image"][rows], dtype=torch.float32)[:, None]
    labels = torch.as_tensor(shapes_test["label"][rows])
    queries = 200
    before = victim.passes.forward
    result = SquareSearch(victim, None, 32.0, queries).run(images, labels)
    # At most one pass per image and query, and one more to decide the result.
    assert victim.passes.forward - before <= len(rows) * (queries + 1)
    assert result.success.any()
    assert_decided_within_budget_on_grey_levels(trained_direct, images, result, 32)
    # Each image draws its own squares: alone it gets the search it got in the batch.
    alone = SquareSearch(victim, None, 32.0, queries).run(images[:1], labels[:1])
    np.testing.assert_array_equal(alone.images[0], result.images[0])


def test_a_killed_unit_carries_on_from_the_next_batch(trained_direct, shapes_test, tmp_path):
    victim = DirectVictim("direct", trained_direct, 3)
    rows = select_per_class(shapes_test["label"], 2, 4)
    images = torch.as_tensor(shapes_test["image"][rows], dtype=torch.float32)[:, None]
    labels = torch.as_tensor(shapes_test["label"][rows])
    # At 2 grey levels the search runs every query on most images: each batch costs passes.
    unbroken = SquareSearch(victim, None, 2.0, 60, batch_size=3).run(images, labels)
    calls = []

    def kill_in_the_second_batch(module, inputs, output):
        calls.append(len(inputs[0]))
        if len(calls) == 70:  # the first batch takes at most 60 calls
            raise KeyboardInterrupt

    place = tmp_path / "unit.progress.pt"
    hook = trained_direct.register_forward_hook(kill_in_the_second_batch)
    try:
        killed = SquareSearch(victim, None, 2.0, 60, batch_size=3)
        killed.progress_file = place
        with pytest.raises(KeyboardInterrupt):
            killed.run(images, labels)
    finally:
        hook.remove()
    resumed = SquareSearch(victim, None, 2.0, 60, batch_size=3)
    resumed.progress_file = place
    before = victim.passes.forward
    result = resumed.run(images, labels)
    for name in ("success", "images", "decisions"):
        assert np.array_equal(getattr(result, name), getattr(unbroken, name)), name
    # The first batch was read, not searched again, and its passes are carried.
    assert 0 < resumed.carried_cost["forward"] <= 3 * 60
    assert victim.passes.forward - before < (len(rows) - 3) * 60 + len(rows) + 1
