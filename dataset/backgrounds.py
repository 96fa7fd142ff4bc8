"""Background sources: 64x64 greyscale crops (random position, scale and flip) of real images.

`open_background_source(spec, split)` gives one of:
- `photos` (the default): 320 natural photographs from Debian packages, train and test drawn
  from disjoint photographs committed in dataset/photos.csv (see `dataset.photos`); fetched once
  at install time by `mindseye dataset fetch-photos`.
- `builtin`: photographs bundled inside scikit-image's installed package, train and test drawn
  from disjoint photographs (BUILTIN_PHOTOS), mixed with procedural "dead leaves" images.
- `folder:PATH`: every .jpg/.jpeg/.png under PATH, of any size and mode. If PATH/train and
  PATH/test both exist they are the splits; otherwise the sorted list of files (by relative
  path) is split: every TEST_EVERY-th file (positions TEST_EVERY-1, 2*TEST_EVERY-1, ...) is test.
  Files are decoded one per crop, so an ImageNet-sized folder is never read into memory at once.
- `npy:PATH`: an array (N, H, W) or (N, H, W, C), uint8 or float in 0..1, split like a folder.
- `hdf5:PATH`: datasets `train` and `test`, or one dataset `images` split like a folder.
A crop is a function of the rng alone: the same rng state gives the same crop. `draw` also says
which image the crop came from (`photo_index`), recorded per sample in a shard's `background`
field; PROCEDURAL for a generated image.
"""

import functools
import os
import warnings
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from mindseye.core.constants import BACKGROUND_SPECS, IMAGE_SIZE, LUMINANCE_WEIGHTS
from mindseye.core.errors import UserError
from mindseye.dataset.photos import open_photos, photo_list, photos_file, read_photo

TEST_EVERY = 5  # where a source has no split of its own, every 5th image is a test image
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

# Real photographs only (no test patterns, drawings or synthetic images). The stereo pair
# motorcycle_left/right shows one scene, so both are train.
BUILTIN_PHOTOS = {
    "train": ("astronaut.png", "brick.png", "chelsea.png", "coffee.png", "coins.png",
              "grass.png", "hubble_deep_field.jpg", "ihc.png", "motorcycle_left.png",
              "motorcycle_right.png", "rocket.jpg"),
    "test": ("camera.png", "gravel.png", "moon.png", "page.png", "retina.jpg", "text.png"),
}
DEAD_LEAVES_FRACTION = 0.3  # share of builtin crops that are procedural dead-leaves images
PROCEDURAL = -1  # the photo index of a generated (dead leaves) background


class BackgroundSource:
    """A split's list of images; subclasses say how many there are and how to load image k."""

    def __init__(self, split: str) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', not {split!r}")
        self.split = split

    def __len__(self) -> int:
        raise NotImplementedError

    def load(self, index: int) -> np.ndarray:
        """Image `index` as uint8 greyscale (H, W)."""
        raise NotImplementedError

    def describe(self) -> str:
        """What the crops come from, recorded in every shard."""
        raise NotImplementedError

    def photo_index(self, index: int) -> int:
        """What a sample records of image `index` of this split: by default its position in
        the split's list."""
        return index

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """A crop and the photo index of the image it came from."""
        index = int(rng.integers(len(self)))
        return random_crop(self.load(index), rng), self.photo_index(index)

    def crop(self, rng: np.random.Generator) -> np.ndarray:
        return self.draw(rng)[0]


