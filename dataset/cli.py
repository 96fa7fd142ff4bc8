"""`mindseye dataset info|verify|compare|preview|recomposite|copy DATA`: inspect and maintain a
dataset."""

import json
import shutil
from pathlib import Path

import click
import numpy as np
from PIL import Image
from tqdm import tqdm

from mindseye.core.constants import BACKGROUND_SPECS, IMAGE_SIZE, MANIFEST_FILE
from mindseye.core.errors import UserError
from mindseye.core.files import atomic_path, file_sha256, make_writable_folder
from mindseye.dataset.backgrounds import FolderSource, open_background_source
from mindseye.dataset.compare import compare_datasets
from mindseye.dataset.composite import composite
from mindseye.dataset.fingerprint import data_fingerprint
from mindseye.dataset.manifest import (
    Manifest,
    ShardRecord,
    SplitRecord,
    copy_description,
    read_manifest,
    write_manifest,
)
from mindseye.dataset.photos import (
    DEBIAN_MIRROR,
    MIRROR_VARIABLE,
    PHOTO_LIST,
    PHOTOS_VARIABLE,
    fetch_photos,
    open_photos,
    photo_list,
    photos_file,
)
from mindseye.dataset.samples import draw_sample
from mindseye.dataset.shards import (
    content_sha256,
    iter_split,
    load_split,
    read_attrs,
    read_shard,
    split_content_sha256,
    write_shard,
)
from mindseye.dataset.verify import verify_dataset

PREVIEW_SCALE = 4  # 64 px -> 256 px per tile, big enough to see what was rendered
PREVIEW_GAP = 4

data_argument = click.argument(
    "data_dir", metavar="DATA", type=click.Path(path_type=Path, file_okay=False))


@click.group()
def dataset() -> None:
    """Inspect, verify, preview and re-composite a rendered dataset; fetch the photos set."""


@dataset.command()
@data_argument
def info(data_dir: Path) -> None:
    """Classes, samples per split and class, the content digests (the whole, and each split's
    samples: two machines' renders compared without moving them), the render config and the
    size on disk."""
    manifest = read_manifest(data_dir)
    click.echo(f"dataset {data_dir}")
    if manifest.copied_from:
        click.echo(copy_description(data_dir, manifest))
    click.echo(f"classes: {', '.join(manifest.classes)} (the last is the None class)")
    for split_name, split in manifest.splits.items():
        state = "complete" if split.finished_samples == split.samples else "unfinished"
        click.echo(f"{split_name}: {split.finished_samples} of {split.samples} samples in "
                   f"{len(split.shards)} shards ({state})")
        labels = load_split(data_dir, split_name, fields=("label",))["label"]
        counts = np.bincount(labels, minlength=len(manifest.classes))
        for name, count in zip(manifest.classes, counts, strict=False):
            click.echo(f"  {name:<12} {count}")
    click.echo(f"content sha256: {data_fingerprint(data_dir)} (what a run records of its data)")
    for split_name in sorted(manifest.splits):  # to compare another machine's render by split
        click.echo(f"  {split_name} samples: {split_content_sha256(data_dir, split_name)}")
    click.echo("config: " + json.dumps(manifest.config, indent=2, sort_keys=True))
    size = sum(path.stat().st_size for path in Path(data_dir).rglob("*") if path.is_file())
    click.echo(f"size on disk: {size / 1e6:.1f} MB")


@dataset.command(name="fetch-photos")
@click.option("--debs", "debs_folder", type=click.Path(path_type=Path, file_okay=False,
                                                       exists=True),
              help="A folder holding the .deb files already (for a machine without access to "
              "Debian's archive); a package missing there is downloaded.")
@click.option("--mirror", metavar="URL", help="A Debian mirror (http:// or https://); a package "
              "it cannot give is fetched with `apt-get download` where apt-get is there. "
              f"[${MIRROR_VARIABLE}, else {DEBIAN_MIRROR}]")
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              help=f"Where to keep the decoded set. [${PHOTOS_VARIABLE}, else "
              "~/.local/share/mindseye/photos-v1.h5]")
