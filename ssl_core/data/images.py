"""Opening images the way a person expects them: upright, RGB, of a sane size, or a clear refusal.

Every image's size is checked from its header (Image.open reads only the header) before a pixel is
decoded: one image a person opens (an upload, `segment --image`) may claim up to MAX_PIXELS, a file of a
dataset folder up to DATASET_MAX_PIXELS (folders decode four files at once, each only to be scaled to a
few hundred pixels). Decoding then shrinks the image in its own mode before converting or rotating it,
so a large image costs about its decoded size once, not several copies of it.
"""

import io
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ssl_core.errors import UserError

MIN_SIDE = 8
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")

MAX_PIXELS = 300_000_000
"""The most pixels one opened image may claim. PNG (unlike JPEG) cannot decode at a reduced scale, so a
12000x12000 RGB PNG holds its 432 MB of pixels while it is read (measured peak RSS 0.58 GB above the
process's own; 0.28 GB for a 1-bit one), then shrinks; 300 megapixels of RGB hold 0.9 GB."""
DATASET_MAX_PIXELS = 64_000_000
"""The most pixels a dataset file may decode to (after a JPEG's reduced-scale draft): 8000x8000. A folder
is decoded by four threads at once; a file above this is skipped and counted with the unreadable ones."""
Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2  # PIL warns above this and refuses above twice it: PIL's own guard,
# in every path that opens an image, then refuses exactly what MAX_PIXELS refuses (its default would refuse
# 179 megapixels and warn from 89)
RESIZABLE = ("RGB", "RGBA", "L", "LA")  # modes PIL averages correctly as they are (not palettes or deep greys)
UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
           5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
           8: Image.Transpose.ROTATE_90}  # EXIF orientation -> the turn that shows the image upright


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB.

    Transparency is composited on white, as a viewer shows it. 16/32-bit and float greys are
    stretched to 8 bits (min..max) instead of clipped, which would turn most of them white.
    """
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I") or img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        lo, hi = a.min(), a.max()
        if lo < 0 or hi > 255:
            a = (a - lo) * (255.0 / max(hi - lo, 1e-12))
        elif img.mode == "F" and hi <= 1:
            a = a * 255
        img = Image.fromarray(a.round().clip(0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def square_box(w: int, h: int) -> tuple[int, int, int, int]:
    """The centred square of side min(w, h): the crop that keeps the most of the image."""
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return left, top, left + s, top + s


def megapixels(pixels: float) -> str:
    return f"{pixels / 1e6:.0f}" if pixels >= 1e7 else f"{pixels / 1e6:.1f}"


def too_many_pixels(name: str, pixels: int, bound: int, size: tuple[int, int] | None = None) -> UserError:
    """The one-line refusal of an image that claims more than `bound` pixels."""
    dims = f"{size[0]}x{size[1]} px, " if size else ""
    side = int((bound * 0.75) ** 0.5) // 1000 * 1000  # a 4:3 size that fits the bound, rounded down
    return UserError(f"{name} is {dims}{megapixels(pixels)} megapixels, more than the {megapixels(bound)} megapixels "
                     f"SSL Lab decodes: scale it down (e.g. to {side * 4 // 3}x{side} px) and try again")


def open_image(src, name: str, bound: int = MAX_PIXELS) -> Image.Image:
    """Image.open (the header only), refusing an image that claims more than `bound` pixels before a
    single pixel is decoded. Other failures are PIL's own exceptions."""
    try:
        img = Image.open(src)
    except Image.DecompressionBombError as e:  # PIL refuses above MAX_PIXELS (see Image.MAX_IMAGE_PIXELS above)
        claimed = re.search(r"\((\d+) pixels\)", str(e))
        raise too_many_pixels(name, int(claimed[1]) if claimed else bound + 1, bound) from None
    check_pixels(img, name, bound)
    return img


def check_pixels(img: Image.Image, name: str, bound: int) -> None:
    """Refuse an opened (not yet decoded) image whose size holds more than `bound` pixels."""
    w, h = img.size
    if w * h > bound:
        img.close()
        raise too_many_pixels(name, w * h, bound, (w, h))


def orientation(img: Image.Image) -> int:
    """The EXIF orientation (1: as stored; 5-8: turned a quarter)."""
    return img.getexif().get(0x0112, 1)


def upright(img: Image.Image, turn: int) -> Image.Image:
    return img.transpose(UPRIGHT[turn]) if turn in UPRIGHT else img


def _resizable(img: Image.Image) -> Image.Image:
    """A mode that PIL's filters average correctly: 1-bit -> L (same memory), others (and a transparent colour
    key) -> RGB; as is otherwise."""
    if img.mode in RESIZABLE and "transparency" not in img.info:
        return img
    return img.convert("L") if img.mode == "1" else to_rgb(img)


