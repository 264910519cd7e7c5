"""Image folders: the layouts people already have, read without configuration.

- class subfolders (ImageFolder): sorted folder names are the classes (loose files beside them are
  ignored, as ImageFolder does);
- flat: image files directly in the folder, unlabelled;
- `train/` and `test/` (or `val/`) subfolders: the splits, each laid out as above;
- `images/` and `masks/` subfolders: images with figure/ground masks paired by file stem
  (non-zero mask pixel = foreground = 1).

Without split folders, "test" is a fixed ~20% hold-out picked by a hash of each file's path, so it
never changes when files are added, and "train" is the rest. "all" is every image (train, then test).
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from ssl_core.data.cache import cache_key, cached, check_memory, decode_files
from ssl_core.data.imagedata import ImageData, balanced_pick
from ssl_core.data.images import EXTENSIONS
from ssl_core.errors import UserError

HOLD_OUT = 5  # one file in HOLD_OUT goes to "test"


@dataclass
class Listing:
    """What one split of a folder holds, before anything is decoded. Paths are relative to `root`."""

    root: str
    files: list[str]
    labels: list[int]
    class_names: list[str]
    masks: list[str] | None = None
    first: str = ""  # the folder's first image in sorted order (it picks the default size)

    def extend(self, other: "Listing") -> None:
        self.files += other.files
        self.labels += other.labels
        self.masks = None if self.masks is None or other.masks is None else self.masks + other.masks

    def take(self, keep: list[int]) -> None:
        self.files = [self.files[i] for i in keep]
        self.labels = [self.labels[i] for i in keep]
        self.masks = None if self.masks is None else [self.masks[i] for i in keep]


def _scan(root: str, sub: str = "", seen: set | None = None) -> list[str]:
    """Every image file under root/sub, as relative posix paths. Hidden entries are skipped; a symlinked folder
    is followed once (a link back to a folder above it is a loop, not a second copy of the images), and a
    folder that cannot be read is left out.

    os.scandir, not pathlib, and no stat of files: listing CIFAR-10's 60,000 files takes a fraction of a second.
    """
    seen = set() if seen is None else seen
    here = os.path.join(root, sub)
    try:
        st = os.stat(here)
        if (st.st_dev, st.st_ino) in seen:
            return []
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(here) as it:
            entries = list(it)
    except OSError:  # unreadable, or a link that leads nowhere
        return []
    out = []
    for e in entries:
        if e.name.startswith("."):
            continue
        rel = f"{sub}/{e.name}" if sub else e.name
        try:
            is_dir = e.is_dir()
        except OSError:
            continue
        if is_dir:
            out += _scan(root, rel, seen)
        elif e.name.lower().endswith(EXTENSIONS):
            out.append(rel)
    return out


def _stem(rel: str) -> str:
    return os.path.splitext(rel.rsplit("/", 1)[-1])[0]


def _list(root: str, part: str, found: list[str], class_names: list[str] | None = None) -> Listing:
    """One split's files (those of `found` under `part`): images+masks, class folders, or flat."""
    prefix = f"{part}/" if part else ""
    rels = sorted(r[len(prefix):] for r in found if r.startswith(prefix))
    parts = [r.split("/") for r in rels]
    direct = lambda d: [r for r, p in zip(rels, parts, strict=True) if len(p) == 2 and p[0] == d]
    if direct("images") and os.path.isdir(os.path.join(root, part, "masks")):
        masks = {_stem(r): prefix + r for r in direct("masks")}
        files = [prefix + r for r in direct("images") if _stem(r) in masks]
        if not files:
            raise UserError(f"no image in {os.path.join(root, part, 'images')} has a mask of the same name in masks/: "
                            "name each mask after its image (horse001.jpg -> horse001.png)")
        return Listing(root, files, [-1] * len(files), [], [masks[_stem(f)] for f in files])
    classes = sorted({p[0] for p in parts if len(p) > 1})
    if classes:
        names = class_names or classes
        ids = {name: i for i, name in enumerate(names)}
        nested = [(r, p[0]) for r, p in zip(rels, parts, strict=True) if len(p) > 1]
        return Listing(root, [prefix + r for r, _ in nested], [ids[c] for _, c in nested], names)
    return Listing(root, [prefix + r for r in rels], [-1] * len(rels), [])


def _held_out(rel: str) -> bool:
    return int(hashlib.sha1(rel.encode()).hexdigest()[:8], 16) % HOLD_OUT == 0


