"""What every command that reads a dataset checks first, and the digest that names the data.

`data_fingerprint(DATA)` checks each shard's sha256 against the manifest (a changed or damaged
shard is an error naming the file) and returns the content digest (`shards.content_sha256`):
what a run records of the data it trained on, an attack of the data it attacked, a report of
the data it reported. Both are cached in the user's cache folder (`core.files.user_cache_dir`),
per dataset folder and keyed by every shard's size and modification time, so a second command on
the same files reads nothing again; the dataset's own folder is never written. A copy of some
of a dataset's splits (`mindseye dataset copy`) returns the digest of the dataset it copies.
"""

import contextlib
import hashlib
import json
from pathlib import Path

from mindseye.core.errors import UserError
from mindseye.core.files import file_sha256, user_cache_dir, write_json_atomic
from mindseye.dataset.manifest import Manifest, read_manifest
from mindseye.dataset.shards import content_sha256

# Part of the cache's key: bump when the content digest changes its definition.
FINGERPRINT_VERSION = 1


def data_fingerprint(data_dir: Path) -> str:
    """The content digest of DATA, once every shard has matched its sha256 in the manifest."""
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    shards = [shard for split in sorted(manifest.splits)
              for shard in manifest.splits[split].shards]
    stats = {}
    for shard in shards:
        path = data_dir / shard.file
        if not path.is_file():
            raise UserError(f"{path}: shard missing; {_remedy(data_dir, manifest)}")
        stat = path.stat()
        stats[shard.file] = [stat.st_size, stat.st_mtime_ns]
    listed = hashlib.sha256(json.dumps([FINGERPRINT_VERSION, [[s.file, s.sha256] for s in shards]])
                            .encode()).hexdigest()
    where = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:24]
    cache_path = user_cache_dir() / "fingerprints" / f"{where}.json"
    cached = _read_cache(cache_path)
    if cached.get("manifest") == listed and cached.get("stats") == stats:
        return _as_copied(data_dir, manifest, cached["content_sha256"])
    for shard in shards:
        path = data_dir / shard.file
        if file_sha256(path) != shard.sha256:
            raise UserError(f"{path}: sha256 differs from {data_dir / 'manifest.json'}: the "
                            "shard was changed or damaged; delete it and "
                            f"{_remedy(data_dir, manifest)} (`mindseye dataset verify` checks "
                            "the rest)")
    digest = content_sha256(data_dir)
    with contextlib.suppress(OSError, UserError):  # no room for the cache: checked next time
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(cache_path, {"manifest": listed, "stats": stats,
                                       "content_sha256": digest})
    return _as_copied(data_dir, manifest, digest)


def _remedy(data_dir: Path, manifest: Manifest) -> str:
    if manifest.copied_from:
        return "copy the dataset again (`mindseye dataset copy`; this folder is a copy)"
    return f"render the dataset again (`mindseye render {data_dir}` resumes it)"


def _as_copied(data_dir: Path, manifest: Manifest, digest: str) -> str:
    """A copy of another dataset's splits (`mindseye dataset copy`) stands for that dataset,
    once its samples are the ones copied: a run's records name the dataset they were made on,
    and a copy of its test split is what an attack on another machine needs."""
    copied = manifest.copied_from
    if not copied:
        return digest
    if digest != copied["copy_sha256"]:
        raise UserError(f"{data_dir}: its samples are not the ones copied from the dataset it "
                        f"names ({copied['content_sha256'][:12]}); copy that dataset's "
                        "splits again with `mindseye dataset copy`")
    return copied["content_sha256"]


def _read_cache(path: Path) -> dict:
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return cached if isinstance(cached, dict) else {}
