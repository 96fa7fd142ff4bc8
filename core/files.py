"""Writing files so that a kill at any moment leaves either the old file or the new one."""

import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mindseye.core.errors import UserError


@contextmanager
def atomic_path(path: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a sibling `<path>.partial-<writer><suffix>` to write; when the block succeeds it is
    fsynced and renamed onto `path`, and when it fails it is removed. The partial's name is this
    writer's own (process id and a random token), so two processes writing the same file (two
    attack processes finishing one unit) never write into each other's partial; the last rename
    wins, whole. `suffix` keeps an extension for writers that choose the format by it
    (matplotlib's savefig)."""
    path = Path(path)
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}-{secrets.token_hex(4)}{suffix}")
    try:
        yield partial
        descriptor = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(partial, path)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        # A full disk shows as ENOSPC, or as whatever the writer makes of a short write
        # (torch.save: "unexpected pos"): say what it is.
        if (isinstance(error, OSError) and error.errno == errno.ENOSPC) or (
                isinstance(error, RuntimeError) and disk_is_full(path)):
            raise UserError(f"{path}: the disk is full; free some space and run the command "
                            "again (it resumes where it stopped)") from error
        raise


# Below this much free space, a failed write is reported as a full disk.
FULL_DISK_BYTES = 16 << 20


def disk_is_full(path: Path) -> bool:
    """Whether the file system that holds (or would hold) `path` has almost no space left."""
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free < FULL_DISK_BYTES
    except OSError:
        return False


@contextmanager
def held_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if missing) for the block: a second
    process that asks waits until the first is done."""
    with _flock(path, wait=True):
        yield


@contextmanager
def lock_if_free(path: Path) -> Iterator[bool]:
    """An exclusive advisory lock on `path` (created if missing) for the block, if no other
    process holds one: yields whether this process got it. The kernel drops the lock of a
    process that dies, so a killed holder never blocks anyone. On a file system that cannot
    lock, yields True (every process works alone, as before locks existed)."""
    with _flock(path, wait=False) as mine:
        yield mine


@contextmanager
def _flock(path: Path, wait: bool) -> Iterator[bool]:
    """The one flock of `held_lock` and `lock_if_free`: yields whether the lock is held (False
    only without `wait`, when another process holds it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        except OSError as error:
            if error.errno not in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            # A shared file system without locks (some NFS, Lustre, FUSE mounts): go on
            # unlocked, as before locks existed, and say so.
            print(f"warning: {path}: this file system cannot lock files; do not start two "
                  "attacks on one run at the same moment", file=sys.stderr)
            yield True
            return
        try:
            yield True
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


CACHE_VARIABLE = "MINDSEYE_CACHE"


def user_cache_dir() -> Path:
    """Where mindseye keeps what it can rebuild (workers' shipped models, datasets'
    fingerprints): $MINDSEYE_CACHE, else $XDG_CACHE_HOME/mindseye, else ~/.cache/mindseye."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    cache_home = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache_home) if os.path.isabs(cache_home) else Path.home() / ".cache"
    return base / "mindseye"


def user_data_dir() -> Path:
    """Where mindseye keeps what a user installs (added classes, the photos set):
    $XDG_DATA_HOME/mindseye, else ~/.local/share/mindseye."""
    data_home = os.environ.get("XDG_DATA_HOME", "")
    # The XDG spec: a relative path in the variable is invalid and is ignored.
    base = Path(data_home) if os.path.isabs(data_home) else Path.home() / ".local" / "share"
    return base / "mindseye"


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as partial:
        partial.write_text(text)


def write_json_atomic(path: Path, data: object) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def read_json(path: Path, remedy: str) -> dict:
    """The JSON object in `path`; a `UserError` naming the file and `remedy` (what to do) if it
    cannot be read, is not valid JSON (a file cut short, or edited by hand) or holds no object."""
    try:
        document = json.loads(Path(path).read_text())
    except OSError as error:
        raise UserError(f"{path}: cannot read it ({error.strerror}); {remedy}") from None
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"{path} is not valid JSON; {remedy}") from None
    if not isinstance(document, dict):
        raise UserError(f"{path} does not hold a JSON object; {remedy}")
    return document


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_writable_folder(folder: Path, option: str) -> None:
    """Create `folder` for the command-line option `option`, or say in one line why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"{option} {folder}: cannot create it ({error.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise UserError(f"{option} {folder}: folder is not writable")
