"""Hover pictures and clicks for a Plotly scatter drawn with `st.plotly_chart`.

Plotly's hover labels are SVG text and cannot hold an image, Streamlit reports no hover events, and its
point selection loses clicks that land while the page reruns. This is a Streamlit v2 component (no
iframe: its script shares the page's DOM) that finds the chart by its key and listens to the chart's own
`plotly_hover` and `plotly_click` events: a hover shows a floating thumbnail, a click is sent to Python
(and the page reruns with it in `clicked(chart_key)`); a double-click resets the axes in select mode too.

Pictures travel in contact sheets of `PER_SHEET` consecutive images (one JPEG, about 100 KB): the
first hover over a point of a sheet the browser does not hold asks Python for that sheet (a trigger
that reruns only this fragment), and every later hover over its points is drawn at once from the
browser's copy. A 50,000-point map ships only the sheets someone actually looks at.
The chart's points must carry their image index as `customdata`.
"""

import base64

import streamlit as st

PER_SHEET = 100  # images per contact sheet: 10 x 10 cells
COLS = 10
SIZE = 64  # px per cell in the sheet
SHOWN = 112  # px on screen

_JS = """
export default function ({ data, setTriggerValue }) {
  const sheets = (window.__sslLabSheets ||= new Map());  // "token/sheet" -> data URI, shared by all maps
  const key = (s) => `${data.token}/${s}`;
  if (data.sheet !== null && data.picture) sheets.set(key(data.sheet), data.picture);

  let tip = document.getElementById("ssl-lab-hover-thumb");
  if (!tip) {
    tip = document.createElement("div");
    tip.id = "ssl-lab-hover-thumb";
    Object.assign(tip.style, {position: "fixed", display: "none", pointerEvents: "none", zIndex: 100000,
      border: "2px solid #fff", borderRadius: "4px", boxShadow: "0 2px 10px rgba(0,0,0,.45)",
      backgroundRepeat: "no-repeat", backgroundColor: "#222"});
    document.body.appendChild(tip);
  }

  // Per chart: the latest data, the hovered point and the sheets asked for. Kept on the chart's div,
  // because this function runs again whenever Python sends new data.
  const draw = (gd) => {
    const st = gd.__sslHover, d = st.data, h = st.hover;
    if (!h) { tip.style.display = "none"; return; }
    const url = sheets.get(`${d.token}/${Math.floor(h.i / d.per_sheet)}`);
    if (!url) return;  // asked for; drawn when it arrives
    const k = h.i % d.per_sheet, s = d.shown;
    Object.assign(tip.style, {width: `${s}px`, height: `${s}px`, backgroundImage: `url(${url})`,
      backgroundSize: `${d.cols * s}px auto`,
      backgroundPosition: `-${(k % d.cols) * s}px -${Math.floor(k / d.cols) * s}px`,
      left: `${Math.min(h.x + 18, window.innerWidth - s - 8)}px`, top: `${Math.max(h.y - s - 12, 8)}px`,
      display: "block"});
    tip.dataset.point = String(h.i);
  };
  // Ask Python for a sheet. A request can be lost when it lands during another rerun, so ask again
  // every 2 s while the pointer still rests on a point of that sheet and the sheet has not come.
  const want = (gd, sheet) => {
    const st = gd.__sslHover;
    if (sheets.has(`${st.data.token}/${sheet}`) || performance.now() - (st.asked.get(sheet) ?? -1e9) < 2000) return;
    st.asked.set(sheet, performance.now());
    st.ask("sheet", sheet);
    setTimeout(() => {
      const h = gd.__sslHover.hover;
      if (h && Math.floor(h.i / gd.__sslHover.data.per_sheet) === sheet) want(gd, sheet);
    }, 2050);
  };
  const attach = (gd) => {
    gd.__sslHover = {data, hover: (gd.__sslHover || {}).hover || null, asked: (gd.__sslHover || {}).asked || new Map(),
                     ask: setTriggerValue};
    if (gd.__sslHoverAttached) { draw(gd); return; }
    gd.__sslHoverAttached = true;
    gd.on("plotly_hover", (ev) => {
      const p = ev.points && ev.points[0];
      if (!p || p.customdata === undefined) return;
      const st = gd.__sslHover, d = st.data;
      const i = Number(Array.isArray(p.customdata) ? p.customdata[0] : p.customdata);
      const e = ev.event || {};
      st.hover = {i, x: e.clientX || 0, y: e.clientY || 0};
      want(gd, Math.floor(i / d.per_sheet));
      draw(gd);
    });
    gd.on("plotly_unhover", () => { gd.__sslHover.hover = null; tip.style.display = "none"; });
    // In select mode plotly spends a double-click on clearing the selection and leaves the axes zoomed:
    // reset them as well, when they are zoomed, through the mode bar's own button (the page has no Plotly
    // global to call). Unzoomed axes are left alone: a reset redraws the chart, and a click during it is lost.
    gd.on("plotly_deselect", () => {
      const zoomed = ["xaxis", "yaxis"].some((a) => gd.layout[a] && gd.layout[a].autorange === false);
      if (zoomed) gd.querySelector('.modebar-btn[data-title="Reset axes"]')?.click();
    });
    gd.on("plotly_click", (ev) => {
      const p = ev.points && ev.points[0];
      if (!p || p.customdata === undefined) return;
      gd.__sslHover.ask("click", Number(Array.isArray(p.customdata) ? p.customdata[0] : p.customdata));
    });
    draw(gd);
  };
  // The chart may render after this component, and is replaced when the page redraws it: look for it
  // until this component goes away.
  const find = () => {
    const gd = document.querySelector(`.st-key-${data.chart} .js-plotly-plot`);
    if (gd && typeof gd.on === "function" && gd.__sslHover?.data !== data) attach(gd);
  };
  find();
  const timer = setInterval(find, 300);
  return () => { clearInterval(timer); tip.style.display = "none"; };  // no picture left over a redrawn page
}
"""

_component = st.components.v2.component("ssl_lab_hover_thumbnails", js=_JS)


def clicked(chart_key: str) -> int | None:
    """The image index of the last point clicked on the chart (None until a click, or after `forget`)."""
    return st.session_state.get(f"{chart_key}_clicked")


def forget(chart_key: str) -> None:
    st.session_state.pop(f"{chart_key}_clicked", None)


@st.fragment
def chart_events(chart_key: str, token: str, sheet) -> None:
    """Hover pictures and clicks for the chart drawn with `st.plotly_chart(..., key=chart_key)`.

    `token` names the image set (the same token shares the browser's sheets between charts), and
    `sheet(k)` returns the JPEG bytes of images k*PER_SHEET ... (k+1)*PER_SHEET-1 laid out as
    `ssl_core.analysis.thumbnails.contact_sheet(images, k * PER_SHEET, PER_SHEET, SIZE, COLS)` does.
    """
    key = f"{chart_key}_hover"
    event = st.session_state.get(key) or {}  # a trigger's value exists only in the rerun it caused
    if event.get("click") is not None:
        st.session_state[f"{chart_key}_clicked"] = int(event["click"])
        st.rerun()  # the whole page: the neighbours show below the maps, outside this fragment
    k = event.get("sheet")
    picture = None if k is None else "data:image/jpeg;base64," + base64.b64encode(sheet(int(k))).decode()
    _component(key=key, data={"chart": chart_key, "token": token, "sheet": k, "picture": picture,
                              "per_sheet": PER_SHEET, "cols": COLS, "shown": SHOWN},
               on_sheet_change=lambda: None, on_click_change=lambda: None)
