"""The design document covers what users may rely on: every registered attack (its table in the
registry's order), every option of `mindseye attack`, and every setting the attack lock
records."""

import re

from mindseye.attacks.cli import attack
from mindseye.attacks.registry import attack_names, attack_specs
from mindseye.attacks.settings import RECORDED_SETTINGS
from tests.fixtures.environment import PROJECT_ROOT

DESIGN = PROJECT_ROOT / "docs" / "design.md"


def documented_names() -> set[str]:
    """Every `code span` of docs/design.md (fenced blocks left out), split at commas and
    spaces."""
    text = re.sub(r"^```.*?^```", "", DESIGN.read_text(), flags=re.M | re.S)
    spans = re.findall(r"`([^`\n]+)`", text)
    return {word for span in spans for word in re.split(r"[\s,|]+", span) if word}


def test_every_registered_attack_is_in_the_design():
    missing = set(attack_names()) - documented_names()
    assert not missing, f"attacks missing from docs/design.md: {sorted(missing)}"


def test_every_attack_option_is_in_the_design():
    options = {name for parameter in attack.params for name in parameter.opts
               if name.startswith("--")}
    missing = options - documented_names()
    assert not missing, f"`mindseye attack` options missing from docs/design.md: {sorted(missing)}"


def test_every_locked_setting_is_in_the_design():
    missing = set(RECORDED_SETTINGS) - documented_names()
    assert not missing, f"locked settings missing from docs/design.md: {sorted(missing)}"


def test_the_attack_table_is_the_registry_in_order():
    """docs/design.md's table of attacks: one row per registered attack, in the registry's
    order, each with its kind, and the sentence above it counting them."""
    text = DESIGN.read_text()
    rows = re.findall(r"^\s*\| `([^`]+)` \| (\w+) \|", text, flags=re.M)
    specs = attack_specs()
    assert rows == [(spec.name, spec.kind) for spec in specs]
    assert f"The registry holds these {len(specs)}, in this order." in text