def random_crop(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A square of random side (64 px to the image's short side) at a random place, resized to
    64x64 by area averaging and flipped left-right half the time. Images smaller than 64 px are
    cropped to their short side and upsampled."""
    height, width = image.shape
    short = min(height, width)
    side = int(rng.integers(IMAGE_SIZE, short + 1)) if short >= IMAGE_SIZE else short
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    flip = rng.random() < 0.5
    patch = Image.fromarray(image[top:top + side, left:left + side])
    resample = Image.Resampling.BOX if side >= IMAGE_SIZE else Image.Resampling.BILINEAR
    crop = np.asarray(patch.resize((IMAGE_SIZE, IMAGE_SIZE), resample))
    return np.ascontiguousarray(crop[:, ::-1] if flip else crop)


def to_grey(image: Image.Image) -> np.ndarray:
    """Any PIL image as uint8 luminance (LUMINANCE_WEIGHTS of R, G and B)."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode != "F" and values.max() > 255 else 255.0
        return np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
    if image.mode != "L":
        image = image.convert("RGB").convert("L")
    return np.asarray(image, dtype=np.uint8)


def array_to_grey(image: np.ndarray, where: str) -> np.ndarray:
    """One image of an npy/hdf5 array, (H, W) or (H, W, C), uint8 or float 0..1, as uint8 grey."""
    image = np.asarray(image)
    if image.dtype.kind == "f":
        if image.size and (np.nanmin(image) < 0 or np.nanmax(image) > 1):
            raise UserError(f"{where}: float images must lie in 0..1")
        image = np.rint(image * 255)
    elif image.dtype != np.uint8:
        raise UserError(f"{where}: images must be uint8 or float in 0..1, not {image.dtype}")
    if image.ndim == 3:
        channels = image.shape[2]
        if channels >= 3:
            image = image[..., :3].astype(np.float64) @ np.array(LUMINANCE_WEIGHTS)
            image = np.rint(image)
        else:
            image = image[..., 0]
    return np.clip(image, 0, 255).astype(np.uint8)


def dead_leaves(rng: np.random.Generator, size: int = IMAGE_SIZE) -> np.ndarray:
    """Opaque discs of random grey with power-law radii dropped on top of each other: a cheap
    image with natural-image-like edge and scale statistics. 250 discs cover about 99% of the
    image; the rest shows a random grey ground."""
    canvas_size = size
    count = 250
    # radius density ~ r^-3 between r_min and r_max (inverse-CDF sampling): scale invariance
    r_min, r_max = 2.0, canvas_size / 2
    u = rng.random(count)
    radii = 1.0 / np.sqrt(u / r_max**2 + (1 - u) / r_min**2)
    centres = rng.uniform(0, canvas_size, (count, 2))
    greys = rng.integers(0, 256, count + 1).astype(np.uint8)
    canvas = np.full((canvas_size, canvas_size), greys[-1], dtype=np.uint8)
    coordinate = np.arange(canvas_size, dtype=np.float64)
    for (cy, cx), radius, grey in zip(centres.tolist(), radii.tolist(), greys, strict=False):
        top, bottom = max(0, int(cy - radius)), min(canvas_size, int(cy + radius) + 1)
        left, right = max(0, int(cx - radius)), min(canvas_size, int(cx + radius) + 1)
        dy2 = (coordinate[top:bottom, None] - cy) ** 2
        dx2 = (coordinate[None, left:right] - cx) ** 2
        canvas[top:bottom, left:right][dy2 + dx2 <= radius * radius] = grey
    return canvas


class BuiltinSource(BackgroundSource):
    def __init__(self, split: str) -> None:
        super().__init__(split)
        self.folder = Path(_skimage_data_dir())
        self.files = BUILTIN_PHOTOS[split]

    def __len__(self) -> int:
        return len(self.files)

    @functools.cache  # noqa: B019 (one source per split and place, see open_background_source)
    def load(self, index: int) -> np.ndarray:
        with Image.open(self.folder / self.files[index]) as image:
            return to_grey(image)

    def photo_index(self, index: int) -> int:
        """The position in BUILTIN_PHOTOS' train list, then its test list."""
        return index + (len(BUILTIN_PHOTOS["train"]) if self.split == "test" else 0)

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        if rng.random() < DEAD_LEAVES_FRACTION:
            return dead_leaves(rng), PROCEDURAL
        return super().draw(rng)

    def describe(self) -> str:
        names = ",".join(Path(name).stem for name in self.files)
        return (f"builtin split={self.split} photos=scikit-image:{names} "
                f"dead_leaves={DEAD_LEAVES_FRACTION}")


class FolderSource(BackgroundSource):
    """Unreadable files are skipped: the crop draws another file, the first skip warns, and
    `unreadable` lists them all, so a caller can report the count at the end."""

    def __init__(self, root: Path, split: str) -> None:
        super().__init__(split)
        if not root.is_dir():
            raise UserError(f"background folder {root} does not exist; give folder:PATH with a "
                            "folder of JPEG/PNG images")
        has_splits = (root / "train").is_dir() and (root / "test").is_dir()
        self.root = root / split if has_splits else root
        files = _image_files(self.root)
        if not has_splits:
            files = _split_list(files, split)
        if not files:
            raise UserError(f"background folder {self.root} holds no .jpg/.jpeg/.png images "
                            f"for the {split} split; add images or use another --backgrounds")
        self.files = files
        self.has_splits = has_splits
        self.unreadable: set[int] = set()

    def __len__(self) -> int:
        return len(self.files)

    @functools.lru_cache(maxsize=256)  # noqa: B019 (bounded: a big folder is never all in memory)
    def load(self, index: int) -> np.ndarray:
        with Image.open(self.root / self.files[index]) as image:
            return to_grey(image)

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        while len(self.unreadable) < len(self.files):
            index = int(rng.integers(len(self)))
            if index in self.unreadable:
                continue
            try:
                image = self.load(index)
            except (OSError, ValueError, Image.DecompressionBombError) as error:
                if not self.unreadable:
                    warnings.warn(f"skipping unreadable background image "
                                  f"{self.root / self.files[index]} ({error}); further "
                                  "unreadable images are skipped and counted", stacklevel=2)
                self.unreadable.add(index)
                continue
            return random_crop(image, rng), index
        raise UserError(f"background folder {self.root}: none of its {len(self.files)} images "
                        f"for the {self.split} split can be read")

    def unreadable_files(self) -> list[Path]:
        return [self.root / self.files[index] for index in sorted(self.unreadable)]

    def describe(self) -> str:
        rule = "its own train/test folders" if self.has_splits else f"every {TEST_EVERY}th is test"
        return f"folder:{self.root} split={self.split} images={len(self.files)} ({rule})"


class ArraySource(BackgroundSource):
    """Images held in an array (npy, memory-mapped) or an HDF5 dataset, read one at a time."""

    def __init__(self, kind: str, path: Path, split: str) -> None:
        super().__init__(split)
        if not path.is_file():
            raise UserError(f"background file {path} does not exist (--backgrounds {kind}:PATH)")
        self.kind, self.path = kind, path
        try:
            if kind == "npy":
                self.images, self.indices = np.load(path, mmap_mode="r"), None
            else:
                self.images, self.indices = self._open_hdf5(path, split)
        except (OSError, ValueError) as error:
            wanted = ("a numpy array of images (N, H, W) or (N, H, W, C) saved with numpy.save"
                      if kind == "npy" else "an HDF5 file with datasets 'train' and 'test', or "
                      "'images', each of images (N, H, W) or (N, H, W, C)")
            raise UserError(f"{path}: cannot read it as {kind} ({error}); give {wanted}") from None
        if self.images.ndim not in (3, 4) or (
                self.images.ndim == 4 and self.images.shape[3] not in (1, 3, 4)):
            raise UserError(f"{path}: images must be an array (N, H, W) or (N, H, W, C), not "
                            f"{tuple(self.images.shape)}")
        if self.indices is None:
            self.indices = _split_list(list(range(len(self.images))), split)
        if not self.indices:
            raise UserError(f"{path} holds no images for the {split} split")

    @staticmethod
    def _open_hdf5(path: Path, split: str) -> tuple[h5py.Dataset, list[int] | None]:
        h5 = h5py.File(path, "r")  # kept open for the life of the source
        if "train" in h5 and "test" in h5:
            images = h5[split]
            return images, list(range(len(images)))
        if "images" in h5:
            return h5["images"], None
        raise UserError(f"{path}: expected datasets 'train' and 'test', or 'images'; found "
                        f"{', '.join(h5) or 'none'}")

    def __len__(self) -> int:
        return len(self.indices)

    @functools.lru_cache(maxsize=256)  # noqa: B019 (bounded, one source per split and process)
    def load(self, index: int) -> np.ndarray:
        return array_to_grey(self.images[self.indices[index]], str(self.path))

    def photo_index(self, index: int) -> int:
        """The position in the whole array."""
        return self.indices[index]

    def describe(self) -> str:
        return f"{self.kind}:{self.path} split={self.split} images={len(self)}"


class PhotosSource(BackgroundSource):
    """The committed photographs of one split, read from the decoded set (`dataset.photos`)."""

    def __init__(self, split: str, path: Path | None = None) -> None:
        super().__init__(split)
        self.indices = [photo.index for photo in photo_list() if photo.split == split]
        self.h5 = open_photos(path)  # kept open for the life of the source

    def __len__(self) -> int:
        return len(self.indices)

    @functools.cache  # noqa: B019 (one source per split and place; ~60 MB for all of them)
    def load(self, index: int) -> np.ndarray:
        return read_photo(self.h5, self.indices[index])

    def photo_index(self, index: int) -> int:
        """The row of dataset/photos.csv."""
        return self.indices[index]

    def describe(self) -> str:
        return (f"photos split={self.split} photos={len(self)} "
                f"list=dataset/photos.csv sha256={self.h5.attrs['list_sha256'][:16]}")


def photo_names(spec: str) -> dict[int, str]:
    """A short name for each photo index a source records (`photos` and `builtin`; {} for the
    others, whose index is a file or array position)."""
    if spec == "photos":
        return {photo.index: _photo_name(photo.note.split(" (")[0] or photo.path)
                for photo in photo_list()}
    if spec == "builtin":
        return dict(enumerate([*BUILTIN_PHOTOS["train"], *BUILTIN_PHOTOS["test"]]))
    return {}


def _photo_name(path: str) -> str:
    """A wallpaper's folder where its file is named by its resolution (.../Kite/contents/images/
    2560x1600.jpg), else the file's name."""
    parts = Path(path).parts
    return parts[-4] if parts[-1][:1].isdigit() and len(parts) >= 4 else parts[-1]


def open_background_source(spec: str, split: str) -> BackgroundSource:
    """The source named by `spec` (BACKGROUND_SPECS) for a split; one per process and place, so
    images decoded once are reused. The place is resolved at each call: a relative path after a
    change of folder, or `photos` after $MINDSEYE_PHOTOS changed, names another source."""
    kind, _, argument = spec.partition(":")
    if kind == "photos" and not argument:
        return _open_source(kind, photos_file().absolute(), split)
    if kind == "builtin" and not argument:
        return _open_source(kind, None, split)
    if kind in ("folder", "npy", "hdf5"):
        if not argument:
            raise UserError(f"--backgrounds {spec}: give a path, e.g. {kind}:/data/images")
        return _open_source(kind, Path(argument).expanduser().absolute(), split)
    raise UserError(f"--backgrounds {spec}: unknown source; use {BACKGROUND_SPECS}")


@functools.cache
def _open_source(kind: str, path: Path | None, split: str) -> BackgroundSource:
    if kind == "photos":
        return PhotosSource(split, path)
    if kind == "builtin":
        return BuiltinSource(split)
    return FolderSource(path, split) if kind == "folder" else ArraySource(kind, path, split)


def _skimage_data_dir() -> str:
    import skimage.data

    return os.path.dirname(skimage.data.__file__)


def _image_files(root: Path) -> list[str]:
    """Image files under root, as sorted relative paths (os.walk: cheap on huge trees)."""
    files = []
    for folder, subfolders, names in os.walk(root):
        subfolders.sort()
        relative = os.path.relpath(folder, root)
        files += [os.path.normpath(os.path.join(relative, name)) for name in names
                  if name.lower().endswith(IMAGE_SUFFIXES)]
    return sorted(files)


def _split_list(items: list, split: str) -> list:
    is_test = [(position + 1) % TEST_EVERY == 0 for position in range(len(items))]
    return [item for item, test in zip(items, is_test, strict=True) if test == (split == "test")]