def scan_folder(root: str, split: str) -> Listing:
    """The files, labels and masks of `split` in the folder at `root` (nothing decoded yet)."""
    if not os.path.exists(root):
        raise UserError(f"no folder at {root}: check the path, or use a built-in dataset (shapes, digits, photos)")
    if not os.path.isdir(root):
        raise UserError(f"{root} is a file, not a folder: give the folder that holds the images")
    found = _scan(root)
    if not found:
        raise UserError(f"no images in {root}: put {'/'.join(e[1:] for e in EXTENSIONS)} files directly in it, "
                        "in class subfolders, or in train/ and test/")
    dirs = {r.split("/", 1)[0] for r in found if "/" in r}
    found.sort()
    test = "test" if "test" in dirs else "val" if "val" in dirs else None
    if "train" in dirs and test:
        both = [_list(root, p, found) for p in ("train", test)]
        classes = sorted(set(both[0].class_names) | set(both[1].class_names))  # the same ids in both splits
        parts = [_list(root, p, found, classes or None) for p in
                 {"train": ["train"], "test": [test], "all": ["train", test]}[split]]
        listing = parts[0]
        for extra in parts[1:]:
            listing.extend(extra)
    else:
        listing = _list(root, "", found)
        if split != "all":
            listing.take([i for i, f in enumerate(listing.files) if _held_out(f) == (split == "test")])
    listing.first = found[0]
    if not listing.files:
        raise UserError(f"the {split} split of {root} holds no images: add some, or use the other split")
    return listing


def default_size(root: str, first: str) -> int:
    """The folder's first image's shorter side, kept within 32..224: decode near the data's own
    resolution, the same for both splits."""
    try:
        with Image.open(os.path.join(root, first)) as img:
            return max(32, min(224, min(img.size)))
    except Exception:  # noqa: BLE001 -- unreadable or oversized first file: it will be skipped and counted later
        return 224


def folder_plan(folder: str, split: str, size: int | None = None, limit: int | None = None):
    """(key, load) of the `split` of an image folder at `size` px: the cache key names its content (every file's
    path, mtime and size; nothing decoded yet), and `load()` decodes it (cached on disk after the first time)."""
    root = os.path.realpath(os.path.expanduser(folder))
    listing = scan_folder(root, split)
    size = size or default_size(root, listing.first)
    available = len(listing.files)
    if limit is not None:
        listing.take(balanced_pick(listing.labels, limit))
    stamps = [(f, (st := os.stat(os.path.join(root, f))).st_mtime_ns, st.st_size)
              for f in listing.files + (listing.masks or [])]
    key = cache_key("folder", root, split, size, limit, stamps)

    def load() -> ImageData:
        data = cached(key, lambda: _decode(listing, size))
        data.available = available
        return data

    return key, load


def _decode(ls: Listing, size: int) -> ImageData:
    n = len(ls.files)
    check_memory(n, size, planes=3 if ls.masks is None else 4)
    full = lambda rels: [os.path.join(ls.root, r) for r in rels]
    images, masks, kept = decode_files(full(ls.files), size, None if ls.masks is None else full(ls.masks))
    if not kept:
        raise UserError(f"none of the {n} images in {ls.root} could be read: check that they are image files")
    return ImageData(images=images, labels=torch.tensor([ls.labels[i] for i in kept], dtype=torch.int64),
                     class_names=list(ls.class_names), names=[ls.files[i] for i in kept], masks=masks,
                     skipped=n - len(kept))


def pair_by_stem(images_dir, masks_dir) -> tuple[list[tuple[Path, Path]], list[str]]:
    """[(image, mask)] paired by file stem, and the stems of images without a mask."""
    images_dir, masks_dir = Path(images_dir).expanduser(), Path(masks_dir).expanduser()
    for d, what in ((images_dir, "--images"), (masks_dir, "--masks")):
        if not d.is_dir():
            raise UserError(f"{what} {d} is not a folder: give the folder that holds the files")
    masks = {p.stem: p for p in sorted(masks_dir.iterdir()) if p.suffix.lower() in EXTENSIONS}
    pairs, unmatched = [], []
    for p in sorted(images_dir.iterdir()):
        if p.suffix.lower() not in EXTENSIONS:
            continue
        (pairs.append((p, masks[p.stem])) if p.stem in masks else unmatched.append(p.stem))
    if not pairs:
        raise UserError(f"no image in {images_dir} has a mask of the same file stem in {masks_dir} "
                        "(horse001.jpg pairs with horse001.png)")
    return pairs, unmatched