@click.option("--force", is_flag=True, help="Fetch again even where a good set is there.")
def fetch_photos_command(debs_folder: Path | None, mirror: str | None, out_file: Path | None,
                         force: bool) -> None:
    """Fetch the `photos` background set (install.sh runs this once).

    Downloads eight Debian packages (about 250 MB, not installed), checks each package and each
    of the photographs listed in dataset/photos.csv against its sha256, and keeps ~60 MB of
    decoded greyscale copies. Rendering never downloads anything.
    """
    path = Path(out_file or photos_file())
    if not force and path.is_file():
        try:
            open_photos(path).close()
        except UserError:
            pass
        else:
            click.echo(f"{path}: the photos set is there ({len(photo_list())} photographs)")
            return
    fetch_photos(path, debs_folder, mirror)
    click.echo(f"{path}: {len(photo_list())} photographs, checked against {PHOTO_LIST.name}")


@dataset.command(name="copy")
@data_argument
@click.argument("out_dir", metavar="OUT", type=click.Path(path_type=Path, file_okay=False))
@click.option("--splits", default="test", show_default=True,
              help="Comma-separated splits of DATA to copy.")
def copy_command(data_dir: Path, out_dir: Path, splits: str) -> None:
    """Copy splits of DATA to OUT; `mindseye attack` and `eval` take OUT for DATA.

    For attacking on another machine: a GPU box without Blender, or a transfer too small for
    the train split. Attacks and reports read only the test split, and OUT names DATA's content
    digest, so a run's attack records (tied to DATA) go on there. OUT's shards are checked like
    any dataset's, and its samples against the digest taken at the copy; it cannot train or be
    rendered into.
    """
    wanted = list(dict.fromkeys(name.strip() for name in splits.split(",") if name.strip()))
    if not wanted:
        raise UserError("--splits: name at least one split, e.g. --splits test")
    source = read_manifest(data_dir)
    for name in wanted:
        if name not in source.splits:
            raise UserError(f"--splits {splits}: {data_dir} has no split {name!r}; choose from "
                            f"{', '.join(source.splits)}")
    for name, split in source.splits.items():  # the digest it names is the whole dataset's
        if split.finished_samples != split.samples:
            raise UserError(f"{data_dir}: the {name} split is not finished rendering; finish it "
                            f"with `mindseye render {data_dir}` first")
    out_dir = Path(out_dir)
    if (out_dir / MANIFEST_FILE).exists():
        raise UserError(f"{out_dir} already holds a dataset; choose an empty folder")
    leftovers = {path.name for path in out_dir.iterdir()} if out_dir.is_dir() else set()
    if leftovers - set(wanted):  # only a killed copy's split folders may be there
        raise UserError(f"{out_dir} is not empty; choose an empty or new folder")
    digest = data_fingerprint(data_dir)  # checks DATA's shards; a copy's names its source
    make_writable_folder(out_dir, "OUT")
    copied = Manifest(source.classes, source.config,
                      {name: source.split(name) for name in wanted}, source.schema_version)
    for name in wanted:
        for shard in tqdm(copied.split(name).shards, desc=f"copy {name}", unit="shard"):
            target = out_dir / shard.file
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as partial:
                shutil.copyfile(Path(data_dir) / shard.file, partial)
                if file_sha256(partial) != shard.sha256:
                    raise UserError(f"{Path(data_dir) / shard.file} changed while it was copied; "
                                    "copy again once nothing writes to it")
    # The manifest last: a folder without one is a copy that did not finish.
    copied.copied_from = {"content_sha256": digest, "splits": wanted,
                          "copy_sha256": content_sha256(out_dir, copied)}
    write_manifest(out_dir, copied)
    click.echo(f"{out_dir}: {', '.join(wanted)} of {data_dir} (content {digest[:12]})")


