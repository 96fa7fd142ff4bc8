"""Square attack, L-inf (Andriushchenko et al. 2020), written here for the reviewer's cascade.

A random search over the corners of the L-inf ball: from vertical stripes of +-eps, each query
changes one random square of the image to a random corner (+-2 eps, projected back into the
ball) and keeps it where the margin loss (the label's score minus the best other score) falls;
the square's side shrinks on Andriushchenko et al.'s schedule. An image is broken once its
margin is negative: the network decides something else.

ART's implementation (`square`, kept for the published records) asks the network three times
per query: it re-evaluates the current point's robustness and loss every iteration, and draws
one square for the whole batch. Here each image keeps its current margin, so a query is one
forward pass of one image; each image draws its own squares from a generator seeded by its own
pixels and the attack's settings (the same attack alone, in any batch, after a resume or on
another machine); and an image leaves the batch at its first success. Perturbations of an
integer budget are whole grey levels, as the data's. A unit keeps its place after each batch
(`progress_file`), with the passes it spent, so a killed one carries on from the next batch.
"""

import zlib

import numpy as np
import torch

from mindseye.attacks.base import AttackResult, ThresholdAttack
from mindseye.attacks.registry import BUDGETED, AttackSpec, register_attack
from mindseye.attacks.settings import AttackSettings
from mindseye.attacks.victims import Victim

LONG_SQUARE_QUERIES = 5000  # AutoAttack's
SQUARE_SHARE = 0.8  # p_init: the first square's share of the image (AutoAttack's L-inf value)
# Queries (out of 10,000, scaled to the budget of queries) after which the square's share
# halves, and the share's divisor from each on (Andriushchenko et al.'s schedule).
SHARE_SCHEDULE = ((10, 2), (50, 4), (200, 8), (500, 16), (1000, 32), (2000, 64), (4000, 128),
                  (6000, 256), (8000, 512))


def square_share(query: int, queries: int) -> float:
    """The share of the image's pixels the square covers at `query` of `queries`."""
    scaled = int(query / queries * 10000)
    divisor = 1
    for start, value in SHARE_SCHEDULE:
        if scaled > start:
            divisor = value
    return SQUARE_SHARE / divisor


class SquareSearch(ThresholdAttack):
    """`SquareSearch(victim, threshold, epsilon, queries).run(images, labels) -> AttackResult`
    (one column, this threshold; `success`: the decision left the label)."""

    def __init__(self, victim: Victim, threshold: float | None, epsilon: float, queries: int,
                 batch_size: int | None = None):
        super().__init__(victim, threshold, batch_size)
        self.epsilon, self.queries = float(epsilon), queries

    def run(self, images: torch.Tensor, labels: torch.Tensor) -> AttackResult:
        originals = images.detach().float()
        labels = labels.to(originals.device)
        found = originals.clone()
        # A triple-staged unit is half an hour of queries on a CPU: keep each finished batch.
        # Each image's search is its own, so a resumed unit ends as an unbroken one does.
        place = self._read_progress(originals, labels)
        if place["running"] is not None:
            self.carried_cost = dict(place["running"]["spent"])
        mark = self._cost_mark()
        for start in range(0, len(originals), self.batch_size):
            rows = slice(start, start + self.batch_size)
            if str(start) in place["finished"]:
                found[rows] = place["finished"][str(start)].to(found.device)
                continue
            found[rows] = self._search(originals[rows], labels[rows])
            place["finished"][str(start)] = found[rows].cpu().clone()
            place["running"] = {"spent": self._spent(mark)}
            self._save_progress(place)
        decisions = self.predict(found.cpu().numpy())
        truth = labels.cpu().numpy()
        count = len(originals)
        return AttackResult(steps=np.full((count, 1), self.queries, np.int64),
                            success=(decisions != truth)[:, None],
                            images=found[:, 0].cpu().numpy()[:, None],
                            clipped_steps=np.zeros(count, np.int64), decisions=decisions[:, None])

    def _margin(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per image, the label's score minus the best other: negative once broken."""
        with torch.no_grad():
            scores = self.victim.scores(images, self.threshold).float()
        own = scores.gather(1, labels[:, None])[:, 0]
        return own - scores.scatter(1, labels[:, None], -torch.inf).max(dim=1).values

    def _search(self, originals: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        count, _, height, width = originals.shape
        setting = f"square-{self.epsilon}-{self.queries}-{self.threshold}".encode()
        generators = [np.random.default_rng(zlib.crc32(image.astype(np.float32).tobytes(),
                                                       zlib.crc32(setting)))
                      for image in originals.cpu().numpy()]
        low = (originals - self.epsilon).clamp_min(0)
        high = (originals + self.epsilon).clamp_max(255)
        stripes = torch.as_tensor(np.stack([rng.choice([-1.0, 1.0], size=(1, 1, width))
                                            for rng in generators]), dtype=originals.dtype,
                                  device=originals.device)
        current = (originals + self.epsilon * stripes).clamp(0, 255)
        margin = self._margin(current, labels)
        rows, columns = torch.arange(height, device=originals.device), torch.arange(
            width, device=originals.device)
        for query in range(1, self.queries):
            active = (margin >= 0).nonzero()[:, 0]
            if not len(active):
                break
            side = max(int(round(np.sqrt(square_share(query, self.queries) * height * width))),
                       1)
            side = min(side, height - 1, width - 1)
            draws = np.array([[generators[i].integers(0, height - side + 1),
                               generators[i].integers(0, width - side + 1),
                               generators[i].choice([-1.0, 1.0])] for i in active.tolist()])
            top, left, sign = (torch.as_tensor(draws[:, k], device=originals.device)
                               for k in range(3))
            inside = (((rows[None, :] >= top[:, None]) & (rows[None, :] < top[:, None] + side))
                      [:, :, None] & ((columns[None, :] >= left[:, None])
                                      & (columns[None, :] < left[:, None] + side))[:, None, :])
            step = (2 * self.epsilon * sign.to(originals.dtype))[:, None, None] * inside
            candidate = torch.maximum(torch.minimum(current[active] + step[:, None],
                                                    high[active]), low[active])
            candidate_margin = self._margin(candidate, labels[active])
            better = candidate_margin < margin[active]
            current[active[better]] = candidate[better]
            margin[active[better]] = candidate_margin[better]
        return current


def build(victim: Victim, threshold: float | None, epsilon: float,
          settings: AttackSettings) -> SquareSearch:
    return SquareSearch(victim, threshold, epsilon, LONG_SQUARE_QUERIES, settings.batch_size)


LONG_SQUARE_ATTACK = register_attack(AttackSpec(
    name=f"square-{LONG_SQUARE_QUERIES}", kind=BUDGETED, build=build, order=90,
    gradient=False, after_gradient_attacks=True, descending=True,
    summary=f"Square at {LONG_SQUARE_QUERIES} queries (ours: one pass per query, a square "
            "per image) on what every gradient attack left robust, from the largest budget "
            "down, leaving an image where it fails (run it after them)"))
