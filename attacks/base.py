"""What every attack returns (`AttackResult`), the small base class (`Attack`), and the loop
every iterative, targeted attack shares (`IterativeAttack`): batched, with per-sample early stop.

An iterative subclass says how one step moves the images (`step`) and, if it differs from the
paper's J, which loss it follows (`loss`). The loop does the rest: it checks each sample's
decision at every threshold the victim carries before each step, records the first step at which
that decision equals the target, and drops a sample from the batch once every threshold has got
there (or the step cap is hit). Samples never interact (networks run in eval mode), so a
batched run gives each sample the result it would get alone: bit for bit in float64; in float32
the kernels round differently at different batch sizes and sign() can, rarely, turn a last-bit
difference into a different step (benchmarks/attack_batching.py measures both).

On the triple-staged network the loop also counts each sample's steps taken with the estimator's
clip engaged: where there were none, the hard clip never hid a gradient, and a straight-through
clip (BPDA) would have taken the same path.

`gradient_precision="bfloat16"` (triple-staged victims only) takes each step's forward and
backward pass under bfloat16 autocast, 2-3x faster on CPUs with AVX512-BF16 and on GPUs. Only
the direction of the step is approximate: a decision is read off the bfloat16 ratios only where
they are far from deciding otherwise (`TripleStagedVictim.certain`), every success is confirmed
by the float32 network, and the decisions of failed samples are float32's too. So every recorded
success, step count and decision is what the float32 network says of the recorded image.

A triple-staged unit takes half an hour on a CPU. Given a `progress_file`, the loop keeps its
place there (every PROGRESS_EVERY_SECONDS, atomically), and a run of the same attack on the same
images and targets carries on from it: the batch's images, hits and running samples are restored
as they were, so the steps that follow are the ones an unbroken run takes. The file and its key
(the attack's settings, the victim, the inputs; not the device: a place carried to another
machine finishes there) belong to the base class, so other attacks keep places too (FMN: each
finished batch at each threshold).
"""

import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mindseye.attacks.settings import (
    GRADIENT_PRECISIONS,
    LEGACY_BATCH_SIZE,
    PROGRESS_EVERY_SECONDS,
    attack_batch_size,
)
from mindseye.attacks.victims import TripleStagedVictim, Victim
from mindseye.core.files import atomic_path


@dataclass
class AttackResult:
    """Per sample n and threshold t (T = len(victim.thresholds))."""

    steps: np.ndarray  # int (N, T): steps taken when the decision first equalled the target,
    #                    or the step cap if it never did
    success: np.ndarray  # bool (N, T)
    images: np.ndarray  # float32 (N, T, 64, 64): the image at that step (the last one on failure)
    clipped_steps: np.ndarray  # int (N,): steps whose gradient was taken with the estimator's
    #                            clip engaged on some hypothesis (0 for a network without a clip)
    decisions: np.ndarray  # int (N, T): the victim's decision on `images` at each threshold


