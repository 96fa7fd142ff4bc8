"""The experiments write records that match what the saved images say, and resume after a kill."""

import copy
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest
import torch

from mindseye.attacks.budgeted import numpy_seeded_by, run_budgeted
from mindseye.attacks.experiments import record_table as table
from mindseye.attacks.experiments import unfinished_targeted
from mindseye.attacks.pgd import PGD
from mindseye.attacks.records import RecordTable, perturbation
from mindseye.attacks.registry import get_attack
from mindseye.attacks.settings import AttackSettings, lock_settings
from mindseye.attacks.sources import select_per_class
from mindseye.attacks.targeted import run_targeted
from mindseye.attacks.transfer import run_transfer
from mindseye.attacks.victims import DirectVictim, TripleStagedVictim
from mindseye.core.errors import UserError
from mindseye.eval.stats import transfer_table
from mindseye.models.triple_staged import decide
from tests.fixtures.tiny_networks import tiny_triple_staged

SETTINGS = AttackSettings(max_steps=150, per_class=4, chunk=4, epsilons=(2, 16), pgd_iterations=5)


def attack_direct(run_dir, victim, test):
    selected = select_per_class(test["label"], SETTINGS.per_class, 4)
    run_targeted(run_dir, get_attack("ifgsm"), [victim], test, selected, SETTINGS)
    return table(run_dir, "ifgsm").read()


def test_records_match_a_recomputation_from_the_saved_images(tmp_path, trained_direct, shapes_test):
    victim = DirectVictim("direct", trained_direct, 3)
    records = attack_direct(tmp_path, victim, shapes_test)
    attacked = [r for r in records if r["status"] == "attacked"]
    missed = [r for r in records if r["status"] == "misclassified"]
    assert not any("clipped_steps" in r for r in records)  # a direct network has no clip
    # Every positive source appears once per other class (2 false positives, 1 false negative).
    assert len(records) == 3 * 4 * 3 and attacked
    with torch.no_grad():
        clean = trained_direct(torch.as_tensor(shapes_test["image"], dtype=torch.float32)[:, None])
    wrong = {int(i) for i in np.flatnonzero(clean.argmax(1).numpy() != shapes_test["label"])}
    assert {r["source"] for r in missed} == {r["source"] for r in records} & wrong
    images = table(tmp_path, "ifgsm")
    for record in attacked:
        adversarial = images.load_image(record)
        original = shapes_test["image"][record["source"]]
        recomputed = perturbation(original, adversarial)
        for key in ("distortion", "linf", "ssim"):
            assert np.isclose(record[key], recomputed[key])
        with torch.no_grad():
            decision = trained_direct(torch.as_tensor(adversarial, dtype=torch.float32)[None, None])
        assert (decision.argmax(1).item() == record["target"]) == record["success"]
        assert record["linf"] <= record["steps"]
        assert record["kind"] == ("false-negative" if record["target"] == 3 else "false-positive")


class KilledAfter(torch.nn.Module):
    """A network that stops the process (as a kill would) at its `calls`-th forward pass."""

    def __init__(self, network: torch.nn.Module, calls: int):
        super().__init__()
        self.network, self.calls = network, calls

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.calls -= 1
        if self.calls == 0:
            raise KeyboardInterrupt
        return self.network(images)


def unit_results(run_dir) -> list[tuple]:
    return sorted((r["unit"], r["source"], r["target"], r.get("steps"), r.get("success"),
                   r.get("distortion")) for r in table(run_dir, "ifgsm").read())


def test_a_run_killed_mid_unit_carries_on_to_the_records_of_an_unbroken_one(
        tmp_path, trained_direct, shapes_test, monkeypatch):
    monkeypatch.setattr("mindseye.attacks.base.PROGRESS_EVERY_SECONDS", 0.0)  # save every step
    attack_direct(tmp_path / "unbroken", DirectVictim("direct", trained_direct, 3), shapes_test)
    run = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):  # a few steps into the second unit
        attack_direct(run, DirectVictim("direct", KilledAfter(trained_direct, 20), 3),
                      shapes_test)
    folder = table(run, "ifgsm").folder
    assert len(table(run, "ifgsm").done_units()) == 1 and list(folder.glob("*.progress.pt"))
    attack_direct(run, DirectVictim("direct", trained_direct, 3), shapes_test)
    assert unit_results(run) == unit_results(tmp_path / "unbroken")
    assert not [path for path in folder.iterdir() if path.suffix in (".claim", ".pt")]


