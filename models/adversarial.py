"""Adversarial training, the paper's first future work: each training batch is replaced by
adversarial examples made against the network being trained.

Two recipes, named as their users know them:
- `fgsm`: fast adversarial training (Wong, Rice and Kolter 2020): one FGSM step of
  `step_size` (1.25 eps by default) from a uniform random start in the eps-ball; it can
  overfit catastrophically (robustness to PGD collapses within a few steps), so the run is
  watched on a held-out slice of the training split and keeps its weights from before a
  collapse (`models.training`);
- `pgd`: PGD adversarial training (Madry et al. 2018): `steps` steps of `step_size` (2.5 eps /
  steps by default) from a uniform random start.
Budgets are in grey levels on the 0..255 scale; the training images are whole grey levels, and
so are the adversarial ones (rounded at the end, which keeps them within an integer budget).

What is attacked is what the network reads from an image (`ADVERSARIAL_INPUTS`): the direct
networks' image; the estimator's image (it reads the pose from a perturbed query); the
comparator's query patches (compared with the projector's drawing of the clean pose). The
projector draws from a pose and never sees an image, so it trains as before. Each network
is attacked through its own training loss, so the triple-staged network's stages each learn to
resist the attack that hurts them most; fine-tuning the merged network against its threshold
loss is not done.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from mindseye.core.errors import UserError

# The recipes, named as Wong et al. and Madry et al. name them (the second shares its name with
# the PGD attack of attacks/pgd.py, which models, below attacks, does not import).
FGSM, PGD = "fgsm", "pgd"
ADVERSARIAL_METHODS = (FGSM, PGD)
# The field of a training batch that each network reads as its image.
ADVERSARIAL_INPUTS = {"direct": "image", "direct-param": "image", "estimator": "image",
                      "comparator": "query"}
FGSM_STEP = 1.25  # Wong et al.'s step, in budgets
PGD_STEP = 2.5  # Madry et al.'s total path, in budgets, spread over the steps
PGD_STEPS = 7  # Madry et al.'s CIFAR-10 recipe
# Fast AT's guard: the training is watched every `checkpoint_every` steps on this many held-out
# training images, with PGD of this many steps, and a drop of robust accuracy larger than
# COLLAPSE below the best seen so far stops it with the best weights (Wong et al.'s rule).
WATCH_IMAGES = 256
WATCH_PGD_STEPS = 10
COLLAPSE = 0.2


@dataclass(frozen=True)
class AdversarialTraining:
    """A recipe: `method` (fgsm or pgd), `epsilon` (grey levels), `steps` and `step_size`."""

    method: str
    epsilon: float
    steps: int
    step_size: float

    def to_json(self) -> dict:
        return asdict(self)


def recipe(method: str | None, epsilon: float | None, steps: int | None,
           step_size: float | None) -> AdversarialTraining | None:
    """The recipe the options ask for (None: clean training), with the defaults of its method;
    a UserError naming the option for a value that makes no sense."""
    if method is None:
        if any(value is not None for value in (epsilon, steps, step_size)):
            raise UserError("--adv-epsilon, --adv-steps and --adv-step-size go with --adversarial "
                            "fgsm|pgd")
        return None
    if method not in ADVERSARIAL_METHODS:
        raise UserError(f"--adversarial {method}: choose {' or '.join(ADVERSARIAL_METHODS)}")
    if epsilon is None:
        raise UserError(f"--adversarial {method} needs --adv-epsilon, the budget in whole grey "
                        "levels (1 to 255), e.g. --adv-epsilon 8")
    if not 1 <= epsilon <= 255 or epsilon != int(epsilon):
        raise UserError(f"--adv-epsilon {epsilon}: give the budget in whole grey levels, 1 to 255")
    if step_size is not None and not 0 < step_size <= 255:
        raise UserError(f"--adv-step-size {step_size}: give a step in grey levels above 0 (and "
                        "at most 255), or leave it out for the method's default")
    if method == FGSM:
        if steps not in (None, 1):
            raise UserError(f"--adv-steps: {FGSM} takes one step; use --adversarial {PGD} for "
                            "more")
        return AdversarialTraining(FGSM, float(epsilon), 1, float(
            FGSM_STEP * epsilon if step_size is None else step_size))
    steps = PGD_STEPS if steps is None else steps
    if not 1 <= steps <= 1000:
        raise UserError(f"--adv-steps {steps}: give 1 to 1000")
    return AdversarialTraining(PGD, float(epsilon), steps, float(
        PGD_STEP * epsilon / steps if step_size is None else step_size))


def perturbed(loss: Callable[[nn.Module, dict], torch.Tensor], field: str,
              training: AdversarialTraining, network: nn.Module, batch: dict,
              generator: torch.Generator | None = None) -> dict:
    """The batch with `field` replaced by adversarial images that raise `loss`: from a uniform
    random start, `training.steps` signed-gradient steps projected on the eps-ball and 0..255,
    then rounded to whole grey levels."""
    images = batch[field]
    epsilon = training.epsilon
    start = torch.rand(images.shape, generator=generator, device="cpu").to(images.device)
    delta = (2 * start - 1) * epsilon
    for _ in range(training.steps):
        delta.requires_grad_(True)
        inner = loss(network, {**batch, field: (images + delta).clamp(0, 255)})
        (gradient,) = torch.autograd.grad(inner, delta)
        delta = (delta.detach() + training.step_size * gradient.sign()).clamp(-epsilon, epsilon)
    adversarial = (images + delta.detach()).clamp(0, 255).round()
    return {**batch, field: adversarial}


def adversarial_loss(loss: Callable[[nn.Module, dict], torch.Tensor], network_name: str,
                     training: AdversarialTraining) -> Callable[[nn.Module, dict], torch.Tensor]:
    """`loss` on the adversarial version of each batch."""
    field = ADVERSARIAL_INPUTS[network_name]

    def on_adversarials(network: nn.Module, batch: dict) -> torch.Tensor:
        return loss(network, perturbed(loss, field, training, network, batch))

    return on_adversarials


def robust_accuracy(network: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                    epsilon: float, steps: int = WATCH_PGD_STEPS) -> float:
    """A direct network's accuracy under PGD at `epsilon` (step 2.5 eps / steps), from a fixed
    random start: what fast adversarial training watches."""
    watch = AdversarialTraining(PGD, epsilon, steps, PGD_STEP * epsilon / steps)
    was_training = network.training
    network.eval()
    generator = torch.Generator().manual_seed(0)
    batch = perturbed(lambda net, b: nn.functional.cross_entropy(net(b["image"]), b["label"]),
                      "image", watch, network, {"image": images, "label": labels}, generator)
    with torch.no_grad():
        accuracy = float((network(batch["image"]).argmax(dim=1) == labels).float().mean())
    network.train(was_training)
    return accuracy