class Attack:
    """Base class of every attack: `run(images, targets)` on float images (N, 1, 64, 64) on
    0..255 returns an AttackResult. A targeted attack's targets are the classes it aims at; an
    untargeted one's are the true labels it moves away from (`untargeted` says which)."""

    untargeted = False

    def __init__(self, victim: Victim, batch_size: int | None = None):
        self.victim = victim
        self.batch_size = attack_batch_size(victim.model, batch_size)
        # A kept place made at another batch size is carried on at that size where this one
        # is only the device's default (`_read_progress`).
        self._batch_size_given = batch_size is not None
        # Where `run` keeps its place inside a unit (the runner's), for the attacks that keep
        # one: the iterative loop, FMN, HopSkipJump and our Square. Others start a killed
        # unit over.
        self.progress_file: Path | None = None
        # What the kept place had spent before this process took the unit up (HopSkipJump's:
        # a cascade records each unit's cost, which a resumed unit must not understate).
        self.carried_cost = {"forward": 0, "backward": 0, "wall_s": 0.0}

    def run(self, images: torch.Tensor, targets: torch.Tensor) -> AttackResult:
        raise NotImplementedError

    def _progress_key(self, *inputs: torch.Tensor | np.ndarray | None) -> str:
        """What a saved place must match to be carried on from: the attack with its settings
        (every public plain attribute: steps, step size, loss, margin...), the victim with its
        thresholds and clip, and the inputs (images, targets and whatever else `run` reads)."""
        plain = sorted((name, value) for name, value in vars(self).items()
                       if not name.startswith("_")
                       and isinstance(value, int | float | str | bool | tuple | None))
        digest = hashlib.sha256(repr((type(self).__name__, plain, self.victim.name,
                                      self.victim.thresholds,
                                      getattr(self.victim.model, "clip", None))).encode())
        for array in inputs:
            if isinstance(array, torch.Tensor):
                array = array.detach().cpu().numpy()
            if array is not None:
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def _read_progress(self, *inputs: torch.Tensor | np.ndarray | None) -> dict:
        """The saved place of this very run, or a fresh one (a place saved by another attack
        or on other inputs is not this run's, and is overwritten)."""
        key = self._progress_key(*inputs)
        if self.progress_file is not None and self.progress_file.is_file():
            try:
                saved = torch.load(self.progress_file, weights_only=True)
            except Exception:  # a file from an older format, or damaged: start the unit over
                saved = None
            if isinstance(saved, dict) and saved.get("key") != key:
                key = self._kept_batch_size(saved, inputs) or key
            if isinstance(saved, dict) and saved.get("key") == key:
                # Say so: a unit that finishes in minutes after a kill is not a wrong one.
                tqdm.write(f"{self.progress_file.name}: carrying on from its kept place "
                           f"({len(saved['finished'])} parts done"
                           f"{', one running' if saved.get('running') else ''})",
                           file=sys.stderr)
                saved["batch_size"] = self.batch_size
                return saved
            if saved is not None:
                tqdm.write(f"{self.progress_file.name}: its kept place was made with other "
                           "settings or inputs; starting the unit over", file=sys.stderr)
        return {"key": key, "batch_size": self.batch_size, "finished": {}, "running": None}

    def _kept_batch_size(self, saved: dict, inputs: tuple) -> str | None:
        """Where this attack's batch size is the device's default and the kept place was made
        at another (on another device, or before sizes went by device, when every place was
        made at `LEGACY_BATCH_SIZE`): take that size, as its parts are that size's batches,
        and return the key that matches; else None, the batch size unchanged."""
        kept = saved.get("batch_size", LEGACY_BATCH_SIZE)
        if self._batch_size_given or kept == self.batch_size:
            return None
        ours, self.batch_size = self.batch_size, kept
        key = self._progress_key(*inputs)
        if saved.get("key") == key:
            tqdm.write(f"{self.progress_file.name}: kept at {kept} images per batch; carrying "
                       f"on at that size (this device's default is {ours})", file=sys.stderr)
            return key
        self.batch_size = ours
        return None

    def _cost_mark(self) -> tuple[int, int, float]:
        """Where this process's spending on a unit starts (`_spent`): passes and the clock."""
        return self.victim.passes.forward, self.victim.passes.backward, time.perf_counter()

    def _spent(self, mark: tuple[int, int, float]) -> dict:
        """What the unit has cost so far, for its kept place: what the place had spent before
        this process took it up, and this process's passes and time since `mark`."""
        forward, backward, started = mark
        return {"forward": self.carried_cost["forward"] + self.victim.passes.forward - forward,
                "backward": self.carried_cost["backward"] + self.victim.passes.backward
                - backward,
                "wall_s": self.carried_cost["wall_s"] + time.perf_counter() - started}

    def _save_progress(self, progress: dict) -> None:
        if self.progress_file is not None:
            with atomic_path(self.progress_file) as partial:
                torch.save(progress, partial)


