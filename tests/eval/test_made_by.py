"""A report and the attack records say what made them: other data or other weights are never
reused silently, damaged inputs are errors, and a killed eval leaves no report that looks whole
(issue 21)."""

import json
import threading

import pytest
import torch
from click.testing import CliRunner

from mindseye.attacks.experiments import record_table, run_attack
from mindseye.attacks.settings import AttackSettings, lock_settings
from mindseye.cli import main
from mindseye.core.errors import UserError
from mindseye.core.files import held_lock
from mindseye.dataset.fingerprint import data_fingerprint
from mindseye.dataset.manifest import read_manifest
from mindseye.eval.report import write_report
from tests.fixtures.runs import untrained_run
from tests.fixtures.synthetic_shapes import (
    CLASSES,
    copy_with_pixel_moved,
    write_synthetic_dataset,
)

SETTINGS = AttackSettings(max_steps=3, per_class=1, thresholds=(0.2, 0.7), epsilons=(8,),
                          pgd_iterations=2, device="cpu")


def table1(metrics: dict) -> list:
    return metrics["table1"]


def retrain_to_call_everything_the_first_class(weights_file) -> None:
    """Other weights for a direct network: its last layer's bias now decides."""
    weights = torch.load(weights_file, weights_only=True)
    last_bias = [name for name, value in weights.items()
                 if name.endswith("bias") and value.shape == (len(CLASSES),)][-1]
    weights[last_bias] = torch.tensor([1e4, 0.0, 0.0, 0.0])
    torch.save(weights, weights_file)


def test_a_report_on_other_data_or_weights_recomputes_its_clean_decisions(tmp_path):
    run = untrained_run(tmp_path / "run", CLASSES)
    seven = write_synthetic_dataset(tmp_path / "seven", per_class=2, test_per_class=6, seed=7)
    eight = write_synthetic_dataset(tmp_path / "eight", per_class=2, test_per_class=6, seed=8)
    out = tmp_path / "report"
    write_report(run, seven, out, SETTINGS)
    on_eight = write_report(run, eight, out, SETTINGS)
    assert table1(on_eight) == table1(write_report(run, eight, tmp_path / "fresh", SETTINGS))
    # A retrained network: its decisions are made again, not read from the cache.
    direct = run / "direct" / "weights.pt"
    retrain_to_call_everything_the_first_class(direct)
    retrained = write_report(run, eight, out, SETTINGS)
    fresh = write_report(run, eight, tmp_path / "fresh2", SETTINGS)
    assert retrained["confusion"] == fresh["confusion"] != on_eight["confusion"]


def test_attack_records_are_tied_to_their_data_and_weights(tmp_path):
    run = untrained_run(tmp_path / "run", CLASSES)
    seven = write_synthetic_dataset(tmp_path / "seven", per_class=2, test_per_class=3, seed=7)
    eight = write_synthetic_dataset(tmp_path / "eight", per_class=2, test_per_class=3, seed=8)
    run_attack(run, seven, "ifgsm", SETTINGS, networks=("direct",))
    with pytest.raises(UserError, match="other data"):
        run_attack(run, eight, "ifgsm", SETTINGS, networks=("direct",))
    with pytest.raises(UserError, match="other data"):
        write_report(run, eight, tmp_path / "report", SETTINGS)
    retrain_to_call_everything_the_first_class(run / "direct" / "weights.pt")
    with pytest.raises(UserError, match="records of direct were made with other weights"):
        run_attack(run, seven, "ifgsm", SETTINGS, networks=("direct",))
    with pytest.raises(UserError, match="records of direct were made with other weights"):
        write_report(run, seven, tmp_path / "report", SETTINGS)