def decode(path, size: int) -> np.ndarray:
    """File -> uint8 (3, size, size): upright, RGB, shorter side resized to `size`, centre crop.

    One PIL resize with a box does crop and resize at once; PIL's filters widen with the scale
    factor, so downscaling is antialiased. JPEGs are first decoded at a reduced DCT scale (draft),
    which makes large photos several times faster to read. A file that would decode to more than
    DATASET_MAX_PIXELS is refused (UserError) before decoding; the image is shrunk before it is
    converted or turned upright, so it is held at full size once.
    """
    name = os.path.basename(os.fspath(path))
    with open_image(path, name) as img:
        img.draft("RGB", (size, size))
        check_pixels(img, name, DATASET_MAX_PIXELS)  # after the draft: the pixels it would really decode
        img.load()
        turn = orientation(img)
        img = _resizable(img)
        if img.size != (size, size):  # the centred square is the same square once turned upright
            img = img.resize((size, size), Image.BICUBIC, box=square_box(*img.size))
        img = to_rgb(upright(img, turn))
    return np.asarray(img).transpose(2, 0, 1)


def decode_mask(path, size: int, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Mask file -> uint8 (size, size), 1 where any channel is non-zero, same crop as its image.

    The mask is aligned to its image in normalised coordinates; it is stretched to the image's
    shape first only when the aspect ratios disagree.
    """
    with open_image(path, os.path.basename(os.fspath(path)), DATASET_MAX_PIXELS) as m:
        a = np.asarray(m)
    if a.ndim == 3:
        a = a[..., :3].max(axis=2)
    fg = Image.fromarray((a > 0).astype(np.uint8))
    if image_size is not None:
        (w, h), (mw, mh) = image_size, fg.size
        if abs(mw * h - mh * w) > 0.01 * w * h:
            fg = fg.resize((w, h), Image.NEAREST)
    return np.asarray(fg.resize((size, size), Image.NEAREST, box=square_box(*fg.size)))


def _reason(e: Exception) -> str:
    if isinstance(e, UnidentifiedImageError):
        return "unknown or damaged format"
    if isinstance(e, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return "too many pixels, possibly a decompression bomb"
    return " ".join(str(e).split()) or type(e).__name__


def _source(path_or_bytes) -> tuple[object, str]:
    """What Image.open takes, and the name to use in messages: bytes, a file object or a path."""
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(path_or_bytes)), "the uploaded file"
    if hasattr(path_or_bytes, "read"):
        return path_or_bytes, getattr(path_or_bytes, "name", "the uploaded file")
    src = os.path.expanduser(os.fspath(path_or_bytes))
    if not os.path.isfile(src):
        raise UserError(f"no file at {src}: check the path")
    return src, os.path.basename(src)


def original_size(path_or_bytes) -> tuple[int, int]:
    """(width, height) of an image file (or its bytes) as a viewer shows it (EXIF quarter turns applied),
    without decoding it."""
    src, name = _source(path_or_bytes)
    with open_image(src, name) as img:
        w, h = img.size
        return (h, w) if orientation(img) in (5, 6, 7, 8) else (w, h)


def load_image(path_or_bytes, max_side: int = 1024) -> tuple[Image.Image, str | None]:
    """A user's single image (an upload on the Look page) as RGB, with a note if it was changed.

    EXIF orientation is honoured (phones store photos sideways), any mode becomes RGB, and images
    larger than `max_side` are downscaled keeping their aspect ratio. An image whose header claims
    more than MAX_PIXELS, and anything PIL cannot read, raise a one-line UserError.
    """
    src, name = _source(path_or_bytes)
    try:
        with open_image(src, name) as img:
            w, h = img.size
            img.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale (PNG cannot)
            img.load()
            turn = orientation(img)
            if turn in (5, 6, 7, 8):  # stored a quarter turn from upright
                w, h = h, w
            img = _resizable(img)
            if max(img.size) > max_side:
                img.thumbnail((max_side, max_side), Image.LANCZOS)  # in place; integer reduce() first
            img = to_rgb(upright(img, turn))
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 -- PIL raises many types for bad files; all mean the same here
        reason = _reason(e)
        raise UserError(f"not an image I can read: {name} ({reason[:200]}); use a JPEG, PNG or WebP file") from None
    if min(w, h) < MIN_SIDE:
        raise UserError(f"{name} is only {w}x{h} px: use an image at least {MIN_SIDE} px on each side")
    note = f"downscaled from {w}x{h} to {img.width}x{img.height}" if max(w, h) > max_side else None
    return img, note


def read_mask(path_or_bytes, width: int, height: int, name: str | None = None) -> np.ndarray:
    """A mask file (or its bytes) -> bool (height, width): non-zero pixels (any channel) are foreground."""
    src, name = (io.BytesIO(bytes(path_or_bytes)), name or "the uploaded mask") \
        if isinstance(path_or_bytes, bytes | bytearray | memoryview) else (path_or_bytes, name or Path(path_or_bytes).name)
    try:
        with open_image(src, name) as m:
            a = np.asarray(m)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 -- PIL raises many types for bad files
        raise UserError(f"cannot read the mask {name} ({type(e).__name__}): use a PNG of the image's size") from None
    if a.ndim == 3:
        a = a[..., :3].max(axis=2) if a.shape[2] >= 3 else a[..., 0]
    fg = a > 0
    if fg.shape != (height, width):
        fg = np.asarray(Image.fromarray(fg.astype(np.uint8)).resize((width, height), Image.NEAREST)) > 0
    return fg
