"""HopSkipJump (Chen, Jordan and Wainwright 2020; ART's implementation): what an attacker who
sees only the decision can do. It walks along the decision boundary, estimating the boundary's
normal from the answers to random probes, and shrinks the L-inf distance to the source. One run
gives the smallest distance it found per image, so robust accuracy at every budget follows from
it (an image is broken at budget eps if the found adversarial lies within eps).

ART draws its start (a uniform random image the network calls something else, pulled towards
the source by an L2 binary search) from a generator seeded by the operating system, so two runs
of a unit differed; the rest of its draws come from numpy's global generator. Here the start is
drawn the same way from the global generator, which the runner seeds per unit, and handed to ART
(`x_adv_init`): a unit's records are the same on every run.

A unit of 25 images is hours on the triple-staged network on a CPU. ART attacks one image after
another, so the attack here hands ART one image at a time and keeps its place after each: the
images found so far, the generator's state and the passes spent. A killed unit carries on from
the next image with the draws an unbroken run makes there."""


import numpy as np
import torch
from art.attacks.evasion import HopSkipJump

from mindseye.attacks.base import AttackResult
from mindseye.attacks.library import LibraryAttack
from mindseye.attacks.registry import BUDGETED, AttackSpec, register_attack
from mindseye.attacks.settings import AttackSettings
from mindseye.attacks.victims import Victim


class DecisionOnly(LibraryAttack):
    """`DecisionOnly(victim, threshold, iterations, evaluations).run(images, labels)`: untargeted
    HopSkipJump on the thresholded decision; `images` is the closest adversarial found (the
    source where none was), `success` whether one was found at any distance."""

    def __init__(self, victim: Victim, threshold: float | None, iterations: int,
                 evaluations: int, batch_size: int | None = None):
        super().__init__(victim, threshold, float("inf"), iterations, batch_size)
        self.evaluations = evaluations  # (a setting: part of a kept place's key)
        self.attack = HopSkipJump(self.classifier, targeted=False, norm=np.inf,
                                  max_iter=iterations, max_eval=evaluations,
                                  init_eval=min(100, evaluations),
                                  batch_size=self.batch_size, verbose=False)

    def generate(self, originals: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """ART's HopSkipJump image by image, keeping its place after each (see above)."""
        place = self._read_progress(originals, labels)
        self.attack.set_params(batch_size=self.batch_size)  # the kept place's, if it named one
        found = place["finished"]
        if place["running"] is not None:  # the generator's state after the last image found
            np.random.set_state(unpacked_state(place["running"]["random"]))
            self.carried_cost = dict(place["running"]["spent"])
        mark = self._cost_mark()
        for index in range(len(originals)):
            if index in found:
                continue
            found[index] = torch.from_numpy(self.attack_one(originals[index : index + 1],
                                                            labels[index : index + 1]))
            place["running"] = {"random": packed_state(np.random.get_state()),
                                "spent": self._spent(mark)}
            self._save_progress(place)
        return np.concatenate([found[index].numpy() for index in range(len(originals))])

    def attack_one(self, original: np.ndarray, label: np.ndarray) -> np.ndarray:
        """ART's HopSkipJump on one image (1, 1, 64, 64) from a start drawn as ART draws it, from
        numpy's global generator; the image itself where no start is found (as ART returns)."""
        predicted = self.predict(original)[0]  # untargeted ART moves away from the prediction
        low, high = self.classifier.clip_values
        for _ in range(self.attack.init_size):
            noise = np.random.uniform(low, high, size=original.shape[1:]).astype(original.dtype)
            if self.predict(noise[None])[0] != predicted:
                start = self.attack._binary_search(
                    current_sample=noise, original_sample=original[0], target=predicted, norm=2,
                    clip_min=low, clip_max=high, threshold=0.001)
                # ART takes a start only if it decides it adversarial, else draws its own from
                # the unseeded generator: make sure it will (the search ends on the adversarial
                # side, so this fails only where a decision is not repeatable).
                if self.predict(start[None])[0] == predicted:
                    raise RuntimeError("HopSkipJump: the network decided the same image two "
                                       "ways; its decisions are not repeatable on this device")
                return self.attack.generate(original, y=label, x_adv_init=start[None])
        return original.copy()

    def run(self, images: torch.Tensor, targets: torch.Tensor) -> AttackResult:
        result = super().run(images, targets)
        # Where HopSkipJump found nothing it returns its input (or a failed probe): keep the
        # source there, so that no distance is claimed for it.
        sources = images.detach().cpu().numpy()[:, 0].astype(np.float32)
        failed = ~result.success[:, 0]
        if failed.any():
            result.images[failed, 0] = sources[failed]
            result.decisions[failed, 0] = self.predict(sources[failed][:, None])
        return result


def packed_state(state: tuple) -> dict:
    """numpy's legacy generator state as tensors and numbers (what a kept place may hold)."""
    name, keys, position, has_gauss, cached_gaussian = state
    return {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position), "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian)}


def unpacked_state(packed: dict) -> tuple:
    return (packed["name"], packed["keys"].numpy().astype(np.uint32), packed["position"],
            packed["has_gauss"], packed["cached_gaussian"])


def build(victim: Victim, threshold: float | None, epsilon: float | None,
          settings: AttackSettings) -> DecisionOnly:
    """HopSkipJump has no budget: one run per threshold, and its distance decides each."""
    return DecisionOnly(victim, threshold, settings.hsj_iterations, settings.hsj_evaluations,
                        settings.batch_size)


HSJ_ATTACK = register_attack(AttackSpec(
    name="hsj", kind=BUDGETED, build=build, order=80, gradient=False,
    one_run_for_all_budgets=True, per_class_setting="hsj_per_class",
    settings=("hsj_iterations", "hsj_evaluations"),
    summary="HopSkipJump on the decision alone (--hsj-iterations, --hsj-evaluations, "
            "--hsj-per-class); its distance decides every budget"))
