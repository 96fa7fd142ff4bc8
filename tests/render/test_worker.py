"""BlenderProcess: a real Blender child process rendering over pipes."""

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from mindseye.render.blender import EngineSettings, frame_file_dir, make_frame_dir
from mindseye.render.worker import (
    BlenderProcess,
    close_shared_blender_processes,
    shared_blender_process,
)
from tests.fixtures.environment import child_env

pytestmark = pytest.mark.blender

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAST = EngineSettings(samples=2)
ROTATIONS = np.random.default_rng(7).uniform(-0.5, 0.5, (3, 3))


@pytest.fixture(scope="module")
def in_process_render(suzanne_blend):
    """The same frames from a Renderer in a plain `python -c` (this process stays bpy-free)."""
    import pickle
    import subprocess

    script = (
        "import os, pickle, sys, numpy as np\n"
        "out = os.fdopen(os.dup(1), 'wb'); os.dup2(2, 1)\n"
        "from mindseye.render.blender import Renderer, EngineSettings\n"
        "r = Renderer(EngineSettings(samples=2)); r.load_object(sys.argv[1], sys.argv[2])\n"
        "pickle.dump(r.render_rotations(np.array(eval(sys.argv[3]))), out)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *suzanne_blend, repr(ROTATIONS.tolist())],
        check=True, stdout=subprocess.PIPE, cwd=PROJECT_ROOT, env=child_env(),
    )
    return pickle.loads(result.stdout)


@pytest.fixture(scope="module")
def blender():
    with BlenderProcess(FAST) as process:
        yield process


def test_child_renders_what_the_in_process_renderer_renders(
    blender, suzanne_blend, in_process_render
):
    objects, alphas = blender.render(*suzanne_blend, ROTATIONS)
    np.testing.assert_array_equal(objects, in_process_render[0])
    np.testing.assert_array_equal(alphas, in_process_render[1])


def test_the_parent_side_loads_neither_bpy_nor_torch():
    import subprocess

    check = (
        "import sys, mindseye.render.worker, mindseye.render.blender\n"
        "assert not {'bpy', 'torch'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", check], check=True, env=child_env())


def test_recycling_after_max_frames_gives_identical_pixels(suzanne_blend, in_process_render):
    with BlenderProcess(FAST, max_frames=2) as blender:
        blender.render(*suzanne_blend, ROTATIONS[:2])
        first_child = blender.pid
        objects, alphas = blender.render(*suzanne_blend, ROTATIONS)
        assert blender.pid != first_child  # the first child had no frames left
    np.testing.assert_array_equal(objects, in_process_render[0])
    np.testing.assert_array_equal(alphas, in_process_render[1])


def test_a_killed_child_is_restarted_and_its_folder_removed(suzanne_blend, in_process_render):
    with BlenderProcess(FAST) as blender:
        blender.render(*suzanne_blend, ROTATIONS[:1])
        killed, killed_folder = blender.pid, blender.folder
        # Blender's own session folder lives in ours, so it goes with it.
        assert list(Path(killed_folder).glob("blender_*"))
        os.kill(killed, signal.SIGKILL)
        objects, _ = blender.render(*suzanne_blend, ROTATIONS)
        assert blender.pid != killed
        assert not os.path.exists(killed_folder)
        assert os.path.isdir(blender.folder)
    np.testing.assert_array_equal(objects, in_process_render[0])


def test_blenders_messages_go_to_a_log_that_close_removes(suzanne_blend, capfd):
    with BlenderProcess(FAST) as blender:
        blender.render(*suzanne_blend, ROTATIONS[:2])
        folder = blender.folder
        # Emptied after each reply: it only needs to explain a failure (next test).
        assert Path(folder, "blender.log").is_file()
    assert not os.path.exists(folder)
    captured = capfd.readouterr()
    assert "Fra:" not in captured.out + captured.err


def test_a_child_that_cannot_start_reports_the_end_of_its_log(suzanne_blend):
    blender = BlenderProcess(EngineSettings(engine="NO_SUCH_ENGINE"))
    # The child's traceback (in its log) names the bad value.
    with blender, pytest.raises(RuntimeError, match="died twice(.|\n)*NO_SUCH_ENGINE"):
        blender.render(*suzanne_blend, ROTATIONS[:1])


def test_frame_folders_of_dead_owners_are_removed_when_a_new_one_is_made():
    finished = subprocess.Popen([sys.executable, "-c", "pass"], env=child_env())
    finished.wait()
    dead = Path(frame_file_dir(), f"mindseye-frames-{finished.pid}-test")
    alive = Path(frame_file_dir(), f"mindseye-frames-{os.getpid()}-test")
    dead.mkdir()
    alive.mkdir()
    try:
        new = make_frame_dir()
        assert not dead.exists()
        assert alive.is_dir()
        assert Path(new).is_dir() and Path(new).name.startswith(f"mindseye-frames-{os.getpid()}-")
        os.rmdir(new)
    finally:
        alive.rmdir()


def test_each_thread_gets_its_own_shared_blender_process():
    mine = shared_blender_process(FAST)
    assert shared_blender_process(FAST) is mine
    others = []
    thread = threading.Thread(target=lambda: others.append(shared_blender_process(FAST)))
    thread.start()
    thread.join()
    assert others[0] is not mine


def test_closed_shared_processes_are_replaced_by_fresh_ones(suzanne_blend):
    old = shared_blender_process(FAST)
    old.render(*suzanne_blend, ROTATIONS[:1])
    assert old.pid is not None
    close_shared_blender_processes()
    assert old.pid is None  # its child is gone
    new = shared_blender_process(FAST)
    assert new is not old
    new.render(*suzanne_blend, ROTATIONS[:1])
    assert new.pid is not None


def test_a_model_file_changed_at_its_path_is_drawn_anew(tmp_path, suzanne_blend,
                                                         small_suzanne_blend):
    # A class added again with --overwrite keeps its path; a long-lived child must notice.
    path = tmp_path / "model.blend"
    blender = BlenderProcess(FAST)
    try:
        shutil.copy(suzanne_blend[0], path)
        _, large = blender.render(path, "Monkey", ROTATIONS[:1])
        shutil.copy(small_suzanne_blend[0], path)
        _, small = blender.render(path, "Monkey", ROTATIONS[:1])
    finally:
        blender.close()
    assert (small > 0).sum() < 0.5 * (large > 0).sum()  # half the size: a quarter of the area


def test_errors_in_the_child_reach_the_parent(blender, suzanne_blend):
    from mindseye.core.errors import UserError

    with pytest.raises(UserError, match="no object named"):
        blender.render(suzanne_blend[0], "NoSuchObject", ROTATIONS[:1])
    objects, _ = blender.render(*suzanne_blend, ROTATIONS[:1])  # and the child carries on
    assert objects.any()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux /proc")
def test_a_child_waiting_for_work_uses_no_cpu(suzanne_blend):
    # Cycles' persistent session used to spin a core between requests, starving the parent.
    import time

    with BlenderProcess(FAST) as blender:
        blender.render(*suzanne_blend, ROTATIONS)
        before = _cpu_seconds(blender.pid)
        time.sleep(2)
        assert _cpu_seconds(blender.pid) - before < 0.3