@dataset.command(name="compare")
@click.argument("first", metavar="DATA", type=click.Path(path_type=Path, file_okay=False))
@click.argument("second", metavar="OTHER", type=click.Path(path_type=Path, file_okay=False))
@click.option("--show", default=10, show_default=True, type=click.IntRange(min=0),
              help="Sample indices listed per split and field.")
@click.pass_context
def compare_command(ctx: click.Context, first: Path, second: Path, show: int) -> None:
    """Where two renders of one dataset differ (another machine's render, say): per split and
    field of the content digest, how many samples, which, and by how much. Exits 1 where they
    differ, 0 where every sample is the same."""
    compared, differences = compare_datasets(first, second)
    for split, count in compared.items():
        found = [difference for difference in differences if difference.split == split]
        if not found:
            click.echo(f"{split}: the same in all {count} samples")
        for difference in found:
            listed = ", ".join(map(str, difference.samples[:show]))
            more = ", ..." if len(difference.samples) > show else ""
            click.echo(f"{split} {difference.field}: {len(difference.samples)} of {count} "
                       f"samples differ ({listed}{more}), by up to {difference.largest:g}")
    if differences:
        ctx.exit(1)


@dataset.command(name="verify")
@data_argument
def verify_command(data_dir: Path) -> None:
    """Check every shard against the manifest and the format; print "ok" or the problems."""
    problems = verify_dataset(data_dir)
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise UserError(f"{data_dir}: {len(problems)} problem(s) found (listed above)")
    click.echo("ok")


