"""An image you can click patch by patch: a Streamlit v2 component (no iframe) around one <img>.

The pointer's patch is outlined as it moves; a click sends that patch's (row, column) to Python as a
trigger value, which exists only in the rerun it causes, so clicking the same patch twice counts twice.
The picture travels as a JPEG data URI (a 451x300 photo: 35 KB and 2 ms of server time at quality 90).

Why not a Plotly chart with one transparent marker per patch, as before: every click re-created the
chart in each browser (Plotly's newPlot over hundreds of markers) and built and serialised a Plotly
figure on the server; with a class of twenty on one 2-core server the browsers' share of that work held
click-to-mask at 4.7 s p50 (bench/results/load.md). An <img> whose source changes costs one JPEG decode.
"""

import base64
import io

import numpy as np
import streamlit as st
from PIL import Image

_JS = """
export default function ({ data, parentElement, setTriggerValue }) {
  let box = parentElement.querySelector(".ssl-click-box");
  if (!box) {
    box = document.createElement("div");
    box.className = "ssl-click-box";
    Object.assign(box.style, {position: "relative", display: "inline-block", lineHeight: 0, cursor: "crosshair"});
    const img = document.createElement("img");
    img.alt = "click a patch";
    img.draggable = false;
    Object.assign(img.style, {display: "block", userSelect: "none"});
    const mark = document.createElement("div");
    Object.assign(mark.style, {position: "absolute", display: "none", pointerEvents: "none", boxSizing: "border-box",
      border: "2px solid #fff", outline: "1px solid rgba(0,0,0,.6)"});
    box.append(img, mark);
    parentElement.appendChild(box);
    // The patch under the pointer, on the grid the model sees (the geometry of the latest data).
    const patchAt = (e) => {
      const d = box.__ssl, r = img.getBoundingClientRect();
      const x = (e.clientX - r.left) * d.w / r.width, y = (e.clientY - r.top) * d.h / r.height;
      if (x < 0 || y < 0 || x >= d.w || y >= d.h) return null;
      return {row: Math.min(d.rows - 1, Math.floor(y / d.ph)), col: Math.min(d.cols - 1, Math.floor(x / d.pw))};
    };
    box.addEventListener("mousemove", (e) => {
      const p = patchAt(e), d = box.__ssl, r = img.getBoundingClientRect();
      if (!p) { mark.style.display = "none"; return; }
      const sx = r.width / d.w, sy = r.height / d.h;
      Object.assign(mark.style, {display: "block", left: `${p.col * d.pw * sx}px`, top: `${p.row * d.ph * sy}px`,
        width: `${Math.min(d.pw, d.w - p.col * d.pw) * sx}px`, height: `${Math.min(d.ph, d.h - p.row * d.ph) * sy}px`});
      box.title = `patch row ${p.row}, column ${p.col}`;
    });
    box.addEventListener("mouseleave", () => { mark.style.display = "none"; });
    box.addEventListener("click", (e) => {
      const p = patchAt(e);
      if (p) setTriggerValue("click", p);
    });
  }
  box.__ssl = data;
  const img = box.querySelector("img");
  if (img.getAttribute("src") !== data.src) img.src = data.src;
  img.style.width = `${data.width}px`;
  Object.assign(img.dataset, {rows: data.rows, cols: data.cols, w: data.w, h: data.h, pw: data.pw, ph: data.ph});
}
"""

_component = st.components.v2.component("ssl_lab_clickable_image", js=_JS, isolate_styles=False)


def _clicks_key(name: str) -> str:
    return f"{name}_clicks"


def clicks(name: str) -> list[dict]:
    """The clicks so far: [{"x", "y", "positive"}] in pixels of the original image (each a patch centre)."""
    return st.session_state.setdefault(_clicks_key(name), [])


def set_clicks(name: str, value: list[dict]) -> None:
    st.session_state[_clicks_key(name)] = value


def _on_click(name: str, frame, positive_key: str) -> None:
    event = st.session_state.get(f"{name}_image") or {}
    p = event.get("click")
    if not p:
        return
    rows, cols = frame.content_grid
    row, col = min(max(int(p["row"]), 0), rows - 1), min(max(int(p["col"]), 0), cols - 1)
    x, y = frame.patch_centre(row, col)
    positive = st.session_state.get(positive_key, True) not in (False, "negative", "Negative")
    clicks(name).append({"x": float(x), "y": float(y), "positive": positive})


def jpeg_uri(picture: np.ndarray, quality: int = 90) -> str:
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def clickable_image(name: str, picture: np.ndarray, frame, positive_key: str, width: int = 560) -> None:
    """Show `picture` (H, W, 3) uint8, the size of the original image that `frame` maps, `width` px wide; a
    click on a patch appends its centre to `clicks(name)` (negative when st.session_state[positive_key] is
    False or "negative")."""
    h, w = picture.shape[:2]
    rows, cols = frame.content_grid
    data = {"src": jpeg_uri(picture), "width": int(width), "w": w, "h": h, "rows": rows, "cols": cols,
            "pw": frame.patch * w / frame.rw, "ph": frame.patch * h / frame.rh}
    _component(key=f"{name}_image", data=data, on_click_change=lambda: _on_click(name, frame, positive_key))
