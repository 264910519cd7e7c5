"""The images the Look page works on, each with the size of its own file: uploads (several at once, each
with an optional ground-truth mask paired by file name) and built-in photographs.

The page works on a copy at most MAX_SIDE px on a side; exports come back at `original`, the size of the
file as a viewer shows it.
"""

import io
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import streamlit as st

from app.look import compute
from app.uploads import CAPS, MB
from ssl_core.data.images import load_image, original_size, read_mask
from ssl_core.errors import UserError

MAX_SIDE = 1024
CAP = CAPS["image"]  # bytes an uploaded image (or mask) may have
CAP_MB = CAP // MB


@dataclass(frozen=True)
class Photo:
    name: str
    image: np.ndarray  # (H, W, 3) uint8, as the page works on it
    original: tuple[int, int]  # (width, height) of the file itself
    note: str | None = None  # how the working copy differs from the file ("downscaled from ...")
    mask: np.ndarray | None = None  # ground truth (H, W) bool at the working size, if there is one

    @property
    def stem(self) -> str:
        return Path(self.name).stem or "image"


def _named(data: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name  # messages name the file
    return f


@st.cache_resource(max_entries=64, show_spinner="Reading the upload...")
def _upload(file_id: str, name: str, _data: bytes) -> Photo:
    """One uploaded file, decoded once per upload (the file id changes when the file does)."""
    img, note = load_image(_named(_data, name), MAX_SIDE)
    image = np.asarray(img)
    size = original_size(_named(_data, name)) if note else (image.shape[1], image.shape[0])
    return Photo(name, image, size, note)


def file_photo(name: str, path) -> Photo:
    """A photograph on this server (a built-in one)."""
    image, note = compute.file_image(str(path))
    return Photo(name, image, original_size(path) if note else (image.shape[1], image.shape[0]), note)


def _unique(names: list[str]) -> list[str]:
    seen, out = {}, []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{Path(n).stem} ({seen[n]}){Path(n).suffix}")
    return out


@st.cache_resource(max_entries=64, show_spinner=False)
def _mask(file_id: str, name: str, original: tuple[int, int], shape: tuple[int, int], _data: bytes) -> np.ndarray:
    """An uploaded mask for a photo whose file is `original` = (width, height), at the working `shape`.
    A mask of another aspect ratio (off by more than 2%) is refused: it belongs to another image."""
    (mw, mh), (w, h) = original_size(_named(_data, name)), original
    if abs(mw * h - mh * w) > 0.02 * w * h:
        raise UserError(f"mask {name} is {mw}x{mh} px but its photo is {w}x{h}: upload the mask made for "
                        "that photo")
    return read_mask(_data, shape[1], shape[0], name)


def read_uploads(files, mask_files) -> tuple[list[Photo], list[str]]:
    """(photos, one-line problems) from Streamlit's uploaded files. Masks pair with photos by file stem
    (horse001.jpg with horse001.png); one photo and one mask pair whatever their names."""
    photos, problems = [], []
    too_big = [f for f in [*(files or []), *(mask_files or [])] if f.size > CAP]
    problems += [f"{f.name} is {f.size / MB:.0f} MB; an image upload may be at most {CAP_MB} MB: save it as a "
                 "JPEG or scale it down" for f in too_big]
    files = [f for f in files or [] if f not in too_big]
    for f, name in zip(files, _unique([f.name for f in files]), strict=True):
        try:
            photos.append(replace(_upload(f.file_id, f.name, f.getvalue()), name=name))
        except UserError as e:
            problems.append(str(e))
    masks = [f for f in mask_files or [] if f not in too_big]
    if not photos:
        return photos, problems
    if len(photos) == 1 and len(masks) == 1:
        pairs = {0: masks[0]}
    else:
        stems = {p.stem: i for i, p in enumerate(photos)}
        pairs = {}
        for m in masks:
            if Path(m.name).stem in stems:
                pairs[stems[Path(m.name).stem]] = m
            else:
                problems.append(f"mask {m.name} matches no uploaded photo by name: name it after its photo "
                                "(horse001.jpg -> horse001.png)")
    for i, m in pairs.items():
        try:
            p = photos[i]
            photos[i] = replace(p, mask=_mask(m.file_id, m.name, p.original, p.image.shape[:2], m.getvalue()))
        except UserError as e:
            problems.append(str(e))
    return photos, problems
