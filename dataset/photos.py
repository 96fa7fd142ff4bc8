"""The `photos` background set: 320 natural photographs out of eight Debian packages.

The photographs (scenes, animals, objects, landscapes; no text, drawings, renders or artwork)
were chosen by hand from every image of the packages in PACKAGES; docs/photos-survey/ says how.
`photos.csv` beside this file is the committed list, one row per photograph: its index (what a
shard's `background` field records), the package and version it comes from, its path in the
package (and, for GCompris's Qt resource bundles, the byte offset of its WebP inside the
bundle), its sha256, its size, its split, its licences and a note.

`fetch_photos` runs once, at install time: it downloads the packages from Debian's archive (or
takes .deb files already downloaded), checks each package's and each photograph's sha256, and
keeps one HDF5 file of decoded greyscale copies whose short side is at most PHOTO_SHORT_SIDE
(a wallpaper decoded for every crop would slow the render tenfold). Nothing is downloaded when a
dataset is rendered: `PhotosSource` only reads that file, and says in one line how to make it
when it is missing.

Splits. Test photographs never appear in train. The split of each photograph is committed in
the list: photographs were grouped where their perceptual hashes are near (near-copies of one
picture), and every fifth group in the order of its first photograph's sha256 is test, so about
a fifth of the photographs are test; a group is never split. tests/dataset/test_photos.py checks
that no test photograph is a near-copy of a train photograph.
"""

import csv
import functools
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from PIL import Image
from tqdm import tqdm

from mindseye.core.errors import UserError
from mindseye.core.files import atomic_path, file_sha256, user_data_dir

PHOTO_LIST = Path(__file__).with_name("photos.csv")
# Decoded copies are downscaled to this short side: ImageNet's photographs are about 400 x 350,
# so a crop of the same share of the picture shows about the same amount of scene.
PHOTO_SHORT_SIDE = 400
PHOTOS_VARIABLE = "MINDSEYE_PHOTOS"
MIRROR_VARIABLE = "MINDSEYE_DEBIAN_MIRROR"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# Part of the decoded file's name: bump when what is stored in it changes.
PHOTOS_FORMAT = 1


@dataclass(frozen=True)
class DebianPackage:
    name: str
    version: str
    pool_path: str  # under the mirror's root
    sha256: str
    size: int


# bookworm's versions (Debian 12); the .deb sha256 and size are the archive's own.
PACKAGES = (
    DebianPackage("gcompris-qt-data", "3.1-2",
                  "pool/main/g/gcompris-qt/gcompris-qt-data_3.1-2_all.deb",
                  "e9cf06ab2105529068df73085784e835d2ff03f870d2a8091f09125d40abac9f", 44196292),
    DebianPackage("tuxpaint-data", "1:0.9.28-sdl2-1",
                  "pool/main/t/tuxpaint/tuxpaint-data_0.9.28-sdl2-1_all.deb",
                  "f5d0de8f9a70d2efc1241d19f26168cb8bf279f1b77abd3631e7a1a55c40e5e5", 7855540),
    DebianPackage("lomiri-wallpapers-16.04", "20.04.0-2",
                  "pool/main/l/lomiri-wallpapers/lomiri-wallpapers-16.04_20.04.0-2_all.deb",
                  "a99ff6a3bfe451e4cc0682ecb3cc82e71740626d59e4845ae34a0a0e45421eab", 15783184),
    DebianPackage("lomiri-wallpapers-20.04", "20.04.0-2",
                  "pool/main/l/lomiri-wallpapers/lomiri-wallpapers-20.04_20.04.0-2_all.deb",
                  "d44e89b8473aafe64a5b678f014862dc31335aaaf18665c544d985d854f1a709", 11377208),
    DebianPackage("mate-backgrounds", "1.26.0-1",
                  "pool/main/m/mate-backgrounds/mate-backgrounds_1.26.0-1_all.deb",
                  "7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04", 46638500),
    DebianPackage("lxqt-themes", "1.2.0-1",
                  "pool/main/l/lxqt-themes/lxqt-themes_1.2.0-1_all.deb",
                  "d518df36b515b09d36cb00b12645dd8ce170bb82bb0966297741905ce3edc8e1", 25778012),
    DebianPackage("palapeli-data", "4:22.12.3-1",
                  "pool/main/p/palapeli/palapeli-data_22.12.3-1_all.deb",
                  "69a15dce2ac25ed8708ac518cd0cee5f4eb0c70ed15da2fdb8899a19ac0ee058", 2136268),
    DebianPackage("plasma-workspace-wallpapers", "4:5.27.5-2",
                  "pool/main/p/plasma-workspace-wallpapers/"
                  "plasma-workspace-wallpapers_5.27.5-2_all.deb",
                  "32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b", 94047772),
)


