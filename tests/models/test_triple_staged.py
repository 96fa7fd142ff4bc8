import torch

from mindseye.models.comparator import Comparator
from mindseye.models.estimator import Estimator, clip_rotations
from mindseye.models.projector import Projector
from mindseye.models.triple_staged import TripleStaged, decide


def test_decision_is_best_class_at_or_above_threshold_else_none() -> None:
    ratios = torch.tensor([[0.9, 0.1, 0.5], [0.3, 0.44, 0.2], [0.45, 0.1, 0.0], [0.0, 0.0, 0.0]])
    assert decide(ratios, 0.45).tolist() == [0, 3, 0, 3]
    assert decide(ratios, 0.2).tolist() == [0, 1, 0, 3]
    assert decide(ratios, 0.95).tolist() == [3, 3, 3, 3]


def _untrained(k: int = 3) -> TripleStaged:
    torch.manual_seed(0)
    return TripleStaged(Estimator(k), Projector(k), Comparator()).eval()


def test_scores_argmax_is_the_decision_rule_and_ratios_match_one_class_at_a_time() -> None:
    network = _untrained()
    images = torch.rand(4, 1, 64, 64) * 255
    with torch.no_grad():
        ratios = network.ratios(images)
        assert ratios.shape == (4, 3) and ((ratios >= 0) & (ratios <= 1)).all()
        for threshold in (0.0, float(ratios.median()), 1.0):
            scores = network.scores(images, threshold)
            assert scores.shape == (4, 4)
            assert scores.argmax(dim=1).tolist() == decide(ratios, threshold).tolist()
        for c in range(3):
            classes = torch.full((4,), c)
            drawing, alpha = network.projector.draw(network.estimator(images, classes), classes)
            one_class = network.comparator.ratio(images, drawing, alpha)
            torch.testing.assert_close(one_class, ratios[:, c], rtol=1e-4, atol=1e-5)


def test_straight_through_clip_passes_gradients_the_hard_clip_stops() -> None:
    params = torch.tensor([[0.7, -0.25, -0.9]], requires_grad=True)
    for mode, expected in (("hard", [0.0, 1.0, 0.0]), ("straight_through", [1.0, 1.0, 1.0])):
        clipped = clip_rotations(params, mode)
        assert clipped.tolist() == [[0.5, -0.25, -0.5]]
        (gradient,) = torch.autograd.grad(clipped.sum(), params)
        assert gradient.tolist() == [expected]


def test_straight_through_network_gives_input_gradients() -> None:
    network = _untrained()
    network.clip = "straight_through"
    images = (torch.rand(2, 1, 64, 64) * 255).requires_grad_()
    network.ratios(images).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
