"""The authors' starting weights and per-parameter rates, as their train.prototxt files give them.

Only the `paper` preset uses them (`models/settings.py`, AUTHORS_PARAMETERS); `demo` and
`medium` keep PyTorch's defaults, with which their schedules were measured. Sources, in
github.com/hberntsen/resisting-adversarials: `03_TrainClassifier/train.prototxt` (the direct
networks; `03_TrainClassifier_p/` for direct-param), `02_TrainStage1/train.prototxt` (the
estimator: the same fillers),
`02_TrainStage2/train.prototxt` (the projector), `05_TrainStage3/train.prototxt` (the
comparator). Every bias learns at twice the rate and without weight decay (`lr_mult: 2`,
`decay_mult: 0`); the projector's deconvolution biases start at 0 and never learn
(`lr_mult: 0`), and none of its parameters decays.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Rule:
    """How one parameter starts and learns: a Caffe filler and the lr / decay multipliers."""

    filler: str  # "gaussian", "xavier" or "constant"
    value: float = 0.0  # the Gaussian's std, or the constant
    lr_mult: float = 1.0
    decay_mult: float = 1.0


def _layer(weight: Rule, bias: Rule) -> dict[str, Rule]:
    return {"weight": weight, "bias": bias}


def _alexnet_layer(weight_std: float, bias: float) -> dict[str, Rule]:
    return _layer(Rule("gaussian", weight_std), Rule("constant", bias, 2.0, 0.0))


# The reduced AlexNet trunk, by module path (models/alexnet.py): conv1..conv5, fc6, fc7.
ALEXNET_TRUNK = {
    "trunk.convolutions.0": _alexnet_layer(0.01, 0.0),
    "trunk.convolutions.4": _alexnet_layer(0.01, 0.1),
    "trunk.convolutions.8": _alexnet_layer(0.01, 0.0),
    "trunk.convolutions.10": _alexnet_layer(0.01, 0.1),
    "trunk.convolutions.12": _alexnet_layer(0.01, 0.1),
    "trunk.fully_connected.1": _alexnet_layer(0.005, 0.1),
    "trunk.fully_connected.4": _alexnet_layer(0.005, 0.1),
}
FC8 = _alexnet_layer(0.01, 0.0)  # every head on the trunk (their fc8)

_PROJECTOR_FC = _layer(Rule("xavier", decay_mult=0.0), Rule("constant", 0.1, 2.0, 0.0))
_PROJECTOR_DECONVOLUTION = _layer(Rule("xavier", decay_mult=0.0),
                                  Rule("constant", 0.0, 0.0, 0.0))
_COMPARATOR = _layer(Rule("xavier"), Rule("xavier", lr_mult=2.0, decay_mult=0.0))

LAYERS: dict[str, dict[str, dict[str, Rule]]] = {
    "direct": {**ALEXNET_TRUNK, "classify": FC8},
    # 03_TrainClassifier_p/train.prototxt: its angle head (fc8_params) has fc8's filler and rates.
    "direct-param": {**ALEXNET_TRUNK, "classify": FC8, "estimate": FC8},
    "estimator": {**ALEXNET_TRUNK, "estimate": FC8},
    "projector": {
        "fully_connected.0": _layer(Rule("gaussian", 1.0, decay_mult=0.0),
                                    Rule("constant", 0.1, 2.0, 0.0)),
        "fully_connected.2": _PROJECTOR_FC, "fully_connected.4": _PROJECTOR_FC,
        "fully_connected.6": _PROJECTOR_FC, "fully_connected.8": _PROJECTOR_FC,
        "upsample.0": _PROJECTOR_DECONVOLUTION, "upsample.2": _PROJECTOR_DECONVOLUTION,
        "image_head": _PROJECTOR_DECONVOLUTION, "alpha_head": _PROJECTOR_DECONVOLUTION,
    },
    "comparator": {f"patch_net.{index}": _COMPARATOR for index in (0, 2, 4, 6)},
}


def parameter_rules(network: str, model: nn.Module) -> dict[str, Rule]:
    """The rule of every parameter of `model` (a `network` from models/runs.build_network)."""
    rules = {}
    for name, _ in model.named_parameters():
        layer, _, kind = name.rpartition(".")
        if layer not in LAYERS[network] or kind not in LAYERS[network][layer]:
            raise ValueError(f"{network}: no prototxt rule for parameter {name}")
        rules[name] = LAYERS[network][layer][kind]
    return rules


def caffe_xavier_(tensor: torch.Tensor) -> None:
    """Caffe's XavierFiller: uniform in +-sqrt(3 / fan_in), fan_in = count / shape[0]. For a
    bias (1-D) that is +-sqrt(3); for a deconvolution (PyTorch and Caffe both store its weight
    as in x out x h x w) fan_in counts the outputs, as Caffe's does."""
    bound = math.sqrt(3.0 / (tensor.numel() // tensor.shape[0]))
    nn.init.uniform_(tensor, -bound, bound)


@torch.no_grad()
def initialise_like_authors(network: str, model: nn.Module) -> None:
    """Overwrite every parameter with the authors' filler, drawing from torch's global RNG (seeded
    by the training run); a parameter that never learns (lr_mult 0) stops asking for gradients."""
    parameters = dict(model.named_parameters())
    for name, rule in parameter_rules(network, model).items():
        parameters[name].requires_grad_(rule.lr_mult != 0)
        if rule.filler == "gaussian":
            nn.init.normal_(parameters[name], 0.0, rule.value)
        elif rule.filler == "xavier":
            caffe_xavier_(parameters[name])
        else:
            nn.init.constant_(parameters[name], rule.value)


def parameter_groups(network: str, model: nn.Module, lr: float,
                     weight_decay: float) -> list[dict]:
    """Optimiser groups with each parameter's rate and decay (lr x lr_mult, decay x decay_mult),
    the weights' group first (its lr is what metrics.jsonl logs). Parameters with lr_mult 0 are
    left out: they keep their starting values."""
    parameters = dict(model.named_parameters())
    grouped: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, rule in parameter_rules(network, model).items():
        if rule.lr_mult:
            grouped.setdefault((rule.lr_mult, rule.decay_mult), []).append(parameters[name])
    return [{"params": grouped[key], "lr": lr * key[0], "weight_decay": weight_decay * key[1]}
            for key in sorted(grouped, key=lambda key: (key[0] != 1.0, key))]
