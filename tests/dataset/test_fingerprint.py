"""data_fingerprint: shards checked against the manifest once, then the cached digest."""

import json
import os

from mindseye.core.files import user_cache_dir
from mindseye.dataset.fingerprint import data_fingerprint
from mindseye.dataset.manifest import read_manifest
from mindseye.dataset.shards import content_sha256
from tests.fixtures.synthetic_shapes import write_synthetic_dataset


def test_the_digest_is_cached_until_a_shard_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("MINDSEYE_CACHE", str(tmp_path / "cache"))  # this test's cache alone
    data = write_synthetic_dataset(tmp_path / "data", per_class=2, test_per_class=2)
    digest = data_fingerprint(data)
    assert digest == content_sha256(data)
    (cache,) = (user_cache_dir() / "fingerprints").glob("*.json")
    cached = json.loads(cache.read_text())
    cache.write_text(json.dumps({**cached, "content_sha256": "from-the-cache"}))
    assert data_fingerprint(data) == "from-the-cache"  # nothing read again
    shard = data / read_manifest(data).splits["test"].shards[0].file
    os.utime(shard, ns=(shard.stat().st_atime_ns, shard.stat().st_mtime_ns + 10**9))
    assert data_fingerprint(data) == digest  # a touched shard: checked and digested again
