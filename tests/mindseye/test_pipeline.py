"""`mindseye pipeline`: bad options fail before any work; stage timings add up over resumes and a
corrupt timings file is named."""

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mindseye.cli import main
from mindseye.core.errors import UserError
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


def test_bad_folders_or_a_bad_seed_fail_before_rendering(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for option in ("--out", "--data"):
        other = "--data" if option == "--out" else "--out"
        result = CliRunner().invoke(main, ["pipeline", option, str(a_file),
                                           other, str(tmp_path / "elsewhere")])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and option in result.output
        assert "a-file" in result.output
    # A run folder that cannot be made (under a file) is named before the render begins.
    result = CliRunner().invoke(main, ["pipeline", "--out", str(a_file / "run"),
                                       "--data", str(tmp_path / "data")])
    assert result.exit_code == 2 and f"--out {a_file / 'run'}: cannot create it" in result.output
    result = CliRunner().invoke(main, ["pipeline", "--seed", str(2**32), "--out",
                                       str(tmp_path / "run"), "--data", str(tmp_path / "data")])
    assert result.exit_code == 2 and "Invalid value for '--seed'" in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file"]


def test_a_corrupt_timings_file_is_named_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / TIMINGS).write_text("{")
    with (pytest.raises(UserError, match=f"{TIMINGS} is not valid JSON; delete it"),
          timed_stage(tmp_path, "render")):
        pass
