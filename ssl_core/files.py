"""Writing files so that a reader never sees half of one: the one atomic-write helper.

Every file the engine writes (checkpoints, feature files, run status, caches, CSV exports) goes through
`atomic_write`: the bytes go to a temporary file in the same folder, are flushed to disk (fsync), and
the temporary file is renamed over the target. A crash or a power cut leaves the old file or the whole
new one, never a torn one; a crash between the write and the rename leaves a `.tmp` file that
`remove_stale_temporaries` cleans up.
"""

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

TMP_SUFFIX = ".tmp"


def atomic_write(path, content: bytes | str | Callable[[str], None]) -> Path:
    """Write `content` (bytes, text, or a function that writes a given temporary path) to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        if callable(content):
            os.close(fd)
            content(tmp)
            fd = os.open(tmp, os.O_RDWR)
        else:
            os.write(fd, content.encode() if isinstance(content, str) else content)
        os.fsync(fd)
        os.close(fd)
        fd = None
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        if fd is not None:
            os.close(fd)
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json(path, obj) -> Path:
    return atomic_write(path, json.dumps(obj, indent=1))


def read_json(path, default=None):
    """The JSON in a file, or `default` when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def remove_stale_temporaries(folder) -> int:
    """Delete temporary files that a killed writer left behind in `folder`; returns how many."""
    removed = 0
    for p in Path(folder).glob(f".*{TMP_SUFFIX}"):
        try:
            p.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@lru_cache(maxsize=256)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digest(path) -> str:
    """SHA-1 of a file's content (memoised per path, mtime and size): the identity of a checkpoint."""
    st = os.stat(path)
    return _digest(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)
