"""The attack registry: an attack declared in one place runs, resumes and reaches the report,
and nothing outside an attack's own module names it."""

import ast
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mindseye.attacks.base import IterativeAttack
from mindseye.attacks.experiments import record_table, run_attack
from mindseye.attacks.registry import (
    CASCADE,
    KINDS,
    TARGETED,
    TRANSFER,
    AttackSpec,
    attack_names,
    attack_specs,
    get_attack,
    register_attack,
    suite,
    unregister_attack,
)
from mindseye.attacks.settings import AttackSettings
from mindseye.cli import main
from mindseye.core.errors import UserError
from mindseye.eval.report import write_report
from tests.fixtures.environment import PROJECT_ROOT
from tests.fixtures.runs import untrained_run
from tests.fixtures.synthetic_shapes import CLASSES, write_synthetic_dataset

SETTINGS = AttackSettings(max_steps=4, per_class=2, extra_per_class=2, chunk=1,
                          thresholds=(0.2, 0.7), epsilons=(8,), pgd_iterations=2)
TOY = "toy-double-step"


class DoubleStep(IterativeAttack):
    """The paper's attack with two grey levels per step; `fail_on_run` makes one unit die."""

    def __init__(self, victim, max_steps: int, batch_size: int, fail: bool):
        super().__init__(victim, max_steps, batch_size)
        self.fail = fail

    def step(self, images, gradients, originals):
        return (images - 2 * gradients.sign()).clamp(0, 255)

    def run(self, images, targets, labels=None):
        if self.fail:
            raise KeyboardInterrupt("killed in the middle of a unit")
        return super().run(images, targets, labels)


@pytest.fixture()
def toy_attack():
    """A toy attack registered for one test; `built` counts the units it ran, `kill_at`
    interrupts the unit with that count."""
    state = {"built": 0, "kill_at": None}

    def build(victim, settings, variant=None):
        state["built"] += 1
        return DoubleStep(victim, settings.max_steps, settings.batch_size,
                          fail=state["built"] == state["kill_at"])

    register_attack(AttackSpec(name=TOY, kind=TARGETED, build=build, order=45,
                               clip="straight_through", summary="two grey levels per step"))
    yield state
    unregister_attack(TOY)


def test_a_toy_attack_runs_resumes_after_a_kill_and_reaches_the_report(tmp_path, toy_attack):
    data = write_synthetic_dataset(tmp_path / "data", per_class=4, test_per_class=6)
    run = untrained_run(tmp_path / "run", CLASSES)
    assert TOY in attack_names() and TOY in CliRunner().invoke(main, ["attack", "--help"]).output
    run_attack(run, data, get_attack("ifgsm").name, SETTINGS)
    toy_attack["kill_at"] = 3
    with pytest.raises(KeyboardInterrupt):
        run_attack(run, data, TOY, SETTINGS)
    table = record_table(run, TOY)
    finished = {path.name: path.stat().st_mtime_ns for path in table.folder.glob("*.json")}
    assert len(finished) == 2  # the two units before the kill
    toy_attack["kill_at"] = None
    result = CliRunner().invoke(main, ["attack", str(run), str(data), "--attack", TOY,
                                       "--device", "cpu"])
    assert result.exit_code == 0, result.output
    after = {path.name: path.stat().st_mtime_ns for path in table.folder.glob("*.json")}
    assert {name: after[name] for name in finished} == finished  # not redone
    records = table.read()
    units = {record["unit"] for record in records}
    assert len(after) == len(units) > 2 and {record["attack"] for record in records} == {TOY}
    # The same records as an uninterrupted run on a fresh copy.
    fresh = untrained_run(tmp_path / "fresh", CLASSES)
    run_attack(fresh, data, TOY, SETTINGS)
    strip = [{k: v for k, v in r.items() if k != "image_file"} for r in records]
    assert strip == [{k: v for k, v in r.items() if k != "image_file"}
                     for r in record_table(fresh, TOY).read()]
    metrics = write_report(run, data, tmp_path / "report", SETTINGS)
    assert TOY in metrics["effort"] and TOY in metrics["paired"]
    assert f"## Adversarial effort: {TOY}" in (tmp_path / "report" / "report.md").read_text()


