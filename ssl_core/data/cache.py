"""Decode once, keep the result: a threaded decoder into a uint8 tensor, and a disk cache of it.

Decoding 50,000 JPEGs takes seconds; reading back one tensor file takes a fraction of that. The
cache key holds everything the pixels depend on (for folders: every file's path, mtime and size),
so an edited folder is decoded again and nothing stale is ever served. The cache keeps the most recently
used files within `SSL_LAB_DATA_CACHE_GB` (default 2 GB) and deletes the rest, oldest first.
"""

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ssl_core.data.imagedata import ImageData
from ssl_core.data.images import decode, decode_mask
from ssl_core.errors import UserError
from ssl_core.files import atomic_write

VERSION = 3  # bump when decoding or a built-in changes, so old cache files are ignored (3: easy scenes are solid)
WORKERS = 4  # PIL releases the GIL while decoding, so threads overlap well even on 2 cores
GB = 1 << 30
FIELDS = ("images", "labels", "class_names", "names", "masks", "semantic", "factors", "skipped")


def cache_dir() -> Path:
    return Path(os.environ.get("SSL_LAB_CACHE") or "~/.cache/ssl_lab").expanduser() / "data"


def cache_key(*parts) -> str:
    return hashlib.sha1(json.dumps([VERSION, *parts], default=str).encode()).hexdigest()


def cached(key: str, build) -> ImageData:
    """`build()` once per key; later calls read the tensors back from disk.

    The file holds only tensors, strings, numbers, lists and dicts, so it loads with
    `weights_only=True` and a cache file can never run code. A damaged or unwritable cache is
    ignored: it only costs time.
    """
    path = cache_dir() / f"{key}.pt"
    data = _read(path) if path.exists() else None
    if data is not None:
        _touch(path)
        return data
    data = build()
    _write(path, _pack(data))
    _touch(path)
    evict(cache_dir(), limit_bytes())
    return data


def limit_bytes() -> int:
    try:
        return int(float(os.environ.get("SSL_LAB_DATA_CACHE_GB", 2)) * GB)
    except ValueError:
        return 2 * GB


def _touch(path: Path) -> None:
    """Mark `path` the most recently used: its modification time orders eviction. Set past every other file's,
    as a coarse file-system clock could otherwise give a hit the same time as the file written before it."""
    try:
        newest = max((f.stat().st_mtime_ns for f in path.parent.glob("*.pt") if f != path), default=0)
        t = max(time.time_ns(), newest + 1000)
        os.utime(path, ns=(t, t))
    except OSError:
        pass


def evict(folder: Path, limit: int) -> list[Path]:
    """Delete the least recently used cache files until the folder holds at most `limit` bytes; the newest file
    stays even when it alone is larger."""
    files = []
    for f in folder.glob("*.pt"):
        try:
            st = f.stat()
        except OSError:
            continue
        files.append((st.st_mtime_ns, st.st_size, f))
    files.sort()
    total, removed = sum(size for _, size, _ in files), []
    for _, size, f in files[:-1]:
        if total <= limit:
            break
        f.unlink(missing_ok=True)
        total -= size
        removed.append(f)
    return removed


def _write(path: Path, obj: dict) -> None:
    """torch.save through the atomic writer: a reader sees the old file or the whole new one."""
    try:
        atomic_write(path, lambda tmp: torch.save(obj, tmp))
    except (OSError, RuntimeError):  # read-only or full disk: the cache only saves time
        pass


def _read(path: Path) -> ImageData | None:
    try:
        return _unpack(torch.load(path, weights_only=True))
    except Exception:  # noqa: BLE001 -- damaged, truncated or from another version: rebuild it
        return None


def _pack(data: ImageData) -> dict:
    """Fields -> a dict for torch.save. Long lists travel as one string each: the weights-only
    unpickler is slow per object, and 50,000 names would take a second to read back."""
    d = {k: getattr(data, k) for k in FIELDS}
    d["names"] = "\n".join(data.names)
    d["factors"] = None if data.factors is None else json.dumps(data.factors)
    return d


def _unpack(d: dict) -> ImageData:
    d["names"] = d["names"].split("\n") if d["names"] else []
    d["factors"] = None if d["factors"] is None else json.loads(d["factors"])
    return ImageData(**d)


def available_memory() -> int:
    """Bytes the system can give us now (MemAvailable), falling back to free physical pages."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown (e.g. Windows): do not block


def check_memory(n: int, size: int, planes: int = 3) -> None:
    """Refuse before decoding if the uint8 tensors would take more than half the free memory."""
    need, free = n * planes * size * size, available_memory()
    if need > free / 2:
        raise UserError(
            f"{n} images at {size} px need {need / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB of memory "
            "is free: use a smaller --size or a --limit")


def decode_files(paths: list, size: int, mask_paths: list | None = None, workers: int = WORKERS):
    """Decode `paths` into uint8 (N, 3, size, size) (and masks into (N, size, size)) with threads.

    Returns (images, masks or None, kept), where `kept` lists the indices that decoded; unreadable,
    corrupt or truncated files are left out, not fatal, and so is a file whose header claims more pixels
    than `images.DATASET_MAX_PIXELS` (a decompression bomb costs nothing: it is never decoded).
    """
    n = len(paths)
    images = torch.empty((n, 3, size, size), dtype=torch.uint8)
    masks = torch.zeros((n, size, size), dtype=torch.uint8) if mask_paths is not None else None
    ok = np.zeros(n, dtype=bool)
    im_np, mask_np = images.numpy(), None if masks is None else masks.numpy()

    def work(start: int) -> None:
        for i in range(start, n, workers):  # strided chunks: one task per thread, no per-file futures
            try:
                im_np[i] = decode(paths[i], size)
                if mask_np is not None:
                    with Image.open(paths[i]) as img:
                        shape = img.size
                    mask_np[i] = decode_mask(mask_paths[i], size, shape)
                ok[i] = True
            except Exception:  # noqa: BLE001 -- PIL raises OSError, SyntaxError, ValueError... on damaged files
                ok[i] = False

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(work, range(workers)))
    kept = np.flatnonzero(ok)
    if len(kept) < n:
        t = torch.from_numpy(kept)
        images, masks = images[t], None if masks is None else masks[t]
    return images, masks, kept.tolist()
