"""ifgsm-bpda: the paper's attack on the triple-staged network with a straight-through clip
(BPDA, Athalye et al. 2018), so that the estimator's clip hides no gradient.

The hard and the straight-through clip give the same forward pass and differ in the gradient
only where the clip engages. So where the paper's attack never stepped with the clip engaged,
BPDA would take the same path (bit for bit in float64; tests/attacks/test_base.py), and its
records are copied instead of spending hours to repeat them (attacks/paper_records.py).
"""

from mindseye.attacks.ifgsm import IterativeFGSM
from mindseye.attacks.ifgsm import build as build_paper_attack
from mindseye.attacks.registry import PAPER_IMAGES, TARGETED, AttackSpec, register_attack
from mindseye.attacks.settings import AttackSettings
from mindseye.attacks.victims import Victim
from mindseye.core.constants import TRIPLE_STAGED


def build(victim: Victim, settings: AttackSettings, variant: object = None) -> IterativeFGSM:
    return build_paper_attack(victim, settings)


register_attack(AttackSpec(
    name="ifgsm-bpda", kind=TARGETED, build=build, order=10, in_all=True, images=PAPER_IMAGES,
    networks=(TRIPLE_STAGED,), clip="straight_through", copies_unclipped=True, counts_clip=True,
    settings=("gradient_precision",),
    claim="straight-through (BPDA) clip",
    summary="the paper's attack on the triple-staged network with a straight-through clip "
            "(copies the paper's attack's paths that never met the clip: they would be the "
            "same)"))
