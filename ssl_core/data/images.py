"""Opening images the way a person expects them: upright, RGB, of a sane size, or a clear refusal."""

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ssl_core.errors import UserError

MIN_SIDE = 8
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


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


def decode(path, size: int) -> np.ndarray:
    """File -> uint8 (3, size, size): upright, RGB, shorter side resized to `size`, centre crop.

    One PIL resize with a box does crop and resize at once; PIL's filters widen with the scale
    factor, so downscaling is antialiased. JPEGs are first decoded at a reduced DCT scale (draft),
    which makes large photos several times faster to read.
    """
    with Image.open(path) as img:
        img.draft("RGB", (size, size))
        img = to_rgb(ImageOps.exif_transpose(img))
    if img.size != (size, size):
        img = img.resize((size, size), Image.BICUBIC, box=square_box(*img.size))
    return np.asarray(img).transpose(2, 0, 1)


def decode_mask(path, size: int, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Mask file -> uint8 (size, size), 1 where any channel is non-zero, same crop as its image.

    The mask is aligned to its image in normalised coordinates; it is stretched to the image's
    shape first only when the aspect ratios disagree.
    """
    with Image.open(path) as m:
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


def original_size(path) -> tuple[int, int]:
    """(width, height) of an image file as a viewer shows it (EXIF quarter turns applied), without decoding it."""
    with Image.open(os.path.expanduser(os.fspath(path))) as img:
        w, h = img.size
        return (h, w) if img.getexif().get(0x0112, 1) in (5, 6, 7, 8) else (w, h)


def load_image(path_or_bytes, max_side: int = 1024) -> tuple[Image.Image, str | None]:
    """A user's single image (an upload on the Look page) as RGB, with a note if it was changed.

    EXIF orientation is honoured (phones store photos sideways), any mode becomes RGB, and images
    larger than `max_side` are downscaled keeping their aspect ratio. Decompression bombs and
    anything PIL cannot read raise a one-line UserError.
    """
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        src, name = io.BytesIO(bytes(path_or_bytes)), "the uploaded file"
    elif hasattr(path_or_bytes, "read"):
        src, name = path_or_bytes, getattr(path_or_bytes, "name", "the uploaded file")
    else:
        src = os.path.expanduser(os.fspath(path_or_bytes))
        name = os.path.basename(src)
        if not os.path.isfile(src):
            raise UserError(f"no file at {src}: check the path")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(src) as img:
                w, h = img.size
                if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # rotated a quarter turn
                    w, h = h, w
                img.draft("RGB", (max_side, max_side))
                img = to_rgb(ImageOps.exif_transpose(img))
                img.load()
    except Exception as e:  # noqa: BLE001 -- PIL raises many types for bad files; all mean the same here
        reason = _reason(e)
        raise UserError(f"not an image I can read: {name} ({reason[:200]}); use a JPEG, PNG or WebP file") from None
    if min(w, h) < MIN_SIDE:
        raise UserError(f"{name} is only {w}x{h} px: use an image at least {MIN_SIDE} px on each side")
    note = None
    if max(w, h) > max_side:
        img.thumbnail((max_side, max_side), Image.LANCZOS)
        note = f"downscaled from {w}x{h} to {img.width}x{img.height}"
    return img, note


def read_mask(path, width: int, height: int) -> np.ndarray:
    """A mask file -> bool (height, width): non-zero pixels (any channel) are foreground."""
    try:
        with Image.open(path) as m:
            a = np.asarray(m)
    except Exception as e:  # noqa: BLE001 -- PIL raises many types for bad files
        raise UserError(f"cannot read the mask {Path(path).name} ({type(e).__name__})") from None
    if a.ndim == 3:
        a = a[..., :3].max(axis=2) if a.shape[2] >= 3 else a[..., 0]
    fg = a > 0
    if fg.shape != (height, width):
        fg = np.asarray(Image.fromarray(fg.astype(np.uint8)).resize((width, height), Image.NEAREST)) > 0
    return fg
