"""How often the estimator's clip engages, on the clean sources and on the adversarials.

The estimator's output is clipped to the sampled angle range, and a hard clip has zero gradient
where it engages. The paper's attack therefore loses the estimator's gradient exactly where the
clip engages, and BPDA (a straight-through clip) can only take a different path from there on.
Counting, on each attack's final images, the hypotheses whose angles the clip changed says
whether "BPDA changes little" means "the clip never got in the way" or something else.
"""

from collections import defaultdict

import numpy as np
import torch

from mindseye.attacks.records import RecordTable
from mindseye.attacks.settings import attack_batch_size
from mindseye.core.constants import FALSE_NEGATIVE, NONE_TO_CLASS, TRIPLE_STAGED
from mindseye.eval.stats import wilson_interval
from mindseye.models.estimator import engages_clip
from mindseye.models.triple_staged import TripleStaged, hypotheses


def clipped_hypotheses(model: TripleStaged, images: np.ndarray,
                       batch_size: int | None) -> np.ndarray:
    """bool (N, K): whether the clip changes any angle of class c's hypothesis for image n
    (uint8 images (N, 64, 64)), in batches of `batch_size` (None: the device's)."""
    device = next(model.parameters()).device
    batch_size = attack_batch_size(model, batch_size)
    k = model.num_classes
    found = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = torch.as_tensor(images[start : start + batch_size], dtype=torch.float32,
                                    device=device)[:, None]
            angles = model.estimator.unclipped(*hypotheses(batch, k))
            found.append(engages_clip(angles).view(-1, k).cpu())
    return torch.cat(found).numpy() if found else np.zeros((0, k), bool)


def clip_table(model: TripleStaged, test_images: np.ndarray, tables: dict[str, list[dict]],
               attacks_table: dict[str, RecordTable], batch_size: int | None) -> list[dict]:
    """Per attack, threshold and kind: how many final images (attacked triple-staged records)
    have the clip engaged on any hypothesis, and on the hypothesis the attack moves (the
    target's for a false positive, the source class's for a false negative); first a row for
    the clean positive sources those attacks started from (the attacked class is the
    source's)."""
    attacked = {attack: [r for r in records if r["network"] == TRIPLE_STAGED
                         and r.get("status") == "attacked"]
                for attack, records in tables.items()}
    # The clean row counts the positive sources: a None image has no hypothesis of its own.
    source_class = {r["source"]: r["source_class"] for records in attacked.values()
                    for r in records if r["kind"] != NONE_TO_CLASS}
    sources = sorted(source_class)
    if not sources:
        return []
    clean = clipped_hypotheses(model, test_images[sources], batch_size)
    own = clean[np.arange(len(sources)), [source_class[s] for s in sources]]
    rows = [clip_row("clean", None, "sources", clean.any(axis=1), own)]
    for attack, records in attacked.items():
        groups = defaultdict(list)
        for record in records:
            groups[(record["threshold"], record["kind"])].append(record)
        for (threshold, kind), items in sorted(groups.items()):
            images = np.stack([attacks_table[attack].load_image(r) for r in items])
            clipped = clipped_hypotheses(model, images, batch_size)
            # A false negative's target is None, which has no hypothesis: the attack pushes
            # the source class's ratio down. Otherwise it pushes the target's up.
            attacked_classes = [r["source_class"] if kind == FALSE_NEGATIVE else r["target"]
                                for r in items]
            rows.append(clip_row(attack, threshold, kind, clipped.any(axis=1),
                                 clipped[np.arange(len(items)), attacked_classes]))
    return rows


def clip_row(attack: str, threshold: float | None, kind: str, any_class: np.ndarray,
             attacked_class: np.ndarray) -> dict:
    count = len(any_class)
    return {"attack": attack, "threshold": threshold, "kind": kind, "images": count,
            "any_class": int(any_class.sum()),
            "any_class_ci": wilson_interval(int(any_class.sum()), count),
            "attacked_class": int(attacked_class.sum()),
            "attacked_class_ci": wilson_interval(int(attacked_class.sum()), count)}