def test_processes_share_units_and_wait_for_the_others(tmp_path, trained_direct, shapes_test,
                                                       monkeypatch, capsys):
    monkeypatch.setattr("mindseye.attacks.targeted.CLAIM_POLL_SECONDS", 0.1)
    records = table(tmp_path, "ifgsm")
    held = "direct-None-00001"  # of three units: 12 sources, 4 per unit
    # Another process holds unit 1 (it locks the unit's claim) for a while, then ends.
    records.folder.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(3)",
         str(records.folder / f"{held}.claim")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    ended = []
    waiter = threading.Thread(target=lambda: ended.append((holder.wait(), time.time())))
    waiter.start()
    attack_direct(tmp_path, DirectVictim("direct", trained_direct, 3), shapes_test)
    waiter.join()
    # This process did the other units, waited, and took the held one over once its holder
    # was gone: the table is whole when the runner returns.
    assert records.done_units() == {f"direct-None-{number:05d}" for number in range(3)}
    assert records.unit_file(held).stat().st_mtime >= ended[0][1] - 0.05
    assert f"waiting for 1 units other processes are attacking ({held})" in capsys.readouterr().err


def test_an_attack_begun_but_not_finished_is_named_until_it_is(tmp_path, trained_direct,
                                                               shapes_test):
    victim = DirectVictim("direct", trained_direct, 3)
    lock_settings(tmp_path, SETTINGS)  # the sizes the units are planned with, whatever a
    attack_direct(tmp_path, victim, shapes_test)  # report's own settings say
    labels = shapes_test["label"]
    assert unfinished_targeted(tmp_path, [victim], labels, 4, AttackSettings()) == {}
    units = sorted(table(tmp_path, "ifgsm").done_units())
    assert len(units) == 3  # 4 sources of each of 3 positive classes, 4 to a unit
    (tmp_path / "attacks" / "ifgsm" / f"{units[-1]}.json").unlink()  # as if killed in it
    assert unfinished_targeted(tmp_path, [victim], labels, 4, AttackSettings()) == {
        "ifgsm": {("direct", False): (2, 3)}}
    # A network the attack never began on is not "running" there.
    other = DirectVictim("direct-param", trained_direct, 3)
    assert unfinished_targeted(tmp_path, [victim, other], labels, 4, SETTINGS) == {
        "ifgsm": {("direct", False): (2, 3)}}
    attack_direct(tmp_path, victim, shapes_test)  # carries on: finished
    assert unfinished_targeted(tmp_path, [victim], labels, 4, SETTINGS) == {}


