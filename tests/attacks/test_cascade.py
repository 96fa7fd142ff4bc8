"""The cascade runner on a tiny trained network: the same worst case as the full grid for fewer
passes, identical records after a resume, pass counts that equal a recount, and flips carried
to other thresholds only where the float32 network confirms them."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mindseye.attacks.budgeted import run_budgeted
from mindseye.attacks.cascade import (
    CLEAN,
    FINISHED,
    Breaks,
    cascade_cells,
    copy_units_on_grid_images,
    run_cascade,
)
from mindseye.attacks.experiments import record_table, robustness_tables, sources_agreeing
from mindseye.attacks.registry import (
    CASCADE,
    AttackSpec,
    get_attack,
    register_attack,
    unregister_attack,
)
from mindseye.attacks.settings import AttackSettings, lock_settings
from mindseye.attacks.sources import select_per_class
from mindseye.attacks.square_search import SquareSearch
from mindseye.attacks.victims import DirectVictim
from mindseye.core.errors import UserError
from mindseye.eval.markdown import cascade_text
from mindseye.eval.report import cascades
from mindseye.eval.stats import worst_case_records

MEMBERS = ("apgd-ce", "apgd-dlr-targeted")
SPEC = AttackSpec(name="toy-cascade", kind=CASCADE, members=MEMBERS, order=999, summary="test")
# Batches of one: float32 kernels may round differently at other batch sizes, and the grid
# batches other images together than the cascade does.
SETTINGS = AttackSettings(per_class=3, extra_per_class=3, chunk=4, epsilons=(2, 8, 24),
                          batch_size=1)


def costs(run_dir: Path) -> dict[str, dict]:
    return {unit: meta["cost"] for unit, meta in
            record_table(run_dir, SPEC.name).read_meta().items()}


def robust_cells(run_dir: Path) -> dict[tuple, bool]:
    cells = cascade_cells(record_table(run_dir, SPEC.name).read(), MEMBERS, SETTINGS.epsilons)
    return {(c["threshold"], c["epsilon"], c["source"]): c["robust"] for c in cells}


@pytest.fixture()
def victim(trained_direct) -> DirectVictim:
    return DirectVictim("direct", trained_direct, 3)


def test_the_cascade_breaks_what_the_grid_breaks_for_fewer_passes(tmp_path, victim,
                                                                   shapes_test) -> None:
    selected = select_per_class(shapes_test["label"], 3, 4)
    run_cascade(tmp_path / "cascade", SPEC, [victim], shapes_test, selected, SETTINGS)
    run_cascade(tmp_path / "grid", SPEC, [victim], shapes_test, selected, SETTINGS,
                skip_broken=False)
    cascade, grid = robust_cells(tmp_path / "cascade"), robust_cells(tmp_path / "grid")
    assert cascade == grid and len(cascade) == len(selected) * len(SETTINGS.epsilons)
    robust = [sum(cascade[(None, epsilon, int(s))] for s in selected)
              for epsilon in SETTINGS.epsilons]
    assert robust[0] > robust[-1]  # the attacks work, and the budgets matter
    spent = {name: sum(cost["forward"] + cost["backward"] for cost in costs(tmp_path / name)
                       .values()) for name in ("cascade", "grid")}
    assert spent["grid"] > spent["cascade"] > 0
    # A member attacks only cells that no earlier member, nor itself at a smaller budget, broke.
    records = record_table(tmp_path / "cascade", SPEC.name).read()
    rank = {name: position for position, name in enumerate((CLEAN, *MEMBERS))}
    for attacked in (r for r in records if r["member"] != CLEAN):
        before = [r for r in records if rank[r["member"]] < rank[attacked["member"]] or (
            r["member"] == attacked["member"]
            and r["attacked_epsilon"] < attacked["attacked_epsilon"])]
        (cell,) = [c for c in cascade_cells(before, MEMBERS, (attacked["attacked_epsilon"],))
                   if (c["source"], c["threshold"]) == (attacked["source"], None)]
        assert cell["robust"], attacked
    # The benchmark's grid takes the cascade's units on the same images instead of redoing
    # them: the grid's records come out the same.
    copied = copy_units_on_grid_images(tmp_path / "cascade", tmp_path / "grid-reusing", SPEC,
                                       selected, SETTINGS.chunk)
    run_cascade(tmp_path / "grid-reusing", SPEC, [victim], shapes_test, selected, SETTINGS,
                skip_broken=False)
    reused = record_table(tmp_path / "grid-reusing", SPEC.name)
    assert 0 < copied < len(reused.done_units())
    assert reused.read() == record_table(tmp_path / "grid", SPEC.name).read()


def test_a_resumed_cascade_writes_the_records_an_uninterrupted_one_does(tmp_path, victim,
                                                                       shapes_test) -> None:
    selected = select_per_class(shapes_test["label"], 2, 4)
    settings = replace(SETTINGS, epsilons=(4, 16))
    run_cascade(tmp_path / "whole", SPEC, [victim], shapes_test, selected, settings)
    folder = record_table(tmp_path / "whole", SPEC.name).folder
    units = sorted(path for path in folder.glob("*.json"))
    assert len(units) > 3
    # As a kill leaves it: the later units absent, one half-written partial file.
    resumed = tmp_path / "resumed" / "attacks" / SPEC.name
    resumed.mkdir(parents=True)
    for path in units[: len(units) // 2]:
        (resumed / path.name).write_bytes(path.read_bytes())
        if (image := path.with_suffix(".npy")).is_file():
            (resumed / image.name).write_bytes(image.read_bytes())
    (resumed / f"{units[-1].stem}.json.partial-1-abcd").write_text('{"unit": ')
    run_cascade(tmp_path / "resumed", SPEC, [victim], shapes_test, selected, settings)

    def documents(root: Path) -> dict[str, dict]:
        table = record_table(root, SPEC.name)
        return {unit: table.read_unit(unit) for unit in table.done_units()}

    whole, again = documents(tmp_path / "whole"), documents(tmp_path / "resumed")
    assert whole == again
    for unit, records in whole.items():
        for record in records:
            if "image_file" in record:
                np.testing.assert_array_equal(
                    record_table(tmp_path / "whole", SPEC.name).load_image(record),
                    record_table(tmp_path / "resumed", SPEC.name).load_image(record), unit)


@pytest.fixture()
def short_square():
    """square-5000's plan (it descends) at 20 queries, as a cascade member for one test."""
    spec = register_attack(replace(
        get_attack("square-5000"), name="square-20", order=998,
        build=lambda victim, threshold, epsilon, settings: SquareSearch(
            victim, threshold, epsilon, 20, settings.batch_size)))
    yield spec
    unregister_attack(spec.name)