@dataclass(frozen=True)
class Photo:
    """One row of the committed list."""

    index: int
    package: str
    version: str
    path: str  # inside the package, without the leading "./"
    offset: int | None  # of the WebP inside a Qt resource bundle; None for a plain file
    sha256: str
    width: int
    height: int
    split: str
    licence: str  # the Debian copyright file's
    licence_upstream: str  # GCompris's per-folder README, where it says
    note: str


@functools.cache
def photo_list() -> tuple[Photo, ...]:
    """The committed list, in index order."""
    with open(PHOTO_LIST, newline="") as file:
        rows = list(csv.DictReader(file))
    photos = tuple(
        Photo(int(row["index"]), row["package"], row["version"], row["path"],
              int(row["offset"]) if row["offset"] else None, row["sha256"], int(row["width"]),
              int(row["height"]), row["split"], row["licence"], row["licence_upstream"],
              row["note"])
        for row in rows)
    assert [photo.index for photo in photos] == list(range(len(photos))), PHOTO_LIST
    return photos


def list_sha256(photos: tuple[Photo, ...]) -> str:
    """What a decoded set is made of: each photograph's index, sha256 and split (a licence or
    note corrected in the list does not make the set another)."""
    rows = "".join(f"{photo.index},{photo.sha256},{photo.split}\n" for photo in photos)
    return hashlib.sha256(rows.encode()).hexdigest()


def photos_file() -> Path:
    """Where the decoded set lives: $MINDSEYE_PHOTOS, else the user's data folder."""
    if os.environ.get(PHOTOS_VARIABLE):
        return Path(os.environ[PHOTOS_VARIABLE]).expanduser()
    return user_data_dir() / f"photos-v{PHOTOS_FORMAT}.h5"


def how_to_fetch() -> str:
    return ("run `mindseye dataset fetch-photos` once (it downloads about 250 MB of Debian "
            "packages), or render with --backgrounds builtin or folder:PATH")


def open_photos(path: Path | None = None) -> h5py.File:
    """The decoded set, checked against the committed list; one line naming the fix if not."""
    path = Path(path or photos_file())
    if not path.is_file():
        raise UserError(f"the photos background set is not installed ({path} is missing): "
                        f"{how_to_fetch()}")
    try:
        h5 = h5py.File(path, "r")
        made_from = h5.attrs.get("list_sha256")
    except OSError as error:
        raise UserError(f"{path}: not a readable photos set ({error}); delete it and "
                        f"{how_to_fetch()}") from None
    if made_from != list_sha256(photo_list()) or h5.attrs.get("short_side") != PHOTO_SHORT_SIDE:
        h5.close()
        raise UserError(f"{path} was made from another list of photographs than this "
                        f"mindseye's ({PHOTO_LIST}); {how_to_fetch()}")
    return h5


def read_photo(h5: h5py.File, index: int) -> np.ndarray:
    return h5["photos"][f"{index:04d}"][()]


def fetch_photos(destination: Path | None = None, debs_folder: Path | None = None,
                 mirror: str | None = None, photos: tuple[Photo, ...] | None = None,
                 packages: tuple[DebianPackage, ...] = PACKAGES) -> Path:
    """Make the decoded set of `photos` (default: the committed list) at `destination` (default
    `photos_file()`): each package from `debs_folder` where it holds the .deb, else from
    `mirror` ($MINDSEYE_DEBIAN_MIRROR, else Debian's), else with `apt-get download`; every
    package and photograph is checked against its sha256. Returns the path."""
    destination = Path(destination or photos_file())
    mirror = (mirror or os.environ.get(MIRROR_VARIABLE) or DEBIAN_MIRROR).rstrip("/")
    photos = photos or photo_list()
    decoded: dict[int, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="mindseye-photos-") as scratch:
        for package in packages:
            wanted = [photo for photo in photos if photo.package == package.name]
            deb = _local_deb(debs_folder, package) or _download(mirror, package, Path(scratch))
            members = _read_members(deb, {photo.path for photo in wanted})
            for photo in wanted:
                decoded[photo.index] = _decode(photo, members.get(photo.path), deb)
            if deb.parent == Path(scratch):
                deb.unlink()
    destination.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(destination) as partial, h5py.File(partial, "w") as h5:
        h5.attrs["list_sha256"] = list_sha256(photos)
        h5.attrs["short_side"] = PHOTO_SHORT_SIDE
        group = h5.create_group("photos")
        for index, pixels in sorted(decoded.items()):
            group.create_dataset(f"{index:04d}", data=pixels)
    return destination


