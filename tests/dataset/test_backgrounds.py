from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from mindseye.core.errors import UserError
from mindseye.dataset.backgrounds import (
    BUILTIN_PHOTOS,
    FolderSource,
    _skimage_data_dir,
    open_background_source,
)


def crops(spec: str, split: str, seeds: range = range(40)) -> np.ndarray:
    source = open_background_source(spec, split)
    return np.stack([source.crop(np.random.default_rng(seed)) for seed in seeds])


def check_crops(batch: np.ndarray) -> None:
    assert batch.dtype == np.uint8 and batch.shape[1:] == (64, 64)
    assert batch.std() > 5  # real content, not a constant


def fill_folder(folder: Path) -> list[str]:
    """Images of several modes and sizes, plus one corrupt file; returns the file names."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    (folder / "nested").mkdir()
    gradient16 = (np.linspace(0, 65535, 120 * 90).reshape(90, 120)).astype(np.uint16)
    Image.fromarray(rng.integers(0, 256, (100, 120), dtype=np.uint8)).save(folder / "a_grey.png")
    Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(folder / "b.jpg")
    Image.fromarray(rng.integers(0, 256, (70, 80, 4), dtype=np.uint8)).save(folder / "c.PNG")
    Image.fromarray(rng.integers(0, 256, (90, 90), dtype=np.uint8)).convert("P").save(
        folder / "nested" / "d_palette.png")
    Image.fromarray(gradient16).save(folder / "nested" / "e_16bit.png")
    Image.fromarray(rng.integers(0, 256, (40, 50), dtype=np.uint8)).save(folder / "f_small.png")
    (folder / "g_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("ignored")
    return ["a_grey.png", "b.jpg", "c.PNG", "f_small.png", "g_broken.jpg",
            "nested/d_palette.png", "nested/e_16bit.png"]


def test_folder_of_mixed_images(tmp_path: Path) -> None:
    names = fill_folder(tmp_path / "images")
    spec = f"folder:{tmp_path / 'images'}"
    train = open_background_source(spec, "train")
    test = open_background_source(spec, "test")
    # the sorted list split: every 5th file (position 4, 9, ...) is a test image
    assert test.files == [names[4]]
    assert train.files == names[:4] + names[5:]
    check_crops(crops(spec, "train", range(60)))
    assert train.unreadable == set()  # the broken file is a test image here
    with (pytest.warns(UserWarning, match="g_broken.jpg"),
          pytest.raises(UserError, match="none of its 1 images")):
        crops(spec, "test")
    assert test.unreadable_files() == [tmp_path / "images" / "g_broken.jpg"]


def test_folder_skips_and_counts_unreadable_files(tmp_path: Path) -> None:
    fill_folder(tmp_path / "images" / "train")
    fill_folder(tmp_path / "images" / "test")
    spec = f"folder:{tmp_path / 'images'}"
    source = open_background_source(spec, "train")
    assert len(source) == 7  # its own train folder, not a 4-of-5 split
    with pytest.warns(UserWarning, match="g_broken.jpg") as warned:
        batch = crops(spec, "train", range(80))
    assert len(warned) == 1
    check_crops(batch)
    assert [p.name for p in source.unreadable_files()] == ["g_broken.jpg"]
    # a 16-bit image is scaled to the full grey range, not clipped to white
    index = source.files.index("nested/e_16bit.png")
    grey = source.load(index)
    assert grey.min() < 10 and grey.max() > 245 and np.median(grey) < 200


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        open_background_source(f"folder:{tmp_path / 'missing'}", "train")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images")
    with pytest.raises(UserError, match="holds no .jpg/.jpeg/.png images"):
        open_background_source(f"folder:{tmp_path / 'empty'}", "train")
    with pytest.raises(UserError, match="give a path"):
        open_background_source("folder:", "train")
    with pytest.raises(UserError, match="unknown source"):
        open_background_source("imagenet", "train")


def test_a_relative_path_names_the_folder_of_each_call(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # One source per place, not per spelling: `folder:images` from another folder is another.
    for name in ("one", "two"):
        fill_folder(tmp_path / name / "images")
    (tmp_path / "two" / "images" / "a_grey.png").unlink()
    sizes = []
    for name in ("one", "two", "one"):
        monkeypatch.chdir(tmp_path / name)
        sizes.append(len(open_background_source("folder:images", "train")))
    assert sizes == [6, 5, 6]


def test_npy_arrays(tmp_path: Path, npy_backgrounds: Path) -> None:
    check_crops(crops(f"npy:{npy_backgrounds}", "train"))
    assert len(open_background_source(f"npy:{npy_backgrounds}", "test")) == 2  # 10 images / 5

    colour = np.random.default_rng(2).random((6, 30, 40, 3)).astype(np.float32)  # small: upsampled
    np.save(tmp_path / "colour.npy", colour)
    check_crops(crops(f"npy:{tmp_path / 'colour.npy'}", "train"))

    np.save(tmp_path / "bright.npy", colour * 3)
    with pytest.raises(UserError, match="float images must lie in 0..1"):
        crops(f"npy:{tmp_path / 'bright.npy'}", "train")
    np.save(tmp_path / "flat.npy", np.zeros((5, 64)))
    with pytest.raises(UserError, match=r"\(N, H, W\)"):
        open_background_source(f"npy:{tmp_path / 'flat.npy'}", "train")
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(UserError, match="cannot read it as npy"):
        open_background_source(f"npy:{tmp_path / 'junk.npy'}", "train")


def test_hdf5_arrays(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    split_file = tmp_path / "split.h5"
    with h5py.File(split_file, "w") as h5:
        h5["train"] = rng.integers(0, 256, (4, 70, 70), dtype=np.uint8)
        h5["test"] = rng.integers(0, 256, (3, 70, 70), dtype=np.uint8)
    assert len(open_background_source(f"hdf5:{split_file}", "test")) == 3
    check_crops(crops(f"hdf5:{split_file}", "test"))

    images_file = tmp_path / "images.h5"
    with h5py.File(images_file, "w") as h5:
        h5["images"] = rng.integers(0, 256, (10, 80, 80, 3), dtype=np.uint8)
    assert len(open_background_source(f"hdf5:{images_file}", "train")) == 8
    check_crops(crops(f"hdf5:{images_file}", "train"))

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["pictures"] = np.zeros((2, 64, 64), np.uint8)
    with pytest.raises(UserError, match="expected datasets 'train' and 'test', or 'images'"):
        open_background_source(f"hdf5:{other}", "train")


def test_builtin_photographs_are_disjoint_and_present() -> None:
    assert not set(BUILTIN_PHOTOS["train"]) & set(BUILTIN_PHOTOS["test"])
    for names in BUILTIN_PHOTOS.values():
        for name in names:
            assert (Path(_skimage_data_dir()) / name).is_file()
    train, test = (open_background_source("builtin", split) for split in ("train", "test"))
    assert "split=train" in train.describe() and "astronaut" in train.describe()
    assert "astronaut" not in test.describe()
    check_crops(crops("builtin", "train"))
    check_crops(crops("builtin", "test"))


@pytest.mark.parametrize("kind", ["builtin", "npy", "folder"])
def test_same_rng_state_gives_same_crop(kind: str, tmp_path: Path, npy_backgrounds: Path) -> None:
    if kind == "folder":
        folder = tmp_path / "f"
        folder.mkdir()
        for k in range(6):
            image = np.random.default_rng(k).integers(0, 256, (90, 100), dtype=np.uint8)
            Image.fromarray(image).save(folder / f"{k}.png")
        spec = f"folder:{folder}"
    else:
        spec = "builtin" if kind == "builtin" else f"npy:{npy_backgrounds}"
    first = crops(spec, "train", range(20))
    if isinstance(open_background_source(spec, "train"), FolderSource):
        open_background_source(spec, "train").load.cache_clear()  # decoded again, same pixels
    np.testing.assert_array_equal(crops(spec, "train", range(20)), first)
    assert len({crop.tobytes() for crop in first}) == 20  # different states, different crops
