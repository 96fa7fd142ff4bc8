"""Atomic writes: the target is either the old file or the complete new one; a JSON file cut
short is named with what to do."""

from pathlib import Path

import pytest

from mindseye.core.errors import UserError
from mindseye.core.files import (
    atomic_path,
    file_sha256,
    read_json,
    write_json_atomic,
    write_text_atomic,
)


def test_success_replaces_the_file_and_leaves_no_partial(tmp_path: Path) -> None:
    target = tmp_path / "data.txt"
    target.write_text("old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["data.txt"]


def test_failure_keeps_the_old_file_and_removes_the_partial(tmp_path: Path) -> None:
    target = tmp_path / "data.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as partial:
        partial.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.txt"]


def test_suffix_keeps_the_extension_for_format_sniffing_writers(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "figure.png", suffix=".png") as partial:
        assert partial.name.startswith("figure.png.partial-") and partial.suffix == ".png"
        partial.write_bytes(b"png")
    assert (tmp_path / "figure.png").read_bytes() == b"png"


def test_json_and_sha256(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    write_json_atomic(target, {"a": [1, 2]})
    assert target.read_text() == '{\n  "a": [\n    1,\n    2\n  ]\n}\n'
    # sha256 of the bytes, the well-known digest of an empty file for an empty one.
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(tmp_path / "empty") == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_read_json_names_a_file_cut_short_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    write_json_atomic(path, {"network": "direct"})
    assert read_json(path, "train again") == {"network": "direct"}
    path.write_text('{"network": "dir')
    with pytest.raises(UserError, match=f"^{path} is not valid JSON; train again$"):
        read_json(path, "train again")
    path.write_text("null")
    with pytest.raises(UserError, match=f"^{path} does not hold a JSON object; train again$"):
        read_json(path, "train again")
