"""The report's text: a cascade's masking cases are listed image by image, and what each
gradient-free member could do at all by kind of source."""

from mindseye.attacks.cascade import CLEAN
from mindseye.eval.markdown import cascade_text, running_text
from mindseye.eval.stats import cascade_summary

MEMBERS = ("apgd-ce", "hsj")
GRADIENT = {"apgd-ce": True, "hsj": False}


def record(member: str, source: int, decisions: list[int], linf: float) -> dict:
    return {"unit": f"{member}-{source}", "member": member, "network": "triple-staged",
            "attacked_threshold": 0.7, "attacked_epsilon": None, "source": source,
            "source_class": 3, "thresholds": [0.2, 0.7], "decisions": decisions, "wrong": True,
            "linf": linf, "l2": linf}


def test_an_image_only_a_gradient_free_member_broke_is_one_row_with_every_cell_it_lost():
    # Image 0: APGD failed, HopSkipJump called it a class at both thresholds within 8 grey
    # levels (so at budgets 8 and 16 of each); image 1: APGD broke it first, not a masking case.
    records = [record(CLEAN, 0, [3, 3], 0.0), record(CLEAN, 1, [3, 3], 0.0),
               record("apgd-ce", 0, [3, 3], 16.0), record("apgd-ce", 1, [1, 1], 4.0),
               record("hsj", 0, [2, 2], 8.0)]
    metas = {r["unit"]: {"cost": {"forward": 1, "backward": 0, "wall_s": 0.1}} for r in records}
    summary = cascade_summary(records, metas, MEMBERS, GRADIENT, (4.0, 8.0, 16.0), none_label=3)
    assert len(summary["masking"]) == 4  # two thresholds x two budgets
    text = "\n".join(cascade_text("reviewer", summary))
    assert "(a sign of gradient masking): 1, in 4 cells." in text
    rows = [line for line in text.splitlines() if line.startswith("| triple-staged | 0 | ")]
    assert rows == ["| triple-staged | 0 | 3 | hsj | @0.2: 8, 16; @0.7: 8, 16 | 8 |"]


def test_a_targeted_attack_still_running_is_named_with_its_units() -> None:
    assert running_text([]) == [] and running_text(None) == []
    (line, _) = running_text([
        {"attack": "fmn-linf", "network": "triple-staged", "none_sources": False,
         "units_done": 2, "units_planned": 3},
        {"attack": "fmn-linf", "network": "triple-staged", "none_sources": True,
         "units_done": 1, "units_planned": 2}])
    assert "fmn-linf on triple-staged (2 of 3 units)" in line
    assert "fmn-linf on triple-staged from None sources (1 of 2 units)" in line
    assert "left out of every table and verdict" in line


def test_what_a_gradient_free_member_could_do_is_counted_by_kind_of_source():
    # HopSkipJump made positive 5 wrong (at any distance) and found nothing for None image 0 or
    # positive 6: a member that never makes a None image a class cannot show masking there.
    positive = {"source_class": 1}
    records = [record(CLEAN, 0, [3, 3], 0.0), record("hsj", 0, [3, 3], 0.0),
               {**record(CLEAN, 5, [1, 1], 0.0), **positive},
               {**record("hsj", 5, [3, 3], 9.0), **positive},
               {**record(CLEAN, 6, [1, 1], 0.0), **positive},
               {**record("hsj", 6, [1, 1], 0.0), **positive}]
    summary = cascade_summary(records, {}, MEMBERS, GRADIENT, (4.0, 8.0), none_label=3)
    assert summary["gradient_free_reach"] == [
        {"network": "triple-staged", "member": "hsj", "sources": "none", "attacked": 1,
         "made_wrong": 0},
        {"network": "triple-staged", "member": "hsj", "sources": "positive", "attacked": 2,
         "made_wrong": 1}]
    text = "\n".join(cascade_text("reviewer", summary))
    assert "| triple-staged | hsj | none | 1 | 0 |" in text
    assert "| triple-staged | hsj | positive | 2 | 1 |" in text
