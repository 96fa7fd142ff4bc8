"""Training settings: one `Schedule` per network, and the presets. Every default lives here.

`paper` is the authors' solvers (their solver.prototxt files; docs/fidelity.md): SGD lr 0.01,
momentum 0.9, weight decay 5e-4, lr x0.1 every 10k iterations, 40k iterations of batch 128 for
the direct networks and the estimator; Adam (momenta 0.999 and 0.999) lr 5e-4 halved at 250k,
350k and 450k of 500k iterations for the projector; SGD lr 2.5e-4, x0.1 every 10k, 50k
iterations on batches of 1280 patches cut at stride 6 for the comparator; their ceil-mode
pooling (CEIL_POOLING); their fillers and per-parameter rates (AUTHORS_PARAMETERS,
models/initialisation.py). docs/fidelity.md lists what still differs.

`demo` and `medium` keep the networks and losses and shrink only the schedules, to fit 2 CPU
cores: Adam instead of SGD for every network, because in a few hundred steps Adam reaches a
usable network where SGD at lr 0.01 is still on its plateau; a step decay near the end instead
of every 10k; batch 64 (32 whole images for the comparator, each holding 55x55 patches).
The step counts follow from measured throughput on 2 idle cores (reduced AlexNet ~200
samples/s, projector ~400/s, comparator ~200 images/s): `demo` (under 5 minutes for all five
networks, 2-6 epochs of the `demo` render preset's 3200 training images) is meant to be
clearly better than chance; `medium` (about 55 minutes: 4 epochs of the `medium` render
preset's 20k images for the direct networks, 10 for the estimator, 7k projector steps) aims at
the quality targets of issue 3.
"""

from dataclasses import asdict, dataclass, replace

from mindseye.core.constants import PRESETS
from mindseye.core.errors import UserError


@dataclass(frozen=True)
class Schedule:
    steps: int
    batch_size: int
    optimiser: str  # "sgd" or "adam"
    lr: float
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    lr_decay_every: int = 0  # lr x lr_gamma every this many steps; 0 = constant
    checkpoint_every: int = 200  # steps between resumable checkpoints
    log_every: int = 20  # steps between lines of metrics.jsonl
    betas: tuple[float, float] = (0.9, 0.999)  # Adam only (Caffe's momentum and momentum2)
    lr_milestones: tuple[int, ...] = ()  # lr x lr_gamma at each of these steps, instead of every
    lr_gamma: float = 0.1
    # Comparator only: > 0 trains on 10x10 patches cut at this stride from the pair images and
    # shuffled across all of them, batch_size patches a batch (the authors' pre-extracted
    # patches); 0 trains on whole images, batch_size images, every patch position in each.
    patch_stride: int = 0

    def to_json(self) -> dict:
        """As config.json stores it; a field at its default is left out, so that the configs of
        runs made before the field existed still read as the same schedule."""
        defaults = Schedule(self.steps, self.batch_size, self.optimiser, self.lr)
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in asdict(self).items()
                if name in CORE_FIELDS or value != getattr(defaults, name)}


# The fields every config.json holds (the schedule of the first runs); later ones only where set.
CORE_FIELDS = ("steps", "batch_size", "optimiser", "lr", "momentum", "weight_decay",
               "lr_decay_every", "checkpoint_every", "log_every")


def _paper_sgd(steps: int = 40_000) -> Schedule:
    return Schedule(steps, 128, "sgd", 0.01, 0.9, 5e-4, 10_000, checkpoint_every=1000,
                    log_every=100)


