import pytest
import torch

from mindseye.models.comparator import (
    MIN_PATCH_COVERAGE,
    PATCH,
    Comparator,
    alpha_weighted_ratio,
    masked_patch_loss,
    patch_alpha,
)


def test_ratio_weights_similarity_by_the_alpha_in_each_patch() -> None:
    alpha = torch.zeros(1, 1, 64, 64)
    alpha[..., :, :32] = 1.0  # the drawing covers the left half only
    similarity = torch.zeros(1, 1, 55, 55)
    similarity[..., :, :23] = 1.0  # patches entirely in the left half match
    weights = patch_alpha(alpha)
    expected = weights[..., :, :23].sum() / weights.sum()
    torch.testing.assert_close(alpha_weighted_ratio(similarity, alpha), expected.view(1))
    # Where there is no drawing, similarity does not count at all.
    similarity[..., :, 32:] = 0.37
    torch.testing.assert_close(alpha_weighted_ratio(similarity, alpha), expected.view(1))
    # A constant similarity is the ratio itself; an empty drawing is ratio 0.
    assert alpha_weighted_ratio(torch.full((1, 1, 55, 55), 0.6), alpha).item() == pytest.approx(0.6)
    assert alpha_weighted_ratio(similarity, torch.zeros(1, 1, 64, 64)).item() == 0.0


def test_whole_image_loss_equals_mean_loss_over_patches_cut_out_one_by_one() -> None:
    torch.manual_seed(0)
    comparator = Comparator()
    query, drawing = torch.rand(2, 1, 64, 64) * 255, torch.rand(2, 1, 64, 64) * 255
    alpha = torch.zeros(2, 1, 64, 64)
    alpha[0, 0, 20:40, 10:30] = torch.rand(20, 20)
    alpha[1, 0, 50:, 50:] = 0.05  # a faint corner: only some patches reach 1% coverage
    same = torch.tensor([1, 0])

    whole_image = masked_patch_loss(comparator(query, drawing, alpha), alpha, same)

    # Cut out every 10x10 patch that passes the coverage rule and run the net on each on its own
    # (a batch of separate 10x10 inputs, each giving one logit).
    cut = {name: [] for name in ("query", "drawing", "alpha", "same")}
    for b in range(2):
        for y in range(64 - PATCH + 1):
            for x in range(64 - PATCH + 1):
                window = (b, slice(None), slice(y, y + PATCH), slice(x, x + PATCH))
                if alpha[window].mean() < MIN_PATCH_COVERAGE:
                    continue
                for name, image in (("query", query), ("drawing", drawing), ("alpha", alpha)):
                    cut[name].append(image[window])
                cut["same"].append(same[b].float())
    patches = {name: torch.stack(values) for name, values in cut.items()}
    assert 400 < len(patches["same"]) < 2 * 55 * 55  # some patches of both images left out
    logits = comparator(patches["query"], patches["drawing"], patches["alpha"])
    assert logits.shape == (len(patches["same"]), 1, 1, 1)
    per_patch = torch.nn.functional.binary_cross_entropy_with_logits(
        logits.flatten(), patches["same"])
    torch.testing.assert_close(whole_image, per_patch, rtol=1e-5, atol=1e-6)
