"""Small thumbnails of dataset images, made on demand: single PNGs, and JPEG contact sheets for hovering.

The Map page never ships every image to the browser: a map of 50,000 points would be tens of MB of
pictures in one message. Thumbnails are encoded only for the points someone asks about: the clicked
point and its neighbours, the gallery of a selection, a capped sample drawn on the map, and, for the
hover picture, the contact sheet of 100 consecutive images that holds the hovered point.
"""

import base64
import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def to_hwc(image) -> np.ndarray:
    """uint8 (3, H, W) tensor or array -> numpy uint8 (H, W, 3)."""
    a = np.asarray(image.cpu() if hasattr(image, "cpu") else image)
    return np.ascontiguousarray(np.moveaxis(a, 0, -1)) if a.ndim == 3 and a.shape[0] in (1, 3) else a


def thumbnail_png(image, size: int = 32) -> bytes:
    """PNG bytes of one uint8 (3, H, W) image resized so its longer side is `size` px."""
    pic = Image.fromarray(to_hwc(image))
    scale = size / max(pic.size)
    if scale != 1:
        pic = pic.resize((max(1, round(pic.width * scale)), max(1, round(pic.height * scale))),
                         Image.NEAREST if scale > 1 else Image.BILINEAR)
    buf = io.BytesIO()
    pic.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def data_uri(image, size: int = 32) -> str:
    """"data:image/png;base64,..." of `thumbnail_png`, for plotly layout images and HTML."""
    return "data:image/png;base64," + base64.b64encode(thumbnail_png(image, size)).decode()


def contact_sheet(images, start: int, count: int = 100, size: int = 64, cols: int = 10,
                  quality: int = 85) -> bytes:
    """JPEG bytes of images[start:start+count] (uint8 (N, 3, H, W)) as a grid, `cols` wide, each cell
    size x size px, row-major: image start + k sits at column k % cols, row k // cols."""
    block = torch.as_tensor(images[start:start + count])
    if block.ndim != 4 or block.shape[1] != 3 or not len(block):
        raise ValueError(f"contact_sheet needs uint8 (N, 3, H, W) images from index {start}, got {tuple(block.shape)}")
    small = F.interpolate(block.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    small = small.round().clamp(0, 255).to(torch.uint8)
    rows = -(-len(small) // cols)
    grid = torch.zeros(rows * cols, 3, size, size, dtype=torch.uint8)
    grid[:len(small)] = small
    grid = grid.view(rows, cols, 3, size, size).permute(0, 3, 1, 4, 2).reshape(rows * size, cols * size, 3)
    buf = io.BytesIO()
    Image.fromarray(grid.numpy()).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def spread_sample(coords, count: int, seed: int = 0) -> np.ndarray:
    """Indices of at most `count` points spread over the map: one per occupied cell of a square grid
    (the point nearest each cell's centre), so thumbnails drawn on the map cover it without piling up."""
    coords = np.asarray(coords, dtype=np.float64)
    n = len(coords)
    if n <= count:
        return np.arange(n)
    lo, hi = coords.min(0), coords.max(0)
    side = max(1, int(np.sqrt(count)))
    cell = np.floor((coords - lo) / np.maximum(hi - lo, 1e-12) * (side - 1e-9)).astype(np.int64)
    centre = lo + (cell + 0.5) * np.maximum(hi - lo, 1e-12) / side
    d = ((coords - centre) ** 2).sum(1)
    key = cell[:, 0] * side + cell[:, 1]
    order = np.lexsort((d, key))
    first = order[np.r_[True, key[order][1:] != key[order][:-1]]]
    if len(first) > count:
        first = np.random.default_rng(seed).choice(first, count, replace=False)
    return np.sort(first)
