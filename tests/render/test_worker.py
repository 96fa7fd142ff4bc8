"""BlenderProcess: a real Blender child process rendering over pipes."""

import os
import signal
import sys

import numpy as np
import pytest

from render.blender import EngineSettings
from render.worker import BlenderProcess

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
        "from render.blender import Renderer, EngineSettings\n"
        "r = Renderer(EngineSettings(samples=2)); r.load_object(sys.argv[1], sys.argv[2])\n"
        "pickle.dump(r.render_rotations(np.array(eval(sys.argv[3]))), out)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *suzanne_blend, repr(ROTATIONS.tolist())],
        check=True, stdout=subprocess.PIPE, cwd=PROJECT_ROOT,
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
        "import sys, render.worker, render.blender\n"
        "assert not {'bpy', 'torch'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", check], check=True)


def test_recycling_after_max_frames_gives_identical_pixels(suzanne_blend, in_process_render):
    with BlenderProcess(FAST, max_frames=2) as blender:
        blender.render(*suzanne_blend, ROTATIONS[:2])
        first_child = blender.pid
        objects, alphas = blender.render(*suzanne_blend, ROTATIONS)
        assert blender.pid != first_child  # the first child had no frames left
    np.testing.assert_array_equal(objects, in_process_render[0])
    np.testing.assert_array_equal(alphas, in_process_render[1])


def test_a_killed_child_is_restarted(suzanne_blend, in_process_render):
    with BlenderProcess(FAST) as blender:
        blender.render(*suzanne_blend, ROTATIONS[:1])
        killed = blender.pid
        os.kill(killed, signal.SIGKILL)
        objects, _ = blender.render(*suzanne_blend, ROTATIONS)
        assert blender.pid != killed
    np.testing.assert_array_equal(objects, in_process_render[0])


def test_errors_in_the_child_reach_the_parent(blender, suzanne_blend):
    from mindseye.errors import UserError

    with pytest.raises(UserError, match="no object named"):
        blender.render(suzanne_blend[0], "NoSuchObject", ROTATIONS[:1])
    objects, _ = blender.render(*suzanne_blend, ROTATIONS[:1])  # and the child carries on
    assert objects.any()