def test_a_descending_member_leaves_an_image_below_a_budget_where_it_failed(
        tmp_path, victim, shapes_test, short_square) -> None:
    spec = AttackSpec(name="toy-descent", kind=CASCADE, members=(short_square.name,), order=999,
                      summary="test")
    selected = select_per_class(shapes_test["label"], 3, 4)
    settings = replace(SETTINGS, epsilons=(2, 6, 24))
    run_cascade(tmp_path / "cascade", spec, [victim], shapes_test, selected, settings)
    records = record_table(tmp_path / "cascade", spec.name).read()
    wrong_clean = {r["source"] for r in records if r["member"] == CLEAN and r["wrong"]}
    attacked = {(r["attacked_epsilon"], r["source"]): r for r in records
                if r["member"] == short_square.name}
    for epsilon in settings.epsilons:
        for source in map(int, selected):
            above = [attacked[(larger, source)] for larger in settings.epsilons
                     if larger > epsilon and (larger, source) in attacked]
            failed_above = any(not r["wrong"] for r in above)
            broken_within = any(r["wrong"] and r["linf"] <= epsilon for r in above)
            expected = source not in wrong_clean and not failed_above and not broken_within
            assert ((epsilon, source) in attacked) == expected, (epsilon, source)
    # the plan left something out: an image it failed on at the largest budget
    assert any(not r["wrong"] for (epsilon, _), r in attacked.items() if epsilon == 24)
    # Killed after the largest budget, it resumes to the same records (what it failed on is
    # read back from the units on disk).
    folder = record_table(tmp_path / "cascade", spec.name).folder
    resumed = tmp_path / "resumed" / "attacks" / spec.name
    resumed.mkdir(parents=True)
    for path in folder.iterdir():
        if "-2-" not in path.name and "-6-" not in path.name:
            (resumed / path.name).write_bytes(path.read_bytes())
    run_cascade(tmp_path / "resumed", spec, [victim], shapes_test, selected, settings)
    assert record_table(tmp_path / "resumed", spec.name).read() == records
    # the grid attacks every cell, every budget of a descending member too
    run_cascade(tmp_path / "grid", spec, [victim], shapes_test, selected, settings,
                skip_broken=False)
    grid = [r for r in record_table(tmp_path / "grid", spec.name).read()
            if r["member"] == short_square.name]
    assert len(grid) == len(selected) * len(settings.epsilons)