def test_all_is_the_registered_suite_in_order_and_names_are_checked():
    names = [spec.name for spec in suite("all")]
    assert names[0] == "ifgsm" and names[-1] == "transfer"
    assert [spec.order for spec in suite("all")] == sorted(spec.order for spec in suite("all"))
    with pytest.raises(UserError, match="unknown; choose one of ifgsm"):
        get_attack("ifgsmm")
    with pytest.raises(ValueError, match="registered twice"):
        register_attack(replace(get_attack("pgd"), summary="another"))
    with pytest.raises(ValueError, match="kind"):
        AttackSpec(name="x", kind="sideways", summary="", order=1, build=lambda: None)
    with pytest.raises(ValueError, match="only a targeted attack takes None sources"):
        replace(get_attack("pgd"), none_sources=True)


def test_every_attack_builds_an_attack_with_its_own_arguments(trained_direct):
    from mindseye.attacks.base import Attack
    from mindseye.attacks.victims import DirectVictim

    victim = DirectVictim("direct", trained_direct, 3)
    for spec in attack_specs():
        if spec.kind == TARGETED:
            built = spec.build(victim, SETTINGS)
            assert built.max_steps >= 1
        elif spec.build is not None:
            built = spec.build(victim, None, 8.0, SETTINGS)
        else:
            continue
        assert isinstance(built, Attack), spec.name
    assert torch.is_grad_enabled()


def owner_modules() -> dict[str, str]:
    """Attack name -> the module file that registers it."""
    import sys

    # An attack that builds nothing (transfer, a cascade) is declared in its runner's module.
    runners = {TRANSFER: "mindseye.attacks.transfer", CASCADE: "mindseye.attacks.cascade"}
    return {spec.name: Path(sys.modules[spec.build.__module__ if spec.build else
                                        runners[spec.kind]].__file__).name
            for spec in attack_specs()}


def test_no_attack_name_is_typed_outside_its_own_module():
    owners = owner_modules()
    found = []
    for folder in ("core", "blender_assets", "dataset", "render", "models", "attacks", "eval",
                   "mindseye"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and node.value in owners
                        and not (folder == "attacks" and owners[node.value] == path.name)
                        # the registry's kinds: one of them is also the transfer attack's name
                        and not (path.name == "registry.py" and node.value in KINDS)
                        # adversarial training's recipes: one is named like the PGD attack
                        and not (path.relative_to(PROJECT_ROOT).as_posix()
                                 == "models/adversarial.py" and node.value == "pgd")):
                    found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} "
                                 f"{node.value!r}")
    assert not found, found


def test_the_settings_lock_names_each_recorded_setting_once():
    from mindseye.attacks.settings import RECORDED_SETTINGS

    assert len(set(RECORDED_SETTINGS)) == len(RECORDED_SETTINGS)
    assert json.dumps(RECORDED_SETTINGS)


def test_discovery_that_failed_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # An attack module whose import fails (a dependency missing) must not leave the registry
    # partial for the rest of the process: the next question imports every module again.
    from mindseye.attacks import registry

    real_import = registry.importlib.import_module
    asked: list[str] = []
    missing = {"mindseye.attacks.square"}

    def import_module(name: str, package: str | None = None):
        asked.append(name)
        if name in missing:
            raise ImportError(f"a dependency of {name} is missing")
        return real_import(name, package)

    monkeypatch.setattr(registry, "_discovered", False)
    monkeypatch.setattr(registry.importlib, "import_module", import_module)
    with pytest.raises(ImportError, match="square is missing"):
        attack_specs()
    missing.clear()  # installed now
    asked.clear()
    assert "square" in attack_names()
    assert "mindseye.attacks.square" in asked