def test_a_damaged_shard_or_record_table_is_an_error_naming_it(tmp_path):
    run = untrained_run(tmp_path / "run", CLASSES)
    data = write_synthetic_dataset(tmp_path / "data", per_class=2, test_per_class=3)
    run_attack(run, data, "ifgsm", SETTINGS, networks=("direct",))
    unit = sorted((run / "attacks" / "ifgsm").glob("*.json"))[0]
    text = unit.read_text()
    unit.write_text(text[: len(text) // 2])
    with pytest.raises(UserError, match=f"{unit}.*damaged"):
        write_report(run, data, tmp_path / "report", SETTINGS)
    unit.write_text(text)
    shard = data / read_manifest(data).splits["test"].shards[0].file
    raw = bytearray(shard.read_bytes())
    middle = len(raw) // 2
    raw[middle:middle + 100] = bytes(byte ^ 0xFF for byte in raw[middle:middle + 100])
    shard.write_bytes(bytes(raw))
    for command in (lambda: write_report(run, data, tmp_path / "report", SETTINGS),
                    lambda: run_attack(run, data, "pgd", SETTINGS, networks=("direct",))):
        with pytest.raises(UserError, match=f"{shard}: sha256 differs"):
            command()


def test_a_failed_command_writes_no_lock_and_a_second_attack_waits_for_the_first(tmp_path):
    run = untrained_run(tmp_path / "run", CLASSES)
    data = write_synthetic_dataset(tmp_path / "data", per_class=2, test_per_class=3)
    lock = run / "attacks" / "settings.json"
    with pytest.raises(UserError, match="tpu"):
        run_attack(run, data, "ifgsm", AttackSettings(device="tpu"), networks=("direct",))
    other = write_synthetic_dataset(tmp_path / "other", per_class=2, test_per_class=3)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["classes"] = ["cube", "ball", "cone", "none"]
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError):
        run_attack(run, other, "ifgsm", SETTINGS, networks=("direct",))
    assert not lock.exists()
    # Two attacks at once: the second waits while the first holds the lock, then finds the
    # first's settings and is refused.
    outcome = {}

    def second() -> None:
        try:
            lock_settings(run, AttackSettings(max_steps=6))
            outcome["second"] = "locked"
        except UserError as error:
            outcome["second"] = str(error)

    lock_settings(run, AttackSettings(max_steps=5))
    with held_lock(lock.with_name("settings.json.lock")):  # as the first does while it checks
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # waiting
    thread.join()
    assert "max_steps 5 -> 6" in outcome["second"]
    assert json.loads(lock.read_text())["max_steps"] == 5


def test_a_killed_eval_leaves_no_report_that_looks_whole(tmp_path):
    run = untrained_run(tmp_path / "run", CLASSES)
    data = write_synthetic_dataset(tmp_path / "data", per_class=2, test_per_class=3)
    out = tmp_path / "report"
    write_report(run, data, out, SETTINGS)
    assert (out / "report.md").is_file()
    # The next eval dies while drawing its figures (here: a folder where a figure goes).
    (out / "confusion.png").unlink()
    (out / "confusion.png").mkdir()
    with pytest.raises(OSError):
        write_report(run, data, out, SETTINGS)
    assert not (out / "report.md").exists() and not (out / "metrics.json").exists()


def test_a_first_attack_may_use_other_data_than_the_training_data(tmp_path):
    run = untrained_run(tmp_path / "run", CLASSES)
    seven = write_synthetic_dataset(tmp_path / "seven", per_class=2, test_per_class=3, seed=7)
    config = json.loads((run / "direct" / "config.json").read_text())
    (run / "direct" / "config.json").write_text(json.dumps({**config,
                                                            "data_fingerprint": "trained-on"}))
    run_attack(run, seven, "ifgsm", SETTINGS, networks=("direct",))
    assert json.loads((run / "attacks" / "settings.json").read_text())["data"] != "trained-on"


def test_an_older_lock_takes_other_data_only_where_its_records_show_they_were_made_on_it(
        tmp_path):
    # A lock from before locks named their data, on networks whose training data has another
    # digest (the same renders can differ across machines in samples no record touches).
    run = untrained_run(tmp_path / "run", CLASSES)
    seven = write_synthetic_dataset(tmp_path / "seven", per_class=2, test_per_class=3, seed=7)
    eight = write_synthetic_dataset(tmp_path / "eight", per_class=2, test_per_class=3, seed=8)
    run_attack(run, seven, "ifgsm", SETTINGS, networks=("direct",))
    lock_file = run / "attacks" / "settings.json"
    made_on = json.loads(lock_file.read_text())
    lock_file.write_text(json.dumps({k: v for k, v in made_on.items() if k != "data"}))
    config = json.loads((run / "direct" / "config.json").read_text())
    (run / "direct" / "config.json").write_text(json.dumps({**config,
                                                            "data_fingerprint": "trained-on"}))
    records = [r for r in json.loads(next((run / "attacks" / "ifgsm").glob("*.json"))
                                     .read_text())["records"] if "image_file" in r]
    assert records  # the check has adversarials to look at
    with pytest.raises(UserError, match="not at its recorded distance"):
        run_attack(run, eight, "ifgsm", SETTINGS, networks=("direct",))
    # A report checks the same way, and writes no lock.
    with pytest.raises(UserError, match="not at its recorded distance"):
        write_report(run, eight, tmp_path / "report-eight", SETTINGS)
    write_report(run, seven, tmp_path / "report", SETTINGS)
    assert "data" not in json.loads(lock_file.read_text())
    run_attack(run, seven, "ifgsm", SETTINGS, networks=("direct",))
    assert json.loads(lock_file.read_text())["data"] == made_on["data"]


def test_a_lock_takes_other_data_where_its_records_show_the_test_images_are_the_same(
        tmp_path, capsys):
    run = untrained_run(tmp_path / "run", CLASSES)
    data = write_synthetic_dataset(tmp_path / "data", per_class=2, test_per_class=3)
    run_attack(run, data, "ifgsm", SETTINGS, networks=("direct",))
    lock_file = run / "attacks" / "settings.json"
    made_on = json.loads(lock_file.read_text())["data"]
    shown = {r["source"] for r in record_table(run, "ifgsm").read() if "image_file" in r}
    assert shown  # the records have adversarials to show their images by

    # Another train split: the records' images agree, so the attack goes on, tied to the
    # data they were made on; the lock lists the data it was shown to agree with.
    other_train = copy_with_pixel_moved(data, tmp_path / "other-train", "train", 0)
    run_attack(run, other_train, "ifgsm", SETTINGS, networks=("direct-param",))
    lock = json.loads(lock_file.read_text())
    assert lock["data"] == made_on
    assert lock["data_records_agree_with"] == [data_fingerprint(other_train)] != [made_on]
    assert {r["network"] for r in record_table(run, "ifgsm").read()} == {"direct",
                                                                         "direct-param"}
    provenance = write_report(run, other_train, tmp_path / "report", SETTINGS)["provenance"]
    assert (provenance["data_sha256"], provenance["records_data_sha256"]) == (
        data_fingerprint(other_train), made_on)
    # Test images no stored adversarial shows are named (units on them use this data).
    run_attack(run, other_train, "ifgsm", SETTINGS, networks=("direct",))
    assert "have no stored adversarial to show they are the same" in capsys.readouterr().err
    # A test image a record was made from, one grey level off: refused, attack and report.
    other_test = copy_with_pixel_moved(data, tmp_path / "other-test", "test", min(shown))
    with pytest.raises(UserError, match="not at its recorded distance"):
        run_attack(run, other_test, "ifgsm", SETTINGS, networks=("direct",))
    with pytest.raises(UserError, match="not at its recorded distance"):
        write_report(run, other_test, tmp_path / "report-other", SETTINGS)


def test_attacks_and_reports_go_on_over_a_copy_of_the_test_split(tmp_path):
    # As on a GPU box without Blender: the run's records were made on DATA, the next attack
    # and the report read a copy of DATA's test split alone (`mindseye dataset copy`).
    run = untrained_run(tmp_path / "run", CLASSES)
    data = write_synthetic_dataset(tmp_path / "data", per_class=2, test_per_class=3)
    run_attack(run, data, "ifgsm", SETTINGS, networks=("direct",))
    copy = tmp_path / "copy"
    result = CliRunner().invoke(main, ["dataset", "copy", str(data), str(copy)])
    assert result.exit_code == 0, result.output
    assert not (copy / "train").exists()
    run_attack(run, copy, "ifgsm", SETTINGS, networks=("direct-param",))  # the lock takes it
    assert {record["network"] for record in record_table(run, "ifgsm").read()} == {
        "direct", "direct-param"}
    write_report(run, copy, tmp_path / "report", SETTINGS)