def test_a_member_capped_per_label_attacks_only_the_first_images_of_each(
        tmp_path, victim, shapes_test, short_square) -> None:
    capped = register_attack(replace(short_square, name="square-20-capped", descending=False,
                                     per_class_setting="hsj_per_class"))
    try:
        spec = AttackSpec(name="toy-capped", kind=CASCADE, members=(capped.name,), order=999,
                          summary="test")
        selected = select_per_class(shapes_test["label"], 3, 4)
        settings = replace(SETTINGS, epsilons=(24,), hsj_per_class=1)
        run_cascade(tmp_path, spec, [victim], shapes_test, selected, settings)
        records = record_table(tmp_path, spec.name).read()
    finally:
        unregister_attack(capped.name)
    first = set(select_per_class(shapes_test["label"], 1, 4).tolist())
    wrong_clean = {r["source"] for r in records if r["member"] == CLEAN and r["wrong"]}
    assert len({r["source"] for r in records if r["member"] == CLEAN}) == len(selected)
    assert {r["source"] for r in records if r["member"] == capped.name} == first - wrong_clean


def test_the_headline_takes_a_cascade_once_it_has_finished_a_network(tmp_path, victim,
                                                                    shapes_test) -> None:
    selected = select_per_class(shapes_test["label"], 2, 4)
    settings = replace(SETTINGS, epsilons=(4, 16))
    run_cascade(tmp_path, SPEC, [victim], shapes_test, selected, settings)
    run_budgeted(tmp_path, get_attack("pgd"), [victim], shapes_test, selected, settings)
    register_attack(SPEC)  # robustness_tables asks the registry for the cascades
    try:
        tables = robustness_tables(tmp_path, (4.0, 16.0))
        summaries = cascades(tmp_path, settings, none_label=3)
        finished = record_table(tmp_path, SPEC.name).folder / f"{FINISHED}-direct.json"
        finished.unlink()
        unfinished = robustness_tables(tmp_path, (4.0, 16.0))
        summaries_unfinished = cascades(tmp_path, settings, none_label=3)
    finally:
        unregister_attack(SPEC.name)
    # The report's cascade section counts the same finished networks, and names the others.
    assert summaries[SPEC.name]["unfinished"] == [] and summaries_unfinished == {}
    assert "Still running on direct-param" in "\n".join(cascade_text(
        SPEC.name, {**summaries[SPEC.name], "unfinished": ["direct-param"]}))
    assert set(tables) == {"pgd", SPEC.name}
    worst = {_key(r): r["robust"] for r in worst_case_records(tables)}
    cells = {_key(r): r["robust"] for r in tables[SPEC.name]}
    pgd = {_key(r): r["robust"] for r in tables["pgd"]}
    assert len(worst) == len(cells) == len(pgd) == len(selected) * 2
    assert worst == {key: cells[key] and pgd[key] for key in worst}
    # A cascade killed before it finished a network is left out: an image no member has
    # reached yet would look robust.
    assert set(unfinished) == {"pgd"}


def _key(row: dict) -> tuple:
    return row["threshold"], row["epsilon"], row["source"]


def test_a_finished_unit_without_images_the_cascade_plans_is_refused(tmp_path, victim,
                                                                     shapes_test) -> None:
    selected = select_per_class(shapes_test["label"], 2, 4)
    settings = replace(SETTINGS, epsilons=(4,))
    run_cascade(tmp_path, SPEC, [victim], shapes_test, selected, settings)
    table = record_table(tmp_path, SPEC.name)
    unit = next(unit for unit in sorted(table.done_units()) if unit.startswith(MEMBERS[0])
                and len(table.read_unit(unit)) > 1)
    path = table.folder / f"{unit}.json"
    document = json.loads(path.read_text())
    document["records"] = document["records"][1:]  # as another plan left it
    document["count"] = len(document["records"])
    path.write_text(json.dumps(document))
    with pytest.raises(UserError, match=unit):
        run_cascade(tmp_path, SPEC, [victim], shapes_test, selected, settings)


def test_recorded_passes_equal_a_recount(tmp_path, victim, shapes_test) -> None:
    forward, backward = [], []
    model = victim.model
    model.register_forward_pre_hook(lambda module, inputs: forward.append(len(inputs[0])))
    model.register_full_backward_pre_hook(lambda module, grad: backward.append(len(grad[0])))
    selected = select_per_class(shapes_test["label"], 2, 4)
    run_cascade(tmp_path, SPEC, [victim], shapes_test, selected, replace(SETTINGS, batch_size=8))
    recorded = costs(tmp_path)
    assert sum(cost["forward"] for cost in recorded.values()) == sum(forward) > 0
    assert sum(cost["backward"] for cost in recorded.values()) == sum(backward) > 0
    # The clean unit: its decisions, then one gradient and two forward passes per image for
    # AutoAttack's checks.
    assert recorded[f"{CLEAN}-direct"]["backward"] == len(selected)
    assert recorded[f"{CLEAN}-direct"]["forward"] == 3 * len(selected)