@dataset.command()
@data_argument
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the PNGs. [DATA/preview]")
@click.option("--n", "per_class", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Samples shown per class.")
def preview(data_dir: Path, out_dir: Path | None, per_class: int) -> None:
    """One PNG per split and class: rows of composite image, object and alpha."""
    manifest = read_manifest(data_dir)
    out_dir = out_dir or Path(data_dir) / "preview"
    make_writable_folder(out_dir, "--out")
    for split_name in manifest.splits:
        chosen = _first_samples_per_class(data_dir, split_name, len(manifest.classes), per_class)
        for label, name in enumerate(manifest.classes):
            samples = chosen[label]
            if not samples["image"]:
                continue
            rows = [np.stack(samples[field]) for field in ("image", "object", "alpha")]
            path = out_dir / f"{split_name}-{name}.png"
            _save_png(path, _grid(rows))
            click.echo(path)


@dataset.command()
@data_argument
@click.option("--backgrounds", "spec", required=True, metavar="SPEC",
              help=BACKGROUND_SPECS)
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Write a new dataset here instead of replacing DATA's images. [DATA]")
def recomposite(data_dir: Path, spec: str, out_dir: Path | None) -> None:
    """Blend the stored renders over new backgrounds, without Blender.

    Sample i gets the background crop the renderer would have drawn for it (the same random
    stream of (seed, split, i)), so recompositing with the render's own backgrounds reproduces
    the dataset exactly. Resumable: shards that already carry the new backgrounds are skipped.
    """
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    out_dir = Path(out_dir or data_dir)
    in_place = out_dir.resolve() == data_dir.resolve()
    sources = {split: open_background_source(spec, split) for split in manifest.splits}
    # as the render driver records it, so `mindseye render DATA --backgrounds SPEC` accepts it
    backgrounds = {split: source.describe() for split, source in sources.items()}
    out_manifest = _recomposite_manifest(manifest, backgrounds, out_dir, in_place)
    total = sum(split.finished_samples for split in manifest.splits.values())
    with tqdm(total=total, desc="recomposite", unit="sample") as progress:
        for split_name, split in manifest.splits.items():
            source = sources[split_name]
            done = {shard.file for shard in out_manifest.splits[split_name].shards}
            for shard in split.shards:
                target = out_dir / shard.file
                if (shard.file in done and target.is_file()
                        and read_attrs(target).get("backgrounds") == source.describe()):
                    progress.update(shard.count)
                    continue
                arrays, attrs = read_shard(data_dir / shard.file)
                backgrounds = np.empty_like(arrays["image"])
                photos = np.empty(len(backgrounds), np.int32)
                for offset in range(len(backgrounds)):
                    sample = draw_sample(attrs["seed"], split_name, attrs["first_index"] + offset,
                                         len(manifest.classes), source)
                    backgrounds[offset], photos[offset] = sample.background, sample.photo
                    progress.update()
                arrays["image"] = composite(arrays["object"], arrays["alpha"], backgrounds)
                arrays["background"] = photos
                attrs["backgrounds"] = source.describe()
                sha256 = write_shard(target, arrays, attrs)
                out_manifest.add_shard(
                    split_name, ShardRecord(shard.file, shard.first_index, shard.count, sha256))
                write_manifest(out_dir, out_manifest)
    for source in sources.values():
        if isinstance(source, FolderSource) and source.unreadable:
            names = ", ".join(str(path) for path in source.unreadable_files()[:3])
            click.echo(f"skipped {len(source.unreadable)} unreadable images in {source.root} "
                       f"(first: {names})", err=True)
    click.echo(f"{out_dir}: {total} samples composited over {spec}")


def _recomposite_manifest(
    manifest: Manifest, backgrounds: dict[str, str], out_dir: Path, in_place: bool
) -> Manifest:
    """The manifest of the recomposited dataset, written before any shard, so a killed run
    resumes: in place it is DATA's manifest with the new backgrounds in its config; elsewhere
    it starts with no shards (or is the one a killed run left)."""
    config = dict(manifest.config, backgrounds=backgrounds)
    if out_dir.is_dir():
        make_writable_folder(out_dir, "--out" if not in_place else "DATA")
    if in_place:
        out_manifest = Manifest.from_json(manifest.to_json())
        out_manifest.config = config
    elif (out_dir / MANIFEST_FILE).is_file():
        out_manifest = read_manifest(out_dir)
        if out_manifest.classes != manifest.classes or out_manifest.config != config:
            raise UserError(f"--out {out_dir} holds another dataset; choose an empty folder")
    else:
        if out_dir.exists() and any(out_dir.iterdir()):
            raise UserError(f"--out {out_dir} is not empty and holds no dataset; choose an "
                            "empty or new folder")
        make_writable_folder(out_dir, "--out")
        splits = {name: SplitRecord(split.samples) for name, split in manifest.splits.items()}
        out_manifest = Manifest(manifest.classes, config, splits)
    write_manifest(out_dir, out_manifest)
    return out_manifest


def _first_samples_per_class(
    data_dir: Path, split: str, n_labels: int, per_class: int
) -> list[dict[str, list]]:
    """The first `per_class` samples of each label, reading only as far as needed."""
    chosen = [{"image": [], "object": [], "alpha": []} for _ in range(n_labels)]
    fields = ("label", "image", "object", "alpha")
    for chunk in iter_split(data_dir, split, chunk=256, fields=fields):
        for position, label in enumerate(chunk["label"]):
            if 0 <= label < n_labels and len(chosen[label]["image"]) < per_class:
                for field in ("image", "object", "alpha"):
                    chosen[label][field].append(chunk[field][position])
        if all(len(samples["image"]) == per_class for samples in chosen):
            break
    return chosen


def _grid(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of (n, 64, 64) tiles, upscaled PREVIEW_SCALE times, on a mid-grey canvas."""
    tile = IMAGE_SIZE * PREVIEW_SCALE
    n_columns = max(len(row) for row in rows)
    canvas = np.full((len(rows) * (tile + PREVIEW_GAP) + PREVIEW_GAP,
                      n_columns * (tile + PREVIEW_GAP) + PREVIEW_GAP), 128, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            top = PREVIEW_GAP + r * (tile + PREVIEW_GAP)
            left = PREVIEW_GAP + c * (tile + PREVIEW_GAP)
            canvas[top:top + tile, left:left + tile] = np.kron(
                image, np.ones((PREVIEW_SCALE, PREVIEW_SCALE), np.uint8))
    return canvas


def _save_png(path: Path, pixels: np.ndarray) -> None:
    with atomic_path(path) as partial:
        Image.fromarray(pixels).save(partial, format="PNG")
