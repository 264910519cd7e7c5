"""Pictures for the Look page: colour maps, heat-map overlays, mask outlines, click marks, PNG bytes.

Display only (numpy and PIL); the numbers come from ssl_core.
"""

import io
import zipfile

import numpy as np
from PIL import Image, ImageDraw
from plotly.colors import get_colorscale, sample_colorscale

COLORMAPS = ("Viridis", "Inferno", "Jet", "RdBu_r", "Greys")


_LUTS: dict[str, np.ndarray] = {}


def lut(name: str) -> np.ndarray:
    """A (256, 3) uint8 lookup table from one of plotly's colour scales."""
    if name not in _LUTS:
        rgb = sample_colorscale(get_colorscale(name), list(np.linspace(0, 1, 256)), colortype="tuple")
        _LUTS[name] = (np.array(rgb) * 255).round().clip(0, 255).astype(np.uint8)  # tuples come in 0..1
    return _LUTS[name]


def colorize(values: np.ndarray, cmap: str = "Viridis", lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """(H, W) floats -> (H, W, 3) uint8 through a colour map, scaled lo..hi (default: the map's range)."""
    v = np.asarray(values, dtype=np.float32)
    finite = np.isfinite(v)
    lo = float(v[finite].min()) if lo is None and finite.any() else (lo or 0.0)
    hi = float(v[finite].max()) if hi is None and finite.any() else (hi if hi is not None else 1.0)
    idx = ((np.nan_to_num(v, nan=lo, neginf=lo, posinf=hi) - lo) / max(hi - lo, 1e-12) * 255).clip(0, 255)
    return lut(cmap)[idx.astype(np.uint8)]


def blend(image: np.ndarray, colours: np.ndarray, alpha: float) -> np.ndarray:
    return (image.astype(np.float32) * (1 - alpha) + colours.astype(np.float32) * alpha).round().astype(np.uint8)


def outline(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """Boolean boundary pixels of a boolean mask (inside pixels next to an outside one)."""
    m = np.asarray(mask, bool)
    pad = np.pad(m, width, mode="edge")
    inner = m.copy()
    h, w = m.shape
    for dy in range(-width, width + 1):
        for dx in range(-width, width + 1):
            inner &= pad[width + dy: width + dy + h, width + dx: width + dx + w]
    return m & ~inner


LINE_COLOUR = (255, 230, 0)  # the mask's edge: yellow


def overlay(image: np.ndarray, score: np.ndarray | None, mask: np.ndarray | None, alpha: float = 0.5,
            cmap: str = "Viridis", clicks=(), line_colour=LINE_COLOUR) -> np.ndarray:
    """The image with the similarity map blended in, the mask's outline, and the clicks marked
    (positive: green disc, negative: red disc)."""
    out = image.copy()
    if score is not None and np.isfinite(score).any():
        out = blend(out, colorize(score, cmap), alpha)
    if mask is not None:
        out[outline(mask, outline_width(image.shape))] = line_colour
    return mark_clicks(out, clicks)


def outline_width(shape) -> int:
    """The mask outline's width in pixels for an image of `shape` (H, W, ...): visible at any size."""
    return max(1, round(max(shape[:2]) / 300))


def click_radius(shape) -> int:
    """The radius in pixels of a click's disc on an image of `shape` (H, W, ...)."""
    return max(3, round(max(shape[:2]) / 80))


def mark_clicks(image: np.ndarray, clicks) -> np.ndarray:
    if not clicks:
        return image
    img = Image.fromarray(image)
    d = ImageDraw.Draw(img)
    r = click_radius(image.shape)
    for c in clicks:
        fill = (40, 220, 90) if c["positive"] else (235, 50, 50)
        d.ellipse([c["x"] - r, c["y"] - r, c["x"] + r, c["y"] + r], fill=fill, outline=(255, 255, 255), width=2)
    return np.asarray(img)


BORDER = (128, 128, 128)  # mid grey: visible on a white page and around a white mask alike


def mask_picture(mask: np.ndarray) -> np.ndarray:
    """The mask as a white-on-black RGB picture inside a grey frame, so an all-white mask still shows its
    edges against the page."""
    m = np.asarray(mask, bool)
    pad = max(2, round(max(m.shape) / 100))
    out = np.empty((m.shape[0] + 2 * pad, m.shape[1] + 2 * pad, 3), np.uint8)
    out[:] = BORDER
    out[pad:-pad, pad:-pad] = (m * 255).astype(np.uint8)[..., None]
    return out


def mask_png(mask: np.ndarray, size: tuple[int, int] | None = None) -> bytes:
    """A boolean mask as a PNG (255 = object), resized (nearest) to `size` = (width, height) if given:
    the image's own size when the page worked on a downscaled copy."""
    img = Image.fromarray((np.asarray(mask, bool) * 255).astype(np.uint8), "L")
    if size is not None and img.size != tuple(size):
        img = img.resize(tuple(size), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def masks_zip(items) -> bytes:
    """A zip of mask PNGs from [(file name, mask, (width, height))], each at its own size."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, mask, size in items:
            z.writestr(name, mask_png(mask, size))
    return buf.getvalue()


def tint(image: np.ndarray, mask: np.ndarray, colour=(255, 80, 40), alpha: float = 0.55) -> np.ndarray:
    """The image with the mask's pixels tinted (for gallery thumbnails)."""
    out = image.astype(np.float32)
    m = np.asarray(mask, bool)
    out[m] = out[m] * (1 - alpha) + np.array(colour, np.float32) * alpha
    return out.round().astype(np.uint8)


def upsample_grid(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour blow-up of a patch grid (rows, cols[, 3]) to (height, width) for display."""
    g = np.asarray(grid)
    ry = (np.arange(height) * g.shape[0] // height)
    rx = (np.arange(width) * g.shape[1] // width)
    return g[ry][:, rx]


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(pixels)).save(buf, format="PNG")
    return buf.getvalue()


def npy_bytes(values: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(values, dtype=np.float32))
    return buf.getvalue()


def colour_bar(cmap: str, lo: float, hi: float, width: int = 240, height: int = 14) -> np.ndarray:
    """A horizontal colour scale from lo (left) to hi (right), with its two ends written under it."""
    bar = colorize(np.tile(np.linspace(lo, hi, width, dtype=np.float32), (height, 1)), cmap, lo, hi)
    img = Image.new("RGB", (width, height + 14), (255, 255, 255))
    img.paste(Image.fromarray(bar), (0, 0))
    d = ImageDraw.Draw(img)
    d.text((0, height + 1), f"{lo:.2g}", fill=(0, 0, 0))
    text = f"{hi:.2g}"
    d.text((width - 6 * len(text), height + 1), text, fill=(0, 0, 0))
    return np.asarray(img)
