"""Which settings `mindseye attack` uses on a run: the recorded ones, a preset's, the options'."""

import json
from dataclasses import fields

import pytest

from mindseye.attacks.settings import (
    ATTACK_PRESETS,
    RECORDED_SETTINGS,
    AttackSettings,
    attack_settings,
    lock_settings,
    settings_for_run,
)
from mindseye.core.constants import PRESETS
from mindseye.core.errors import UserError


def trained_with(run_dir, preset: str):
    (run_dir / "direct").mkdir(parents=True)
    (run_dir / "direct" / "config.json").write_text(json.dumps({"preset": preset}))
    return run_dir


def test_every_preset_has_attack_sizes_and_only_known_fields():
    assert tuple(ATTACK_PRESETS) == PRESETS
    names = {field.name for field in fields(AttackSettings)}
    assert set(RECORDED_SETTINGS) <= names


def test_a_fresh_run_takes_the_preset_it_was_trained_with(tmp_path):
    run = trained_with(tmp_path, "demo")
    assert settings_for_run(run, None) == ATTACK_PRESETS["demo"]
    assert settings_for_run(run, "medium") == ATTACK_PRESETS["medium"]
    chosen = settings_for_run(run, None, max_steps=7, epsilons=(4.0,))
    assert (chosen.max_steps, chosen.epsilons, chosen.per_class) == (7, (4.0,), 3)


def test_a_folder_without_networks_is_no_run_and_one_without_a_preset_needs_one(tmp_path):
    with pytest.raises(UserError, match="is not a run folder.*mindseye train all"):
        settings_for_run(tmp_path, None)
    (tmp_path / "direct").mkdir()
    (tmp_path / "direct" / "config.json").write_text(json.dumps({"network": "direct"}))
    with pytest.raises(UserError, match="no trained network says which preset.*give --preset"):
        settings_for_run(tmp_path, None)
    (tmp_path / "direct" / "config.json").write_text('{"network": "direct", "pres')
    with pytest.raises(UserError, match="direct/config.json is not valid JSON; restore it"):
        settings_for_run(tmp_path, None)


def test_an_attacked_run_keeps_its_recorded_settings(tmp_path):
    run = trained_with(tmp_path, "medium")  # trained as medium, attacked with demo sizes
    lock_settings(run, attack_settings("demo", device="cpu"))
    resumed = settings_for_run(run, None, device="cpu", batch_size=16)
    assert resumed == attack_settings("demo", device="cpu", batch_size=16)
    # Repeating a recorded value, or the preset that made them, is fine.
    assert settings_for_run(run, "demo", max_steps=100).max_steps == 100


@pytest.mark.parametrize(("preset", "given", "message"), [
    ("medium", {}, "max_steps 100 -> 1500"),
    (None, {"epsilons": (1.0, 2.0)}, "epsilons 2,8,32 -> 1,2"),
    (None, {"pgd_iterations": 20}, "pgd_iterations 5 -> 20"),
    ("demo", {"square_queries": 300}, "square_queries 25 -> 300"),
])
def test_an_option_that_contradicts_the_recorded_settings_is_refused(tmp_path, preset, given,
                                                                     message):
    run = trained_with(tmp_path, "demo")
    lock_settings(run, ATTACK_PRESETS["demo"])
    with pytest.raises(UserError, match=message):
        settings_for_run(run, preset, **given)


def test_the_gradient_precision_is_locked_and_older_locks_read_as_float32(tmp_path):
    run = trained_with(tmp_path, "demo")
    lock_settings(run, ATTACK_PRESETS["demo"])
    lock = run / "attacks" / "settings.json"
    older = {name: value for name, value in json.loads(lock.read_text()).items()
             if name != "gradient_precision"}
    lock.write_text(json.dumps(older))  # a lock written before the setting existed
    assert settings_for_run(run, None).gradient_precision == "float32"
    with pytest.raises(UserError, match="gradient_precision float32 -> bfloat16"):
        settings_for_run(run, None, gradient_precision="bfloat16")