def record(member: str, source: int, decisions: list[int], linf: float) -> dict:
    return {"unit": "u", "member": member, "network": "triple-staged", "attacked_threshold": 0.7,
            "attacked_epsilon": 8.0, "source": source, "source_class": 3,
            "thresholds": [0.2, 0.45, 0.7], "decisions": decisions, "linf": linf, "l2": linf}


def test_a_flip_counts_at_another_threshold_only_where_float32_decides_wrongly() -> None:
    # A None image (label 3): the clean decisions are right; the attack at @0.7 found an image
    # that float32 calls class 1 @0.2 and @0.45 but None @0.7 (a bfloat16 gradient's flip that
    # float32 does not confirm there), at L-inf 6.
    records = [record(CLEAN, 0, [3, 3, 3], 0.0), record("apgd-ce", 0, [1, 1, 3], 6.0)]
    cells = {(c["threshold"], c["epsilon"]): c for c in
             cascade_cells(records, MEMBERS, (4.0, 8.0))}
    assert cells[(0.7, 8.0)]["robust"] and cells[(0.7, 4.0)]["robust"]
    assert not cells[(0.2, 8.0)]["robust"] and not cells[(0.45, 8.0)]["robust"]
    assert cells[(0.2, 8.0)]["broken_by"] == "apgd-ce" and cells[(0.2, 8.0)]["linf"] == 6.0
    assert cells[(0.2, 8.0)]["decision"] == 1 and cells[(0.7, 8.0)]["decision"] is None
    assert cells[(0.2, 4.0)]["robust"]  # beyond the smaller budget


def test_a_member_that_decides_every_budget_still_attacks_what_only_larger_budgets_broke(
) -> None:
    # Source 0 is broken within 16 grey levels only, source 1 within 2, source 2 nowhere.
    breaks = Breaks()
    breaks.add([record(CLEAN, source, [3, 3, 3], 0.0) for source in (0, 1, 2)])
    breaks.add([record("apgd-ce", 0, [1, 1, 1], 16.0), record("apgd-ce", 1, [1, 1, 1], 2.0)])
    sources, budgets = np.arange(3), (2.0, 8.0, 32.0)
    # A member with one run for every budget (HopSkipJump) still has cells of source 0 to break.
    assert breaks.still_robust(0.7, sources, budgets, None).tolist() == [0, 2]
    assert breaks.still_robust(0.7, sources, budgets, 8.0).tolist() == [0, 2]
    assert breaks.still_robust(0.7, sources, budgets, 32.0).tolist() == [2]


def test_the_cost_is_in_each_unit_file(tmp_path, victim, shapes_test) -> None:
    selected = select_per_class(shapes_test["label"], 1, 4)
    run_cascade(tmp_path, SPEC, [victim], shapes_test, selected, replace(SETTINGS, epsilons=(8,)))
    for path in record_table(tmp_path, SPEC.name).folder.glob("*.json"):
        cost = json.loads(path.read_text())["meta"]["cost"]
        assert set(cost) == {"forward", "backward", "wall_s"} and cost["wall_s"] >= 0



def test_the_progress_says_which_cell_is_running(tmp_path, victim, shapes_test, capsys) -> None:
    selected = select_per_class(shapes_test["label"], 1, 4)
    settings = replace(SETTINGS, epsilons=(8,))
    run_cascade(tmp_path, SPEC, [victim], shapes_test, selected, settings)
    shown = capsys.readouterr().err
    assert "toy-cascade: apgd-ce on direct" in shown
    assert "8 grey levels: 1 of 1 units to run" in shown
    run_cascade(tmp_path, SPEC, [victim], shapes_test, selected, settings)
    assert "units to run" not in capsys.readouterr().err  # every unit is on disk

