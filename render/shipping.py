"""The 3D models sent with a render to a cluster, whose workers need no access to the driver's
files: the driver reads every class's .blend once, and each worker writes the bytes to a local
cache keyed by their sha256, checking them first.

The cache folder: `$MINDSEYE_CACHE/models`, else `$XDG_CACHE_HOME/mindseye/models`
(`~/.cache/mindseye/models`). A file there is named by its own sha256, so two datasets, two
drivers or two threads that need the same model share one file, and a file is never changed in
place (a damaged one is replaced).
"""

import hashlib
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mindseye.blender_assets.registry import AssetClass
from mindseye.core.errors import UserError
from mindseye.core.files import CACHE_VARIABLE, atomic_path, file_sha256, user_cache_dir


@dataclass(frozen=True)
class ModelRef:
    """A class's model as a render job names it: its file on the driver, object and sha256."""

    name: str
    blend_file: str
    object_name: str
    sha256: str


def model_refs(assets: Iterable[AssetClass]) -> tuple[ModelRef, ...]:
    return tuple(ModelRef(a.name, str(a.blend_file), a.object_name, a.sha256) for a in assets)


def cache_dir() -> Path:
    """Where a worker keeps the models it was sent: $MINDSEYE_CACHE, else the XDG cache."""
    return user_cache_dir() / "models"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Cache files this process has checked (or written) since it started, by path: a later call
# may name another cache folder ($MINDSEYE_CACHE).
_checked: set[Path] = set()
_lock = threading.Lock()


class ModelShipment:
    """Every class's .blend bytes, read by the driver before any work is sent.

    Deliberately a plain object (not a dict): joblib's Dask backend sends it to each worker
    once (`scatter`) rather than with every shard.
    """

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs  # sha256 -> the .blend's bytes

    @classmethod
    def read(cls, assets: Iterable[AssetClass]) -> "ModelShipment":
        """Read each class's .blend; one that changed since it was checked is a UserError."""
        blobs = {}
        for asset in assets:
            try:
                data = asset.blend_file.read_bytes()
            except OSError as error:
                raise UserError(f"class {asset.name!r} ({asset.origin}): {asset.blend_file} "
                                f"cannot be read ({error.strerror}); restore it") from None
            if _sha256(data) != asset.sha256:
                raise UserError(f"class {asset.name!r} ({asset.origin}): {asset.blend_file} "
                                "changed while the render started; run the render again")
            blobs[asset.sha256] = data
        return cls(blobs)

    def local_file(self, model: ModelRef) -> Path:
        """This machine's copy of `model`: the cache file named by its sha256, written from the
        shipped bytes (after checking them) unless an intact copy is there already."""
        with _lock:
            path = cache_dir() / f"{model.sha256}.blend"
            if path in _checked and path.is_file():
                return path
            if not (path.is_file() and file_sha256(path) == model.sha256):
                data = self.blobs.get(model.sha256)
                if data is None or _sha256(data) != model.sha256:
                    raise RuntimeError(
                        f"class {model.name!r}: the model sent to worker {socket.gethostname()} "
                        f"does not have sha256 {model.sha256} (damaged in transit); "
                        "render again")
                _write_atomically(path, data)
            _checked.add(path)
            return path


def _write_atomically(path: Path, data: bytes) -> None:
    """core.files.atomic_path gives each writer its own partial, so workers sharing a cache
    never collide; the last rename wins with the same bytes."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as partial:
            partial.write_bytes(data)
    except OSError as error:
        raise UserError(
            f"cannot write the model cache {path.parent} on worker {socket.gethostname()} "
            f"({error.strerror}); set ${CACHE_VARIABLE} on the workers to a writable folder"
        ) from None
