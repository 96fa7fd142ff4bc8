"""The `photos` background set: the installed set against the committed list, honest splits, the
fetch from .deb files and from a mirror, one-line errors, and `builtin` still the old set."""

import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from mindseye.core.errors import UserError
from mindseye.dataset.backgrounds import (
    PROCEDURAL,
    BuiltinSource,
    PhotosSource,
    open_background_source,
    random_crop,
)
from mindseye.dataset.photos import (
    PHOTO_SHORT_SIDE,
    DebianPackage,
    Photo,
    downscaled_grey,
    fetch_photos,
    open_photos,
    photo_list,
    read_photo,
)
from mindseye.dataset.samples import SPLITS, draw_sample
from tests.fixtures.environment import environment

# Near-copies: 16x16 thumbnails whose mean-removed correlation is above this (a resized, re-encoded
# or slightly recropped copy of one picture scores above 0.97; distinct photographs of one
# landmark score below 0.9).
NEAR_COPY_CORRELATION = 0.95


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A perceptual hash: the 16x16 area-averaged picture, mean removed, unit length."""
    small = np.asarray(Image.fromarray(image).resize((16, 16), Image.Resampling.BOX), float)
    small = small.ravel() - small.mean()
    return small / max(np.linalg.norm(small), 1e-9)


def test_the_installed_set_is_the_committed_list() -> None:
    photos = photo_list()
    assert len({photo.sha256 for photo in photos}) == len(photos) >= 300
    with open_photos() as h5:
        assert sorted(h5["photos"]) == [f"{photo.index:04d}" for photo in photos]
        for photo in photos[::7]:
            pixels = read_photo(h5, photo.index)
            assert pixels.dtype == np.uint8 and pixels.ndim == 2
            short, listed_short = min(pixels.shape), min(photo.width, photo.height)
            assert short == min(listed_short, PHOTO_SHORT_SIDE)
            # the aspect ratio kept (to a pixel of rounding)
            long_side = max(photo.width, photo.height) * short / listed_short
            assert abs(max(pixels.shape) - long_side) <= 1


def test_test_photos_are_not_train_photos_nor_near_copies_of_them() -> None:
    photos = photo_list()
    splits = {split: [photo for photo in photos if photo.split == split]
              for split in ("train", "test")}
    assert len(splits["train"]) + len(splits["test"]) == len(photos)
    assert len(splits["test"]) >= 50
    with open_photos() as h5:
        hashes = {split: np.stack([thumbnail(read_photo(h5, photo.index)) for photo in chosen])
                  for split, chosen in splits.items()}
    correlation = hashes["test"] @ hashes["train"].T
    # the check can see a near-copy: a train photo against its own half-size copy
    with open_photos() as h5:
        photo = read_photo(h5, splits["train"][0].index)
    half = np.asarray(Image.fromarray(photo).reduce(2))
    assert thumbnail(half) @ hashes["train"][0] > NEAR_COPY_CORRELATION
    assert correlation.max() < NEAR_COPY_CORRELATION


def test_a_photos_sample_records_the_photo_of_its_split_it_came_from() -> None:
    for split in ("train", "test"):
        source = PhotosSource(split)
        allowed = {photo.index for photo in photo_list() if photo.split == split}
        seen = set()
        with open_photos() as h5:
            for index in range(40):
                sample = draw_sample(3, split, index, 4, source)
                assert sample.photo in allowed
                seen.add(sample.photo)
                # the crop is the one random_crop cuts from the recorded photo with the rest of
                # the sample's stream (after the rotation; see draw_sample)
                rng = np.random.default_rng([3, SPLITS.index(split), index])
                rng.uniform(size=3)
                rng.integers(len(source))
                np.testing.assert_array_equal(
                    random_crop(read_photo(h5, sample.photo), rng), sample.background)
        assert len(seen) > 20


def test_builtin_still_draws_the_samples_it_drew_before_photos_existed() -> None:
    # sha256 over the rotations and crops of builtin samples (seed 7), computed with the code of
    # commit 73b7e7c, before the photos set: datasets and command lines that say `builtin` make
    # the same samples. (The rendered files' content digest is not compared: the same code
    # rendered data/medium with other content on two machines.)
    digest = hashlib.sha256()
    for split, count in (("train", 200), ("test", 50)):
        source = BuiltinSource(split)
        for index in range(count):
            sample = draw_sample(7, split, index, 4, source)
            digest.update(sample.rotation.tobytes())
            digest.update(sample.background.tobytes())
            assert (sample.photo == PROCEDURAL) or 0 <= sample.photo < 17
    assert digest.hexdigest() == "f9bd4e7b60a73da2ac8d1e5868a1bb13abdc6374d4db64f291ab637bfca447cb"


def test_a_missing_or_foreign_set_says_how_to_fetch_it(tmp_path: Path) -> None:
    open_background_source("photos", "train")  # the installed set, opened (and kept) first
    with environment({"MINDSEYE_PHOTOS": str(tmp_path / "absent.h5")}), \
            pytest.raises(UserError, match="fetch-photos.*--backgrounds builtin"):
        open_background_source("photos", "train")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h5:
        h5.attrs["list_sha256"] = "0" * 64
    with pytest.raises(UserError, match="another list.*fetch-photos"):
        open_photos(foreign)


# A small package built here in the .deb format: a plain JPEG and a WebP inside a blob at an
# offset, as GCompris's Qt resource bundles hold them.
def _image_bytes(size: tuple[int, int], kind: str, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, kind)
    return buffer.getvalue()


def _ar_member(name: str, content: bytes) -> bytes:
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(content):<10}`\n".encode()
    return header + content + (b"\n" if len(content) % 2 else b"")


@pytest.fixture(scope="module")
def small_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DebianPackage,
                                                                      tuple[Photo, ...], dict]:
    folder = tmp_path_factory.mktemp("debs")
    jpeg = _image_bytes((900, 600), "JPEG", 1)
    webp = _image_bytes((120, 90), "WEBP", 2)
    bundle = b"qres" * 25 + webp + b"\0" * 31
    files = {"usr/share/pictures/lake.jpg": jpeg, "usr/share/game/bundle.rcc": bundle}
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    deb = (b"!<arch>\n" + _ar_member("debian-binary", b"2.0\n")
           + _ar_member("control.tar.xz", b"") + _ar_member("data.tar.xz", data.getvalue()))
    path = folder / "pool" / "small_1_all.deb"
    path.parent.mkdir()
    path.write_bytes(deb)
    package = DebianPackage("small", "1", "pool/small_1_all.deb",
                            hashlib.sha256(deb).hexdigest(), len(deb))

    def row(index: int, name: str, offset: int | None, content: bytes, size: tuple) -> Photo:
        return Photo(index, "small", "1", name, offset, hashlib.sha256(content).hexdigest(),
                     *size, "train", "CC0-1.0", "", "")

    photos = (row(0, "usr/share/pictures/lake.jpg", None, jpeg, (900, 600)),
              row(1, "usr/share/game/bundle.rcc", 100, webp, (120, 90)))
    originals = {0: jpeg, 1: webp}
    return folder, package, photos, originals


def _assert_decoded(path: Path, originals: dict) -> None:
    with h5py.File(path, "r") as h5:
        for index, content in originals.items():
            with Image.open(io.BytesIO(content)) as image:
                expected = downscaled_grey(image)
            np.testing.assert_array_equal(read_photo(h5, index), expected)
        assert read_photo(h5, 0).shape == (PHOTO_SHORT_SIDE, 600)  # 900x600 -> 600x400


def test_fetch_from_deb_files(small_package, tmp_path: Path) -> None:
    folder, package, photos, originals = small_package
    out = fetch_photos(tmp_path / "set.h5", debs_folder=folder / "pool", photos=photos,
                       packages=(package,))
    _assert_decoded(out, originals)


@pytest.fixture()
def mirror(small_package) -> Iterator[str]:
    folder = small_package[0]

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()


def test_fetch_from_a_mirror(small_package, mirror: str, tmp_path: Path) -> None:
    _, package, photos, originals = small_package
    out = fetch_photos(tmp_path / "set.h5", mirror=mirror, photos=photos, packages=(package,))
    _assert_decoded(out, originals)


def test_a_damaged_package_or_photo_is_one_line_naming_it(small_package, tmp_path: Path) -> None:
    folder, package, photos, _ = small_package
    damaged = tmp_path / "debs" / "small_1_all.deb"
    damaged.parent.mkdir()
    damaged.write_bytes((folder / "pool" / "small_1_all.deb").read_bytes()[:-10])
    with pytest.raises(UserError, match="small_1_all.deb: sha256 differs"):
        fetch_photos(tmp_path / "a.h5", debs_folder=damaged.parent, photos=photos,
                     packages=(package,))
    wrong = (photos[0], replace(photos[1], offset=101))
    with pytest.raises(UserError, match="bundle.rcc at byte 101: sha256 differs"):
        fetch_photos(tmp_path / "b.h5", debs_folder=folder / "pool", photos=wrong,
                     packages=(package,))
    assert not (tmp_path / "a.h5").exists() and not (tmp_path / "b.h5").exists()