def _adam(steps: int, lr: float, batch_size: int = 64, checkpoint_every: int = 200) -> Schedule:
    # One x0.1 decay for the last fifth of the run settles the weights.
    return Schedule(steps, batch_size, "adam", lr, lr_decay_every=max(1, steps * 4 // 5),
                    checkpoint_every=checkpoint_every, log_every=max(1, steps // 100))


_PRESET_SCHEDULES: dict[str, dict[str, Schedule]] = {
    "demo": {
        # Sized for the 5-minute budget on 2 cores; each is well past chance (README).
        "direct": _adam(100, 1e-3),
        "direct-param": _adam(100, 1e-3),
        # At 1e-3 the estimator sat on the mean rotation (loss 0.12) for all of its steps; at
        # 3e-4 it leaves that plateau after ~60 steps and is at 0.015 by step 280.
        "estimator": _adam(280, 3e-4),
        "projector": _adam(500, 1e-3),
        "comparator": _adam(100, 1e-3, batch_size=32),
    },
    "medium": {
        # The direct networks were at 1% error after 150 demo steps; 1200 steps (~4 epochs)
        # leave time for the estimator, the stage the triple-staged error depends on most.
        "direct": _adam(1200, 5e-4, checkpoint_every=400),
        "direct-param": _adam(1200, 5e-4, checkpoint_every=400),
        "estimator": _adam(3000, 3e-4, checkpoint_every=500),
        # The projector runs ~400 samples/s on 2 cores (it hardly uses the second): 7000 steps
        # take ~19 minutes.
        "projector": _adam(7000, 1e-3, checkpoint_every=1000),
        "comparator": _adam(1500, 5e-4, batch_size=32, checkpoint_every=500),
    },
    # The authors' solvers (github.com/hberntsen/resisting-adversarials; docs/fidelity.md):
    "paper": {
        # 03_TrainClassifier/solver.prototxt and 02_TrainStage1/solver.prototxt
        "direct": _paper_sgd(),
        "direct-param": _paper_sgd(),
        "estimator": _paper_sgd(),
        # 02_TrainStage2/solver.prototxt: Adam with momentum 0.999 and momentum2 0.999, lr 5e-4
        # halved at 250k, 350k and 450k of 500k iterations, no weight decay; batch 128
        # (train.prototxt).
        "projector": Schedule(500_000, 128, "adam", 5e-4, betas=(0.999, 0.999),
                              lr_milestones=(250_000, 350_000, 450_000), lr_gamma=0.5,
                              checkpoint_every=5000, log_every=500),
        # 05_TrainStage3/solver.prototxt: SGD lr 2.5e-4, momentum 0.9, weight decay 5e-4, x0.1
        # every 10k of 50k iterations, on batches of 1280 10x10 patches cut at stride 6 from
        # the pair images and shuffled across all of them (train.prototxt;
        # 04_Stage3Data/01_preconvolute.py).
        "comparator": Schedule(50_000, 1280, "sgd", 2.5e-4, 0.9, 5e-4, 10_000,
                               checkpoint_every=1000, log_every=100, patch_stride=6),
    },
}


# Whether the AlexNet trunk's pooling rounds up, as Caffe's did in the authors' networks (their
# first fully connected layer sees 64x7x7 inputs; models/alexnet.py). Only the paper preset.
CEIL_POOLING = {"demo": False, "medium": False, "paper": True}
# Whether the networks start from the authors' fillers and learn at their per-parameter rates
# (biases x2 without decay, the projector's deconvolution biases fixed at 0;
# models/initialisation.py). Only the paper preset: demo and medium were measured with
# PyTorch's default initialisation.
AUTHORS_PARAMETERS = {"demo": False, "medium": False, "paper": True}


# Bounds on --steps and --batch-size: 20 times the paper's longest schedule (the projector's
# 500k steps), and a batch 16 times the paper's 128 images (past it one training step of the
# AlexNet trunk needs more memory than a laptop has).
MAX_STEPS = 10_000_000
MAX_BATCH_SIZE = 2048


def schedule_for(
    preset: str, network: str, steps: int | None = None, batch_size: int | None = None
) -> Schedule:
    """The preset's schedule for one network, with the user's --steps / --batch-size."""
    if preset not in _PRESET_SCHEDULES:
        raise UserError(f"--preset {preset!r}: unknown preset; choose one of {', '.join(PRESETS)}")
    if steps is not None and not 1 <= steps <= MAX_STEPS:
        raise UserError(f"--steps {steps}: give 1 to {MAX_STEPS:,} (20 times the paper's "
                        "longest schedule)")
    if batch_size is not None and not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise UserError(f"--batch-size {batch_size}: give 1 to {MAX_BATCH_SIZE} (a larger "
                        "batch needs more memory than a laptop has)")
    schedule = _PRESET_SCHEDULES[preset][network]
    if steps is not None:
        # A shorter run keeps the shape of the schedule: the decays land at the same fractions.
        fraction = schedule.lr_decay_every / schedule.steps
        milestones = tuple(max(1, round(steps * m / schedule.steps))
                           for m in schedule.lr_milestones)
        schedule = replace(schedule, steps=steps, lr_decay_every=max(1, round(steps * fraction))
                           if schedule.lr_decay_every else 0, lr_milestones=milestones,
                           log_every=min(schedule.log_every, max(1, steps // 20)),
                           checkpoint_every=min(schedule.checkpoint_every, max(1, steps // 10)))
    if batch_size is not None:
        schedule = replace(schedule, batch_size=batch_size)
    return schedule