def test_the_report_reads_costs_breakers_and_accuracy_from_the_records(tmp_path, victim,
                                                                       shapes_test) -> None:
    from mindseye.eval.stats import cascade_summary

    selected = select_per_class(shapes_test["label"], 2, 4)
    settings = replace(SETTINGS, epsilons=(2, 16))
    run_cascade(tmp_path, SPEC, [victim], shapes_test, selected, settings)
    table = record_table(tmp_path, SPEC.name)
    records = table.read()
    summary = cascade_summary(records, table.read_meta(), MEMBERS, dict.fromkeys(MEMBERS, True),
                              settings.epsilons, none_label=3)
    cells = cascade_cells(records, MEMBERS, settings.epsilons)
    for row in summary["robust_accuracy"]:
        mine = [c for c in cells if c["epsilon"] == row["epsilon"]]
        assert row["samples"] == len(mine) == len(selected)
        assert row["robust_accuracy"] == sum(c["robust"] for c in mine) / len(mine)
    broken = sum(not c["robust"] for c in cells)
    assert sum(row["cells"] for row in summary["first_breakers"]) == broken > 0
    assert sum(cost["forward"] for cost in summary["costs"].values()) == sum(
        cost["forward"] for cost in costs(tmp_path).values())
    assert summary["masking"] == []
    (check,) = summary["checks"]["direct"].values()
    assert check["repeat_max_difference"] == 0 and 0 <= check["zero_gradient_share"] < 1
    text = "\n".join(cascade_text(SPEC.name, summary))
    assert all(member in text for member in MEMBERS)


def units_of(root: Path) -> dict[str, list[dict]]:
    table = record_table(root, SPEC.name)
    return {unit: table.read_unit(unit) for unit in table.done_units()}


def assert_same_records_and_passes(one: Path, other: Path) -> None:
    assert units_of(one) == units_of(other) and len(units_of(one)) > 4
    # the work was counted where it ran
    assert costs(other).keys() == costs(one).keys()
    for unit, cost in costs(other).items():
        assert (cost["forward"], cost["backward"]) == (costs(one)[unit]["forward"],
                                                       costs(one)[unit]["backward"])


def test_a_dask_cluster_writes_the_records_a_local_run_does(tmp_path, victim,
                                                            shapes_test) -> None:
    from dask.distributed import LocalCluster

    selected = select_per_class(shapes_test["label"], 2, 4)
    settings = replace(SETTINGS, epsilons=(4, 16), chunk=2)
    run_cascade(tmp_path / "local", SPEC, [victim], shapes_test, selected, settings)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        run_cascade(tmp_path / "dask", SPEC, [victim], shapes_test, selected, settings,
                    scheduler=cluster.scheduler_address)
    assert_same_records_and_passes(tmp_path / "local", tmp_path / "dask")


def test_local_processes_write_the_records_one_process_does(tmp_path, victim,
                                                           shapes_test) -> None:
    selected = select_per_class(shapes_test["label"], 2, 4)
    settings = replace(SETTINGS, epsilons=(4, 16), chunk=2)
    run_cascade(tmp_path / "one", SPEC, [victim], shapes_test, selected, settings)
    run_cascade(tmp_path / "two", SPEC, [victim], shapes_test, selected, settings, jobs=2)
    assert_same_records_and_passes(tmp_path / "one", tmp_path / "two")


def test_other_data_agrees_with_the_records_only_where_every_adversarial_keeps_its_distances(
        tmp_path, victim, shapes_test) -> None:
    # As on a machine whose render of the data has another digest (issue 24, session 25).
    selected = select_per_class(shapes_test["label"], 1, 4)
    settings = replace(SETTINGS, epsilons=(24,))
    run_cascade(tmp_path, SPEC, [victim], shapes_test, selected, settings)
    lock_settings(tmp_path, settings, data="made-on")
    images = shapes_test["image"]
    stored = [r for r in record_table(tmp_path, SPEC.name).read() if "image_file" in r]
    assert stored and all("l2" in record for record in stored)
    assert sources_agreeing(tmp_path, "made-on", images) is None  # the records' own data
    assert sources_agreeing(tmp_path, "re-rendered", images) == {r["source"] for r in stored}
    # One pixel of a source a grey level off where its adversarial is closer than the L-inf
    # distance: the L-inf distance stays, only L2 tells.
    record = stored[0]
    difference = (record_table(tmp_path, SPEC.name).load_image(record).astype(np.float64)
                  - images[record["source"]])
    row, column = np.argwhere(np.abs(difference) <= record["linf"] - 2)[0]
    altered = images.copy()
    pixel = (record["source"], row, column)
    altered[pixel] = altered[pixel] + 1 if altered[pixel] < 255 else altered[pixel] - 1
    assert np.abs(difference).max() == record["linf"]
    assert sources_agreeing(tmp_path, "re-rendered", altered) == frozenset()
