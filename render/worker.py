"""Blender in a child process: one per worker, many frames each, recycled after `max_frames`.

The parent (`BlenderProcess`) never imports bpy. It starts `python -m mindseye.render.worker`, sends
pickled requests (small dicts of numpy arrays) on the child's stdin and reads pickled replies
from a pipe of their own. The child's stdout and stderr go to a log file: Blender prints some 30
status lines a frame from C code, which would flood the terminal (and corrupt a protocol on
stdout). When a child fails, the end of its log is part of the error.

The parent owns a folder per child (in /dev/shm) that holds the child's frame file and log, and
removes it when the child is closed or replaced, so a killed child leaves nothing behind.

Recycling bounds memory: a Blender process that renders for hours slowly grows, so the child is
replaced after `max_frames` frames (and transparently restarted if it died).

Nothing outlives the job. A local worker process of the job (joblib's; `end_with_parent`) and
every Blender child watch their parent: when it dies, by any signal, kill -9 included, the
worker kills its Blender children and removes their folders, the child removes its own folder,
and both exit within about a second. The job's own process is not watched: its parent is the
user's shell.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import shutil
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mindseye.core.errors import UserError
from mindseye.core.files import disk_is_full
from mindseye.render.blender import EngineSettings, frame_file_dir, make_frame_dir

# Frames a child renders before it is replaced by a fresh one.
DEFAULT_MAX_FRAMES = 5000
# Seconds between two looks at whether the parent is still alive.
ORPHAN_POLL_SECONDS = 0.5
# Lines of the child's log quoted when it fails.
LOG_LINES_IN_ERRORS = 20


class BlenderProcess:
    """A Blender child process that renders rotations of objects on request."""

    def __init__(
        self, settings: EngineSettings | None = None, max_frames: int = DEFAULT_MAX_FRAMES
    ) -> None:
        self.settings = settings or EngineSettings()
        self.max_frames = max_frames
        self._child: subprocess.Popen | None = None
        self._replies = None
        self._log = None
        self._folder: str | None = None
        self._frames = 0
        _running.add(self)

    def render(
        self, blend_file: str | Path, object_name: str, rotations: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Render `object_name` from `blend_file` at each rotation (n, 3): (object, alpha) uint8.

        Requests longer than the frames left before recycling are split across children.
        A child that dies mid-request is restarted and the request retried once.
        """
        rotations = np.asarray(rotations, dtype=np.float64).reshape(-1, 3)
        objects, alphas = [], []
        start = 0
        while start < len(rotations) or not objects:
            if self._child is not None and self._frames >= self.max_frames:
                self.close()
            chunk = rotations[start : start + self.max_frames - self._frames]
            object_chunk, alpha_chunk = self._render_with_retry(blend_file, object_name, chunk)
            objects.append(object_chunk)
            alphas.append(alpha_chunk)
            start += len(chunk)
        return np.concatenate(objects), np.concatenate(alphas)

    def close(self) -> None:
        """Stop the child (it exits when its stdin closes) and remove its folder."""
        if self._child is None:
            return
        child, self._child = self._child, None
        try:
            child.stdin.close()
            child.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            child.kill()
            child.wait()
        self._replies.close()
        self._log.close()
        shutil.rmtree(self._folder, ignore_errors=True)
        self._folder = None
        self._frames = 0

    def kill(self) -> None:
        """Kill the child at once and remove its folder (no time for a clean close)."""
        if self._child is not None:
            self._child.kill()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        """The child's process id, or None when no child runs."""
        return self._child.pid if self._child is not None else None

    @property
    def folder(self) -> str | None:
        """The folder of the child's frame file and log, or None when no child runs."""
        return self._folder

    def __enter__(self) -> BlenderProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _render_with_retry(self, blend_file, object_name, rotations):
        # Absolute, so that the child's working directory does not matter.
        request = {"blend_file": str(Path(blend_file).resolve()), "object_name": object_name}
        for attempt in (1, 2):
            if self._child is None or self._child.poll() is not None:
                self._restart()
            try:
                reply = self._ask({**request, "rotations": rotations})
            except (BrokenPipeError, EOFError, pickle.UnpicklingError) as error:
                if attempt == 2:
                    frames = Path(frame_file_dir()) / "frame"
                    if disk_is_full(frames):
                        raise UserError(f"{frames.parent}: the file system of Blender's frames "
                                        "is full; free some space there and run the command "
                                        "again (it resumes)") from error
                    raise RuntimeError(
                        f"Blender worker died twice rendering {object_name} from {blend_file}"
                        f" (exit code {self._child.wait()}); the end of its log:\n"
                        + self._log_tail()
                    ) from error
                self._restart()
                continue
            if "error" in reply:
                raise reply["error"]
            self._frames += len(rotations)
            return reply["object"], reply["alpha"]
        raise AssertionError("unreachable")

    def _ask(self, request: dict) -> dict:
        pickle.dump(request, self._child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self._child.stdin.flush()
        reply = pickle.load(self._replies)
        # The log need only explain a failure since the last reply: keep it from growing for
        # hours. (The child writes in append mode, so it carries on at the new end.)
        self._log.truncate(0)
        return reply

    def _log_tail(self) -> str:
        with open(self._log.name, errors="replace") as log:
            return "".join(deque(log, maxlen=LOG_LINES_IN_ERRORS))

    def _restart(self) -> None:
        if self._child is not None:
            self._child.kill()
            self.close()
        self._folder = make_frame_dir()
        # Closed in close(), with the child that writes to it.
        self._log = open(os.path.join(self._folder, "blender.log"), "ab")  # noqa: SIM115
        read_end, write_end = os.pipe()
        # The child imports this package as the parent did, installed or from a checkout: the
        # folder that holds the `mindseye` package goes first on its path.
        project_root = str(Path(importlib.util.find_spec("mindseye").origin).resolve().parents[1])
        python_path = os.pathsep.join(filter(None, [project_root, os.environ.get("PYTHONPATH")]))
        self._child = subprocess.Popen(
            [sys.executable, "-m", "mindseye.render.worker", str(write_end), self._folder],
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=self._log,
            pass_fds=(write_end,),
            # Blender makes its session folder (blender_*) under TMPDIR and leaves it behind when
            # killed; inside our folder it goes when the folder does.
            env={**os.environ, "PYTHONPATH": python_path, "TMPDIR": self._folder},
        )
        os.close(write_end)
        self._replies = os.fdopen(read_end, "rb")
        pickle.dump(self.settings, self._child.stdin)
        self._child.stdin.flush()
        self._frames = 0


# Every BlenderProcess of this process, for the orphan watch to kill.
_running: weakref.WeakSet[BlenderProcess] = weakref.WeakSet()
_watching: list[int] = []  # the process id that started the watch (a fork starts its own)


def exit_when_orphaned(cleanup: Callable[[], None]) -> None:
    """Watch, from a daemon thread, whether this process's parent has died (the process is then
    adopted, and its parent id changes): then run `cleanup` and exit at once. Once a process."""
    if _watching and _watching[0] == os.getpid():
        return
    _watching[:] = [os.getpid()]
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_POLL_SECONDS)
        try:
            cleanup()
        finally:
            os._exit(1)

    threading.Thread(target=watch, name="exit-when-orphaned", daemon=True).start()


