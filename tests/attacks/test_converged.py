"""The converged budgeted attacks (PGD with restarts, Auto-PGD) and the worst case over them."""

from dataclasses import replace

import torch

from mindseye.attacks.apgd import APGD
from mindseye.attacks.budgeted import run_budgeted
from mindseye.attacks.experiments import record_table as table
from mindseye.attacks.registry import get_attack
from mindseye.attacks.settings import AttackSettings
from mindseye.attacks.sources import select_per_class
from mindseye.attacks.square_search import SquareSearch
from mindseye.attacks.victims import DirectVictim
from mindseye.eval.stats import robust_accuracy, worst_case_records
from tests.fixtures.budgeted_results import assert_decided_within_budget_on_grey_levels

SETTINGS = AttackSettings(per_class=3, extra_per_class=3, chunk=6, epsilons=(4, 16),
                          pgd_iterations=5)
ATTACKS = ("pgd", "pgd-20x5", "apgd-ce", "apgd-dlr-targeted")


def test_converged_attacks_records_and_the_worst_case_over_them(tmp_path, trained_direct,
                                                                shapes_test):
    victim = DirectVictim("direct", trained_direct, 3)
    selected = select_per_class(shapes_test["label"], 3, 4)
    for attack in ATTACKS:
        run_budgeted(tmp_path, get_attack(attack), [victim], shapes_test, selected,
                     replace(SETTINGS))
    tables = {attack: table(tmp_path, attack).read() for attack in ATTACKS}
    for attack, records in tables.items():
        assert len(records) == len(selected) * len(SETTINGS.epsilons), attack
        for record in records:
            assert record["linf"] <= record["epsilon"] + 1e-3
            assert record["robust"] == (record["decision"] == record["source_class"])
    accuracy = {attack: {r["epsilon"]: r["robust_accuracy"] for r in robust_accuracy(records, 3)}
                for attack, records in tables.items()}
    # More iterations and restarts, or Auto-PGD, break at least what 5 PGD steps broke at the
    # larger budget, where 5 steps of eps/4 fall short of the ball's corners.
    assert accuracy["apgd-ce"][16] <= accuracy["pgd"][16]
    assert accuracy["pgd-20x5"][16] <= accuracy["pgd"][16]
    worst = worst_case_records(tables)
    worst_accuracy = {r["epsilon"]: r["robust_accuracy"] for r in robust_accuracy(worst, 3)}
    for epsilon in SETTINGS.epsilons:
        assert all(worst_accuracy[epsilon] <= accuracy[a][epsilon] for a in ATTACKS)
        # Image by image: robust only where every attack left it robust.
        for source in selected:
            expected = all(r["robust"] for records in tables.values() for r in records
                           if r["source"] == source and r["epsilon"] == epsilon)
            (row,) = [r for r in worst if r["source"] == source and r["epsilon"] == epsilon]
            assert row["robust"] == expected and sorted(row["attacks"]) == sorted(ATTACKS)
    assert worst_accuracy[16] < worst_accuracy[4] or worst_accuracy[4] == 0


def test_targeted_apgd_aims_at_every_other_label(trained_direct, shapes_test):
    victim = DirectVictim("direct", trained_direct, 3)
    rows = select_per_class(shapes_test["label"], 2, 4)
    images = torch.as_tensor(shapes_test["image"][rows], dtype=torch.float32)[:, None]
    labels = torch.as_tensor(shapes_test["label"][rows])
    result = APGD(victim, None, 32.0, iterations=20, loss="ce", targeted=True).run(images,
                                                                                  labels)
    assert result.success.any()
    assert_decided_within_budget_on_grey_levels(trained_direct, images, result, 32)


def test_gradient_free_attacks_decision_only_and_long_square(tmp_path, trained_direct,
                                                              shapes_test):
    victim = DirectVictim("direct", trained_direct, 3)
    selected = select_per_class(shapes_test["label"], 2, 4)
    settings = replace(SETTINGS, hsj_iterations=5, hsj_evaluations=100, epsilons=(16, 64))
    run_budgeted(tmp_path, get_attack("hsj"), [victim], shapes_test, selected, settings)
    hsj = table(tmp_path, "hsj").read()
    assert len(hsj) == len(selected) * len(SETTINGS.epsilons)
    for record in hsj:
        # One distance decides every budget: broken exactly where it lies within the budget.
        found = record["found_linf"]
        if record["clean_decision"] == record["source_class"]:
            assert record["robust"] == (found == 0 or found > record["epsilon"] + 1e-3)
    assert any(not r["robust"] for r in hsj if r["clean_decision"] == r["source_class"])
    # --hsj-per-class: the first of the selected images of each label
    run_budgeted(tmp_path / "capped", get_attack("hsj"), [victim], shapes_test, selected,
                 replace(settings, hsj_per_class=1))
    capped = {r["source"] for r in table(tmp_path / "capped", "hsj").read()}
    assert capped == set(select_per_class(shapes_test["label"], 1, 4).tolist())
    # square-5000 takes only what the gradient attacks left robust at each budget.
    run_budgeted(tmp_path, get_attack("pgd"), [victim], shapes_test, selected, settings)
    broken = {(r["epsilon"], r["source"]) for r in table(tmp_path, "pgd").read()
              if not r["robust"]}
    run_budgeted(tmp_path, get_attack("square-5000"), [victim], shapes_test, selected,
                 replace(settings, epsilons=(4,)))
    long_square = table(tmp_path, "square-5000").read()
    attacked = {(r["epsilon"], r["source"]) for r in long_square}
    assert attacked == {(4.0, int(s)) for s in selected} - broken


def test_long_square_writes_a_unit_where_the_gradient_attacks_broke_everything(
        tmp_path, trained_direct, shapes_test):
    victim = DirectVictim("direct", trained_direct, 3)
    selected = select_per_class(shapes_test["label"], 2, 4)
    settings = replace(SETTINGS, epsilons=(64,), square_queries=50)
    run_budgeted(tmp_path, get_attack("pgd"), [victim], shapes_test, selected, settings)
    assert not any(r["robust"] for r in table(tmp_path, "pgd").read())
    run_budgeted(tmp_path, get_attack("square-5000"), [victim], shapes_test, selected, settings)
    assert table(tmp_path, "square-5000").read() == []
    assert table(tmp_path, "square-5000").done_units()  # done, with nothing left to attack


def test_a_descending_attack_leaves_an_image_below_a_budget_where_it_failed(
        tmp_path, trained_direct, shapes_test):
    victim = DirectVictim("direct", trained_direct, 3)
    # square-5000's plan at 20 queries, on every image (no gradient attack before it)
    spec = replace(get_attack("square-5000"), name="square-20", after_gradient_attacks=False,
                   build=lambda victim, threshold, epsilon, settings: SquareSearch(
                       victim, threshold, epsilon, 20, settings.batch_size))
    selected = select_per_class(shapes_test["label"], 3, 4)
    settings = replace(SETTINGS, epsilons=(2, 6, 24))
    run_budgeted(tmp_path, spec, [victim], shapes_test, selected, settings)
    robust = {(r["epsilon"], r["source"]): r["robust"] for r in table(tmp_path, spec.name).read()}
    for epsilon in settings.epsilons:
        for source in map(int, selected):
            failed_above = any(robust.get((larger, source)) for larger in settings.epsilons
                               if larger > epsilon)
            assert ((epsilon, source) in robust) == (not failed_above), (epsilon, source)
    # the plan left something out: an image it failed on at the largest budget
    assert any(robust.get((24.0, int(source))) for source in selected)
