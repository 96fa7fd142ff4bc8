"""A run folder of real (freshly initialised) networks, attacked and reported on, once per module
that asks for it. The numbers are meaningless; the bookkeeping is what the eval tests check."""

from pathlib import Path

import pytest
import torch

from attacks.experiments import run_attack
from attacks.settings import AttackSettings
from eval.report import write_report
from tests.attacks.test_cli import untrained_run
from tests.models.synthetic import CLASSES, write_synthetic_dataset

torch.set_num_threads(1)  # the suites share 2 cores; see tests/attacks/conftest.py

SETTINGS = AttackSettings(max_steps=3, per_class=1, thresholds=(0.2, 0.7), epsilons=(8,),
                          pgd_iterations=2)


@pytest.fixture(scope="session")
def reported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reported")
    data = write_synthetic_dataset(root / "data", per_class=4, test_per_class=6)
    run = untrained_run(root / "run", CLASSES)
    for attack in ("ifgsm", "pgd"):
        run_attack(run, data, attack, SETTINGS)
    write_report(run, data, root / "report", SETTINGS)
    return {"data": data, "run": run, "report": root / "report"}
