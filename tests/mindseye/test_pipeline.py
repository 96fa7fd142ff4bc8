"""`mindseye pipeline`: bad options fail before any work; stage timings add up over resumes."""

import json
import time
from pathlib import Path

from click.testing import CliRunner

from mindseye.cli import main
from mindseye.pipeline import TIMINGS, timed_stage


def test_an_unknown_attack_fails_before_rendering(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["pipeline", "--attack", "fgsm", "--out",
                                       str(tmp_path / "run"), "--data", str(tmp_path / "data")])
    assert result.exit_code == 2
    assert "--attack 'fgsm': unknown" in result.output
    assert list(tmp_path.iterdir()) == []


def test_stage_timings_add_up_over_resumed_runs(tmp_path: Path) -> None:
    for _ in range(2):
        with timed_stage(tmp_path, "render"):
            time.sleep(0.15)
    with timed_stage(tmp_path, "report"):
        pass
    timings = json.loads((tmp_path / TIMINGS).read_text())
    assert timings["render"] >= 0.3 and timings["report"] < 0.1


def test_a_running_stage_adds_its_time_before_it_ends(tmp_path: Path) -> None:
    # What a run killed mid-stage keeps: the time written so far.
    with timed_stage(tmp_path, "attack ifgsm", every=0.05):
        time.sleep(0.4)
        so_far = json.loads((tmp_path / TIMINGS).read_text())["attack ifgsm"]
    assert so_far >= 0.2
    assert json.loads((tmp_path / TIMINGS).read_text())["attack ifgsm"] >= 0.4
