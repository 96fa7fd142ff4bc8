"""One import namespace: mindseye's packages are `mindseye.<name>`, so a user's folder holding
`models.py`, `eval/` or `dataset.py` (most research folders do) shadows nothing of ours."""

import subprocess
import sys
import tomllib
from pathlib import Path

from tests.fixtures.environment import PROJECT_ROOT, child_env
from tests.fixtures.runs import untrained_run
from tests.fixtures.synthetic_shapes import CLASSES

USER_SCRIPT = """
import sys, torch, mindseye
model = mindseye.load_classifier(sys.argv[1], "triple-staged", threshold=0.45, device="cpu")
print(model(torch.zeros(2, 1, 64, 64)).argmax(1).tolist())
import models, eval, dataset
print(models.MINE, eval.MINE, dataset.MINE)
"""


def test_a_users_models_eval_and_dataset_do_not_shadow_mindseyes(tmp_path: Path) -> None:
    run = untrained_run(tmp_path / "run", CLASSES)
    notebook = tmp_path / "notebook"
    (notebook / "eval").mkdir(parents=True)
    (notebook / "models.py").write_text("MINE = 'models.py'\n")
    (notebook / "eval" / "__init__.py").write_text("MINE = 'eval/'\n")
    (notebook / "dataset.py").write_text("MINE = 'dataset.py'\n")
    # As a user runs it: the installed package, nothing of the checkout on the path.
    environment = {name: value for name, value in child_env().items() if name != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", USER_SCRIPT, str(run)], cwd=notebook,
                          capture_output=True, text=True, env=environment, check=False)
    assert done.returncode == 0, done.stderr
    decisions, users = done.stdout.strip().splitlines()
    assert len(eval(decisions)) == 2
    assert users == "models.py eval/ dataset.py"
    # And `python -m mindseye` from there uses our eval, not the user's.
    help_text = subprocess.run([sys.executable, "-m", "mindseye", "eval", "--help"], cwd=notebook,
                               capture_output=True, text=True, env=environment, check=True)
    assert "report" in help_text.stdout


def test_a_wheel_holds_one_top_level_package() -> None:
    # What setuptools packs: every package under mindseye., each mapped to its folder here.
    tool = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(package.split(".")[0] == "mindseye" for package in tool["packages"])
    for package, folder in tool["package-dir"].items():
        assert package in tool["packages"] and (PROJECT_ROOT / folder / "__init__.py").is_file()
    folders = {path.parent.name for path in PROJECT_ROOT.glob("*/__init__.py")} - {"tests"}
    assert folders == set(tool["package-dir"].values())
