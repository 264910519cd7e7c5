"""An image you can click patch by patch: a Streamlit v2 component (no iframe) around one <img>.

The pointer's patch is outlined as it moves; a click sends that patch's (row, column) to Python as a
trigger value, which exists only in the rerun it causes, so clicking the same patch twice counts twice.
The picture travels as a JPEG data URI (a 451x300 photo: 35 KB and 2 ms of server time at quality 90).

Why not a Plotly chart with one transparent marker per patch, as before: every click re-created the
chart in each browser (Plotly's newPlot over hundreds of markers) and built and serialised a Plotly
figure on the server; with a class of twenty on one 2-core server the browsers' share of that work held
click-to-mask at 4.7 s p50 (bench/results/load.md). An <img> whose source changes costs one JPEG decode.

The mask preview (`Preview`): the browser also holds the image's unit patch features (float16, 74-83 KB for a
photo at 224 px) and draws a click's similarity map and mask itself, in milliseconds, while the server's
rerun is on its way; the server's picture replaces it once it holds every click. This is how SAM's web demo
splits the work (Kirillov et al. 2023: the image encoder runs once on a server, the prompt decoder in the
browser): on a server shared by a class, a round trip waits for CPU that twenty browsers and other sessions
hold, and the preview does not. The browser side, clickable_image.js, repeats
ssl_core.analysis.similarity.segment and app.overlays.overlay (bilinear upsampling as torch's, Otsu's threshold
as otsu_threshold): tests/e2e/test_clickable_image.py checks it against them on the same features, and
tests/e2e/test_look.py checks a real click's mask and threshold against the server's.
"""

import base64
import hashlib
import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from app import overlays
from ssl_core.analysis.similarity import PatchFeatures

_JS = (Path(__file__).parent / "clickable_image.js").read_text()  # the component's browser side

_component = st.components.v2.component("ssl_lab_clickable_image", js=_JS, isolate_styles=False)


def _clicks_key(name: str) -> str:
    return f"{name}_clicks"


def clicks(name: str) -> list[dict]:
    """The clicks so far: [{"x", "y", "positive"}] in pixels of the original image (each a patch centre)."""
    return st.session_state.setdefault(_clicks_key(name), [])


def set_clicks(name: str, value: list[dict]) -> None:
    st.session_state[_clicks_key(name)] = value


def _on_click(name: str, frame, positive_key: str) -> None:
    """Append the clicks of the trigger the server has not seen yet (numbered by the browser)."""
    event = st.session_state.get(f"{name}_image") or {}
    seen = st.session_state.get(f"{name}_seq", 0)
    rows, cols = frame.content_grid
    for p in (event.get("click") or {}).get("clicks", []):
        try:
            seq, row, col = int(p["seq"]), int(p["row"]), int(p["col"])
        except (KeyError, TypeError, ValueError):
            continue  # not what this component sends: ignore it
        if seq <= seen:
            continue
        x, y = frame.patch_centre(min(max(row, 0), rows - 1), min(max(col, 0), cols - 1))
        clicks(name).append({"x": float(x), "y": float(y), "positive": _positive(positive_key)})
        seen = seq
    st.session_state[f"{name}_seq"] = seen


def _positive(positive_key: str) -> bool:
    return st.session_state.get(positive_key, True) not in (False, "negative", "Negative")


def jpeg_uri(picture: np.ndarray, quality: int = 90) -> str:
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


@dataclass(frozen=True)
class Preview:
    """What the browser needs to draw a click's mask itself: the unit patch features, the photo, and the rule
    (threshold: "otsu" or a cosine similarity) and colours of app.overlays.overlay."""

    feats: PatchFeatures
    image: np.ndarray
    threshold: float | str
    alpha: float
    cmap: str


PREVIEW_MAX_BYTES = 2**20
"""The most feature bytes a page sends its browser with every rerun (float16, before base64 adds a third): a
ViT-S/16 at 448 px (600 KB) gets a preview; a ViT-B/16 at 448 px (1.2 MB) waits for the server."""


def previews(feats: PatchFeatures) -> bool:
    """Whether the browser draws this image's masks itself (its features fit PREVIEW_MAX_BYTES as float16)."""
    return 2 * feats.unit.size <= PREVIEW_MAX_BYTES


def _preview_data(p: Preview, name: str, positive_key: str) -> dict:
    rows, cols, dim = p.feats.unit.shape
    halves = np.ascontiguousarray(p.feats.unit, dtype="<f2").tobytes()  # cosines to about 1e-3
    return {"feats": base64.b64encode(halves).decode(), "fkey": hashlib.blake2b(halves, digest_size=8).hexdigest(),
            "R": rows, "C": cols, "D": dim, "base": jpeg_uri(p.image),
            "frame": asdict(p.feats.frame),
            "clicks": clicks(name), "positive": _positive(positive_key),
            "threshold": p.threshold, "alpha": p.alpha, "lut": overlays.lut(p.cmap).ravel().tolist(),
            "line": list(overlays.LINE_COLOUR), "outline": overlays.outline_width(p.image.shape),
            "radius": overlays.click_radius(p.image.shape)}


def clickable_image(name: str, picture: np.ndarray, frame, positive_key: str, width: int = 560,
                    preview: Preview | None = None) -> None:
    """Show `picture` (H, W, 3) uint8, the size of the original image that `frame` maps, `width` px wide; a
    click on a patch appends its centre to `clicks(name)` (negative when st.session_state[positive_key] is
    False or "negative"). With a `preview`, the browser draws the click's mask at once, before the server's
    picture arrives."""
    h, w = picture.shape[:2]
    rows, cols = frame.content_grid
    data = {"src": jpeg_uri(picture), "width": int(width), "w": w, "h": h, "rows": rows, "cols": cols,
            "pw": frame.patch * w / frame.rw, "ph": frame.patch * h / frame.rh,
            "seq": st.session_state.get(f"{name}_seq", 0),  # the last click the server holds
            "preview": _preview_data(preview, name, positive_key) if preview and previews(preview.feats) else None}
    _component(key=f"{name}_image", data=data, on_click_change=lambda: _on_click(name, frame, positive_key))