def end_with_parent() -> None:
    """For a worker process of a render job: when its parent dies, kill this process's Blender
    children, remove their folders and exit."""
    exit_when_orphaned(_kill_children)


def _kill_children() -> None:
    for process in list(_running):
        process.kill()


# Per thread: a Dask worker may run several tasks at once in threads, and two threads talking
# to one child at the same time would interleave their requests.
_shared = threading.local()


def shared_blender_process(settings: EngineSettings | None = None) -> BlenderProcess:
    """This thread's long-lived BlenderProcess for `settings` (one per joblib/dask worker)."""
    settings = settings or EngineSettings()
    processes: dict[EngineSettings, BlenderProcess] = _shared.__dict__.setdefault("processes", {})
    if settings not in processes:
        processes[settings] = BlenderProcess(settings)
    return processes[settings]


def close_shared_blender_processes() -> None:
    """Close this thread's long-lived BlenderProcesses; the next render starts fresh ones, in
    the environment of then (the test suite's Blender guard, a long-lived notebook)."""
    processes: dict[EngineSettings, BlenderProcess] = _shared.__dict__.get("processes", {})
    while processes:
        processes.popitem()[1].close()  # one by one: a close that fails leaves the rest listed


def _serve(reply_fd: int, frame_dir: str) -> None:
    """The child's loop: EngineSettings first, then one reply per request until stdin closes."""
    replies = os.fdopen(reply_fd, "wb")
    requests = sys.stdin.buffer
    # A parent killed before it could close this child: the child removes its folder and goes.
    exit_when_orphaned(lambda: shutil.rmtree(frame_dir, ignore_errors=True))

    from mindseye.render.blender import Renderer

    renderer = Renderer(pickle.load(requests), frame_dir)
    try:
        while True:
            try:
                request = pickle.load(requests)
            except EOFError:
                return
            try:
                renderer.load_object(request["blend_file"], request["object_name"])
                objects, alphas = renderer.render_rotations(request["rotations"])
                reply = {"object": objects, "alpha": alphas}
            except Exception as error:  # sent to the parent, which raises it
                reply = {"error": error}
            pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
            replies.flush()
    finally:
        renderer.close()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2])