class ThresholdAttack(Attack):
    """An untargeted attack at one of the victim's thresholds (Auto-PGD, our Square): its
    `column` in the victim's decisions, and the float32 network's decisions there."""

    untargeted = True

    def __init__(self, victim: Victim, threshold: float | None, batch_size: int | None = None):
        super().__init__(victim, batch_size)
        self.threshold = threshold
        self.column = victim.thresholds.index(threshold)

    def decide(self, images: torch.Tensor) -> torch.Tensor:
        """The float32 network's decisions (N,) at this threshold."""
        with torch.no_grad():
            return self.victim.decisions(self.victim.outputs(images))[:, self.column]

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Decisions (N,) at this attack's threshold for float images (N, 1, 64, 64)."""
        device = next(self.victim.model.parameters()).device
        return self.decide(torch.as_tensor(images, dtype=torch.float32, device=device)
                           ).cpu().numpy()


class IterativeAttack(Attack):
    """`IterativeAttack(victim, max_steps=..., batch_size=..., stop_at=...)`: a subclass gives
    `step`. `stop_at="any-other"` stops a false positive at the first positive class other than
    its source (the authors' rule); `run` then needs the sources' labels."""

    def __init__(self, victim: Victim, max_steps: int, batch_size: int | None = None,
                 stop_at: str = "target", gradient_precision: str = "float32"):
        super().__init__(victim, batch_size)
        if gradient_precision not in GRADIENT_PRECISIONS:
            raise ValueError(f"gradient_precision {gradient_precision!r}: choose one of "
                             f"{', '.join(GRADIENT_PRECISIONS)}")
        self.max_steps = max_steps
        self.stop_at = stop_at
        # The direct networks are cheap; only the triple-staged network's steps are worth it.
        self.low_precision = (gradient_precision == "bfloat16"
                              and isinstance(victim, TripleStagedVictim))

    def reached(self, decisions: torch.Tensor, targets: torch.Tensor,
                labels: torch.Tensor | None) -> torch.Tensor:
        """(B, T) bool: where the decision counts as the attack's goal. A false negative's goal
        is always None; a false positive's its target, or with `stop_at="any-other"` any
        positive class but the source's."""
        wanted = decisions == targets[:, None]
        if self.stop_at == "target":
            return wanted
        none = self.victim.num_classes
        other_positive = (decisions != labels[:, None]) & (decisions != none)
        return torch.where((targets == none)[:, None], wanted, other_positive)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per-sample loss to minimise; the paper's J unless a subclass says otherwise."""
        return self.victim.loss(outputs, targets)

    def batch_loss(self, outputs: torch.Tensor, targets: torch.Tensor,
                   rows: torch.Tensor) -> torch.Tensor:
        """The loss of the running samples: `outputs` theirs, `rows` their indices in the
        images given to `run`. `loss` unless a subclass needs more."""
        return self.loss(outputs, targets)

    def step(
        self, images: torch.Tensor, gradients: torch.Tensor, originals: torch.Tensor
    ) -> torch.Tensor:
        """Next images from the current ones and the gradient of the loss."""
        raise NotImplementedError

    def _float32_decisions(self, images: torch.Tensor) -> torch.Tensor:
        """(B, T) decisions of the float32 network, on the CPU."""
        with torch.no_grad():
            return self.victim.decisions(self.victim.outputs(images)).cpu()

    def run(self, images: torch.Tensor, targets: torch.Tensor,
            labels: torch.Tensor | None = None) -> AttackResult:
        """Attack images (N, 1, 64, 64) on 0..255 towards targets (N,), batch by batch;
        `labels` (N,), the sources' classes, are needed with `stop_at="any-other"`."""
        if self.stop_at != "target" and labels is None:
            raise ValueError("stop_at='any-other' needs the sources' labels")
        progress = self._read_progress(images, targets, labels)
        size = self.batch_size  # after the kept place, which may name its own
        pieces = []
        for start in range(0, len(images), size):
            if start not in progress["finished"]:
                piece = self._run_batch(
                    images[start : start + size], targets[start : start + size],
                    None if labels is None else labels[start : start + size], start, progress)
                progress["finished"][start] = tuple(map(torch.from_numpy, piece))
                progress["running"] = None
                self._save_progress(progress)
            pieces.append([tensor.numpy() for tensor in progress["finished"][start]])
        return AttackResult(*(np.concatenate(arrays) for arrays in zip(*pieces, strict=True)))

    def _run_batch(
        self, originals: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor | None,
        offset: int = 0, place: dict | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        count, thresholds = len(originals), len(self.victim.thresholds)
        images = originals.detach().clone()
        first_hit = torch.full((count, thresholds), -1, dtype=torch.long)
        decisions = torch.zeros((count, thresholds), dtype=torch.long)
        clipped_steps = torch.zeros(count, dtype=torch.long)
        final = images[:, None].expand(-1, thresholds, -1, -1, -1).clone()
        active = torch.arange(count)
        first_step = 0
        running = (place or {}).get("running")
        if running is not None and running["offset"] == offset:
            first_step = running["step"]
            images = running["images"].to(originals.device)
            first_hit, decisions = running["first_hit"], running["decisions"]
            clipped_steps, active = running["clipped_steps"], running["active"]
            final = running["final"].to(originals.device)
        saved_at = time.monotonic()
        # A triple-staged batch can take half an hour: show the steps and who is still running.
        progress = tqdm(total=self.max_steps, initial=first_step, desc="attack steps",
                        unit="step", leave=False, mininterval=2)
        for step in range(first_step, self.max_steps + 1):
            progress.set_postfix(running=len(active), refresh=False)
            current = images[active].requires_grad_(True)
            with torch.autocast(current.device.type, torch.bfloat16, enabled=self.low_precision):
                outputs, clipped = self.victim.outputs_and_clipped(current)
            outputs = outputs.float()
            decided = self.victim.decisions(outputs.detach()).cpu()
            aims = targets[active].cpu()
            sources = None if labels is None else labels[active].cpu()
            reached = self.reached(decided, aims, sources)
            if self.low_precision:
                # Where bfloat16 might be wrong, or says a goal is newly reached, float32
                # decides.
                new = (reached & (first_hit[active] < 0)).any(dim=1)
                unsure = ~self.victim.certain(outputs.detach()).cpu() | new
                if unsure.any():
                    decided[unsure] = self._float32_decisions(current.detach()[unsure.to(
                        current.device)])
                    reached = self.reached(decided, aims, sources)
            # A sample that reached its goal keeps that decision; the others keep the latest.
            decisions[active] = torch.where(first_hit[active] < 0, decided, decisions[active])
            new_hits = reached & (first_hit[active] < 0)
            rows, columns = new_hits.nonzero(as_tuple=True)
            first_hit[active[rows], columns] = step
            final[active[rows], columns] = current.detach()[rows]
            unfinished = (first_hit[active] < 0).any(dim=1)
            if step == self.max_steps or not unfinished.any():
                break
            # Finished samples get no loss term, hence zero gradient; they leave the batch below.
            loss = self.batch_loss(outputs, targets[active], offset + active)[
                unfinished.to(outputs.device)].sum()
            (gradients,) = torch.autograd.grad(loss, current)
            active = active[unfinished]
            if clipped is not None:
                clipped_steps[active] += clipped.cpu()[unfinished].long()
            keep = unfinished.to(current.device)
            images[active] = self.step(current.detach()[keep], gradients[keep], originals[active])
            progress.update()
            if place is not None and time.monotonic() - saved_at >= PROGRESS_EVERY_SECONDS:
                place["running"] = {"offset": offset, "step": step + 1, "images": images.cpu(),
                                    "first_hit": first_hit, "decisions": decisions,
                                    "clipped_steps": clipped_steps, "active": active,
                                    "final": final.cpu()}
                self._save_progress(place)
                saved_at = time.monotonic()
        progress.close()
        failed = first_hit < 0
        final[failed] = images[:, None].expand(-1, thresholds, -1, -1, -1)[failed]
        if self.low_precision and failed.any():
            # The last step's decisions may be bfloat16's; a record's are float32's.
            rows = failed.any(dim=1).nonzero()[:, 0]
            decisions[rows] = torch.where(failed[rows], self._float32_decisions(images[rows]),
                                          decisions[rows])
        steps = torch.where(failed, self.max_steps, first_hit)
        return (steps.numpy(), (~failed).numpy(), final[:, :, 0].cpu().numpy(),
                clipped_steps.numpy(), decisions.numpy())