def downscaled_grey(image: Image.Image, short_side: int = PHOTO_SHORT_SIDE) -> np.ndarray:
    """Greyscale (Pillow's ITU-R 601 luma) with the short side at most `short_side`, by area
    averaging."""
    grey = image.convert("RGB").convert("L") if image.mode != "L" else image
    scale = short_side / min(grey.size)
    if scale < 1:
        size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
        grey = grey.resize(size, Image.Resampling.BOX)
    return np.asarray(grey, dtype=np.uint8)


def _local_deb(debs_folder: Path | None, package: DebianPackage) -> Path | None:
    if debs_folder is None:
        return None
    path = Path(debs_folder) / Path(package.pool_path).name
    if not path.is_file():
        return None
    if file_sha256(path) != package.sha256:
        raise UserError(f"{path}: sha256 differs from {package.name} {package.version}'s; "
                        "delete it (or download that version again)")
    return path


def _download(mirror: str, package: DebianPackage, folder: Path) -> Path:
    url = f"{mirror}/{package.pool_path}"
    path = folder / Path(package.pool_path).name
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as file, \
                tqdm(total=package.size, unit="B", unit_scale=True, desc=package.name,
                     leave=False) as bar:
            while chunk := response.read(1 << 20):
                file.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as error:  # ValueError: not a URL
        path.unlink(missing_ok=True)
        if not _apt_download(package, folder):
            raise UserError(f"cannot download {url} ({error}); set ${MIRROR_VARIABLE} to a "
                            "Debian mirror you can reach, or pass --debs FOLDER with the .deb "
                            "files, or render with --backgrounds builtin or folder:PATH") from None
        digest = hashlib.sha256(path.read_bytes())
    if digest.hexdigest() != package.sha256:
        raise UserError(f"{url}: sha256 differs from {package.name} {package.version}'s (the "
                        "mirror may hold another version); use a mirror or snapshot that holds "
                        "this one, or pass --debs FOLDER")
    return path


def _apt_download(package: DebianPackage, folder: Path) -> bool:
    """`apt-get download` (through apt's own sources and proxies), where there is apt."""
    if shutil.which("apt-get") is None:
        return False
    try:
        subprocess.run(["apt-get", "download", "-qq", f"{package.name}={package.version}"],
                       cwd=folder, check=True, timeout=600, capture_output=True)
    except (subprocess.SubprocessError, OSError):
        return False
    # apt names the file after the version with its epoch ("1%3a0.9..."); the pool does not
    for fetched in folder.glob(f"{package.name}_*.deb"):
        fetched.replace(folder / Path(package.pool_path).name)
        return True
    return False


def _read_members(deb: Path, wanted: set[str]) -> dict[str, bytes]:
    """The files of the package's data archive whose paths are in `wanted`. A .deb is an `ar`
    archive; its data.tar.* member holds the files."""
    with open(deb, "rb") as file:
        if file.read(8) != b"!<arch>\n":
            raise UserError(f"{deb}: not a Debian package (no ar header)")
        while header := file.read(60):
            name = header[:16].decode().strip().rstrip("/")
            size = int(header[48:58])
            if name.startswith("data.tar"):
                data = io.BytesIO(file.read(size))
                break
            file.seek(size + size % 2, os.SEEK_CUR)
        else:
            raise UserError(f"{deb}: no data.tar member")
    members = {}
    try:
        with tarfile.open(fileobj=data, mode="r:*") as archive:
            for member in archive:
                path = os.path.normpath(member.name).lstrip("/")
                if path in wanted and member.isfile():
                    members[path] = archive.extractfile(member).read()
    except tarfile.TarError as error:
        raise UserError(f"{deb}: cannot read its data archive ({error})") from None
    return members


def _decode(photo: Photo, content: bytes | None, deb: Path) -> np.ndarray:
    where = f"{photo.package} {photo.version}: {photo.path}"
    if content is None:
        raise UserError(f"{deb}: holds no {photo.path} (photograph {photo.index} of {PHOTO_LIST})")
    if photo.offset is not None:
        # A Qt resource bundle stores each WebP uncompressed: a RIFF header whose le32 length
        # counts the bytes after the first 8.
        start = photo.offset
        length = int.from_bytes(content[start + 4:start + 8], "little") + 8
        content = content[start:start + length]
        where += f" at byte {photo.offset}"
    if hashlib.sha256(content).hexdigest() != photo.sha256:
        raise UserError(f"{where}: sha256 differs from photograph {photo.index} of {PHOTO_LIST}")
    with Image.open(io.BytesIO(content)) as image:
        return downscaled_grey(image)