def test_a_damaged_unit_is_an_error_and_is_redone(tmp_path, trained_direct, shapes_test):
    victim = DirectVictim("direct", trained_direct, 3)
    complete = attack_direct(tmp_path, victim, shapes_test)
    units = sorted(table(tmp_path, "ifgsm").done_units())
    assert len(units) == 3  # 12 positive sources in chunks of 4
    # A copy cut short inside the last unit's records: its other records are intact.
    path = table(tmp_path, "ifgsm").unit_file(units[-1])
    text = path.read_text()
    path.write_text(text[: len(text) * 2 // 3])
    damaged = table(tmp_path, "ifgsm")
    assert damaged.done_units() == set(units[:-1])
    # Reading the table fails naming the file: fewer records would be other numbers.
    with pytest.raises(UserError, match=f"{path}.*damaged.*mindseye attack"):
        damaged.read()
    resumed = attack_direct(tmp_path, victim, shapes_test)
    key = lambda r: (r["source"], r["target"], r["threshold"])  # noqa: E731
    assert sorted(map(key, resumed)) == sorted(map(key, complete))
    assert sorted(complete, key=key) == sorted(resumed, key=key)


def test_an_older_single_table_is_split_into_units_and_a_torn_unit_redone(tmp_path):
    """Runs made before units had files kept one RUN/attacks/<attack>.jsonl."""
    rows = [{"unit": unit, "source": source} for unit in ("a", "b", "c") for source in range(3)]
    lines = [json.dumps(row) + "\n" for row in rows]
    torn = lines[:7] + [lines[7][:10]]  # unit c: one record intact, the next torn, one lost
    (tmp_path / "ifgsm.jsonl").write_text("".join(torn))
    table = RecordTable(tmp_path / "ifgsm")
    assert table.done_units() == {"a", "b"}
    assert table.read() == rows[:6]
    assert (tmp_path / "ifgsm.jsonl.migrated").is_file()
    assert not (tmp_path / "ifgsm.jsonl").exists()


def test_triple_staged_records_one_row_per_threshold(tmp_path, shapes_test):
    settings = AttackSettings(max_steps=30, per_class=2, chunk=8, thresholds=(0.2, 0.45))
    victim = TripleStagedVictim("triple-staged", tiny_triple_staged(), settings.thresholds)
    selected = select_per_class(shapes_test["label"], settings.per_class, 4)
    run_targeted(tmp_path, get_attack("ifgsm"), [victim], shapes_test, selected, settings)
    records = table(tmp_path, "ifgsm").read()
    assert len(records) == 2 * 3 * 3 * 2
    # One trajectory serves both thresholds, so both rows carry its count of clipped steps.
    trajectories = {}
    for r in (r for r in records if r["status"] == "attacked"):
        assert 0 <= r["clipped_steps"] <= settings.max_steps
        trajectories.setdefault((r["source"], r["target"]), set()).add(r["clipped_steps"])
    assert trajectories and all(len(counts) == 1 for counts in trajectories.values())
    images = table(tmp_path, "ifgsm")
    model = victim.model
    for record in (r for r in records if r["status"] == "attacked" and r["success"]):
        with torch.no_grad():
            ratios = model.ratios(torch.as_tensor(images.load_image(record), dtype=torch.float32)
                                  [None, None])
        best = ratios.max().item()
        if record["target"] == 3:
            assert best < record["threshold"]
        else:
            assert ratios.argmax().item() == record["target"] and best >= record["threshold"]


def test_pgd_and_transfer_tables(tmp_path, trained_direct, shapes_test):
    direct = DirectVictim("direct", trained_direct, 3)
    triple = TripleStagedVictim("triple-staged", tiny_triple_staged(), (0.45,))
    selected = select_per_class(shapes_test["label"], 2, 4)
    run_budgeted(tmp_path, get_attack("pgd"), [direct], shapes_test, selected, SETTINGS)
    pgd = table(tmp_path, "pgd").read()
    assert len(pgd) == len(selected) * len(SETTINGS.epsilons)
    for record in pgd:
        assert record["linf"] <= record["epsilon"] + 1e-3
        assert record["robust"] == (record["decision"] == record["source_class"])
        if record["clean_decision"] != record["source_class"]:
            assert not record["robust"]
    robust = {eps: np.mean([r["robust"] for r in pgd if r["epsilon"] == eps])
              for eps in SETTINGS.epsilons}
    assert robust[16] <= robust[2]
    attack_direct(tmp_path, direct, shapes_test)
    run_transfer(tmp_path, [direct, triple], SETTINGS)
    transfer = table(tmp_path, "transfer").read()
    made = [r for r in table(tmp_path, "ifgsm").read() if r.get("success")]
    assert len(transfer) == len(made) and {r["network"] for r in transfer} == {"triple-staged"}


def test_a_run_refuses_attacks_with_other_recorded_settings(tmp_path):
    lock_settings(tmp_path, SETTINGS)
    lock_settings(tmp_path, SETTINGS)  # the same settings resume
    with pytest.raises(UserError, match=r"per_class 4 -> 5.*move .*attacks away"):
        lock_settings(tmp_path, replace(SETTINGS, per_class=5))
    # The device is not recorded: the same attack may resume on another machine.
    lock_settings(tmp_path, replace(SETTINGS, device="cpu"))


def test_bpda_copies_the_paper_attacks_trajectories_that_never_met_the_clip(tmp_path,
                                                                              shapes_test):
    settings = AttackSettings(max_steps=30, per_class=3, chunk=4, thresholds=(0.2, 0.45))
    hard = tiny_triple_staged()
    images = torch.as_tensor(shapes_test["image"][:16], dtype=torch.float32)[:, None]
    with torch.no_grad():  # the first angle near the clip's edge, so some paths cross it
        angles = hard.estimator.unclipped(images, torch.arange(16) % 3)
        hard.estimator.estimate.bias[0] += 0.45 - angles[:, 0].median()
    through = copy.deepcopy(hard)
    through.clip = "straight_through"
    selected = select_per_class(shapes_test["label"], settings.per_class, 4)
    victim = TripleStagedVictim("triple-staged", hard, settings.thresholds)
    run_targeted(tmp_path, get_attack("ifgsm"), [victim], shapes_test, selected, settings)
    # An incomplete copy is no copy: drop one row of an unclipped trajectory (as a write cut
    # short would), and BPDA must run that pair itself.
    rows = table(tmp_path, "ifgsm").read()
    cut = next(r for r in rows if r["status"] == "attacked" and r["clipped_steps"] == 0
               and r["threshold"] == 0.45)
    cut_pair = (cut["source"], cut["target"])
    table(tmp_path, "ifgsm").write_unit(cut["unit"], [r for r in rows if r["unit"] == cut["unit"]
                                                      and r is not cut])
    victim = TripleStagedVictim("triple-staged", through, settings.thresholds)
    run_targeted(tmp_path, get_attack("ifgsm-bpda"), [victim], shapes_test, selected, settings)
    paper = {(r["source"], r["target"], r["threshold"]): r
             for r in table(tmp_path, "ifgsm").read() if r["status"] == "attacked"}
    bpda = [r for r in table(tmp_path, "ifgsm-bpda").read() if r["status"] == "attacked"]
    assert len(bpda) == len(paper) + 1
    copied = [r for r in bpda if r.get("copied_from") == "ifgsm"]
    ran = [r for r in bpda if "copied_from" not in r]
    assert copied and ran
    assert all((r["source"], r["target"]) != cut_pair for r in copied)
    # Each saved image is its own pair's: where the record says flipped, the image is decided
    # as its target (a mix-up between run and copied rows would break this).
    for record in (r for r in bpda if r["success"]):
        image = table(tmp_path, "ifgsm-bpda").load_image(record)
        with torch.no_grad():
            ratios = through.ratios(torch.as_tensor(image, dtype=torch.float32)[None, None])
        assert decide(ratios, record["threshold"]).item() == record["target"]
    for record in copied:
        original = paper[(record["source"], record["target"], record["threshold"])]
        assert original["clipped_steps"] == 0 == record["clipped_steps"]
        for field in ("steps", "success", "distortion", "linf", "ssim"):
            assert record[field] == original[field]
        np.testing.assert_array_equal(table(tmp_path, "ifgsm-bpda").load_image(record),
                                      table(tmp_path, "ifgsm").load_image(original))
    assert all(paper[(r["source"], r["target"], r["threshold"])]["clipped_steps"] > 0
               for r in ran if (r["source"], r["target"]) != cut_pair)


def test_a_budgeted_unit_draws_its_random_start_from_its_own_seed(trained_direct, shapes_test):
    """ART's PGD and Square draw from numpy's global generator; seeded by the unit, a unit
    redone after a kill, or run alone on another machine, starts from the same place."""
    direct = DirectVictim("direct", trained_direct, 3)
    images = torch.as_tensor(shapes_test["image"][:8], dtype=torch.float32)[:, None]
    labels = torch.as_tensor(shapes_test["label"][:8])
    runs = []
    for earlier_draws in (0, 1):
        np.random.seed(earlier_draws)  # whatever the process drew before this unit
        with numpy_seeded_by("direct-None-8-00000"):
            runs.append(PGD(direct, None, 8, iterations=2).run(images, labels).images)
        after = np.random.rand()
        np.random.seed(earlier_draws)
        assert after == np.random.rand()  # the process's own generator is put back
    np.testing.assert_array_equal(*runs)
    with numpy_seeded_by("direct-None-8-00001"):
        other = PGD(direct, None, 8, iterations=2).run(images, labels).images
    assert not np.array_equal(other, runs[0])  # the start is random, only reproducible


def test_units_on_threads_of_one_process_draw_their_own_sequences() -> None:
    """A Dask worker runs units on several threads of one process, with one numpy global
    generator: each unit still draws the sequence its own seed gives."""
    units = [f"direct-None-8-{number:05d}" for number in range(4)]

    def draws(unit: str) -> list[float]:
        with numpy_seeded_by(unit):
            found = []
            for _ in range(5):
                time.sleep(0.005)  # let the other threads run between draws
                found.append(np.random.rand())
            return found

    alone = [draws(unit) for unit in units]
    with ThreadPoolExecutor(len(units)) as pool:
        together = list(pool.map(draws, units))
    assert together == alone


def test_reverse_transfer_shows_the_triple_staged_false_positives_to_the_direct_networks(
        tmp_path, trained_direct, shapes_test):
    direct = DirectVictim("direct", trained_direct, 3)
    triple = TripleStagedVictim("triple-staged", tiny_triple_staged(), (0.2, 0.45))
    selected = select_per_class(shapes_test["label"], 2, 4)
    run_targeted(tmp_path, get_attack("ifgsm"), [triple], shapes_test, selected, SETTINGS)
    made = [r for r in table(tmp_path, "ifgsm").read()
            if r.get("success") and r["kind"] == "false-positive"]
    assert {r["threshold"] for r in made} == {0.2, 0.45}
    run_transfer(tmp_path, [direct, triple], SETTINGS, reverse_tables=("ifgsm",))
    shown = [r for r in table(tmp_path, "transfer").read() if r["origin"] == "triple-staged"]
    assert len(shown) == len(made) and {r["network"] for r in shown} == {"direct"}
    images = table(tmp_path, "ifgsm")
    by_pair = {(r["source"], r["target"], r["threshold"]): r for r in made}
    for record in shown:
        origin = by_pair[(record["source"], record["target"], record["origin_threshold"])]
        assert record["origin_attack"] == "ifgsm"
        with torch.no_grad():
            decision = trained_direct(torch.as_tensor(images.load_image(origin),
                                                      dtype=torch.float32)[None, None])
        assert record["decision"] == decision.argmax(1).item()
        assert record["fooled"] == (record["decision"] == origin["target"])
    # The table's counts are a recomputation from the records, per threshold of origin.
    for row in transfer_table(shown):
        mine = [r for r in shown if r["origin_threshold"] == row["origin_threshold"]]
        assert row["adversarials"] == len(mine)
        assert row["fooled"] == sum(r["fooled"] for r in mine)
    # Resuming writes nothing new.
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "attacks" / "transfer").iterdir()}
    run_transfer(tmp_path, [direct, triple], SETTINGS, reverse_tables=("ifgsm",))
    assert {p.name: p.stat().st_mtime_ns
            for p in (tmp_path / "attacks" / "transfer").iterdir()} == before
    # Shown while the table was still being filled (one unit of two), a unit is shown again
    # once the table has grown.
    last = sorted((tmp_path / "attacks" / "ifgsm").glob("triple-staged-*.json"))[-1]
    aside = last.rename(tmp_path / "aside.json")
    for path in (tmp_path / "attacks" / "transfer").glob("triple-staged-*"):
        path.unlink()
    run_transfer(tmp_path, [direct, triple], SETTINGS, reverse_tables=("ifgsm",))
    partial = [r for r in table(tmp_path, "transfer").read() if r["origin"] == "triple-staged"]
    aside.rename(last)
    run_transfer(tmp_path, [direct, triple], SETTINGS, reverse_tables=("ifgsm",))
    again = [r for r in table(tmp_path, "transfer").read() if r["origin"] == "triple-staged"]
    assert len(partial) < len(again) == len(made)
    assert {r["origin_units"] for r in again} == {2} and {r["origin_units"] for r in partial} == {1}
