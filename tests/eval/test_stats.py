"""eval.stats on hand-made records, where the right answer can be worked out by hand."""

from eval.stats import paired_table


def record(source: int, steps: int, success: bool, distortion: float, **fields) -> dict:
    return {"network": "triple-staged", "threshold": 0.7, "kind": "false-positive",
            "status": "attacked", "source": source, "target": 1, "steps": steps,
            "success": success, "distortion": distortion, "max_steps": 100, **fields}


def test_paired_table_compares_only_the_pairs_both_attacks_ran():
    plain = [record(0, 10, True, 0.1), record(1, 40, True, 0.3), record(2, 100, False, 0.5),
             record(3, 5, True, 0.05)]  # source 3 is not in the other attack: left out
    other = [record(0, 4, True, 0.2), record(1, 50, True, 0.2), record(2, 70, True, 0.4),
             {**record(9, 1, True, 0.0), "status": "misclassified"}]
    (row,) = paired_table(plain, other)
    assert (row["network"], row["threshold"], row["kind"], row["pairs"]) == (
        "triple-staged", 0.7, "false-positive", 3)
    assert row["plain_success"] == 2 / 3 and row["other_success"] == 1.0
    assert row["both_succeeded"] == 2
    assert row["plain_steps"]["median"] == 25 and row["other_steps"]["median"] == 27
    assert row["plain_distortion"]["median"] == 0.2 and row["other_distortion"]["median"] == 0.2
    # Fewer steps on source 0 (4 < 10) and source 2 (70 < a failure); more on source 1.
    assert row["other_fewer_steps"] == 2 / 3


def test_paired_table_keeps_settings_apart():
    plain = [record(0, 10, True, 0.1), record(0, 3, True, 0.1, kind="false-negative")]
    other = [record(0, 12, True, 0.1), record(0, 2, True, 0.1, kind="false-negative")]
    rows = {row["kind"]: row for row in paired_table(plain, other)}
    assert rows["false-positive"]["other_fewer_steps"] == 0.0
    assert rows["false-negative"]["other_fewer_steps"] == 1.0
