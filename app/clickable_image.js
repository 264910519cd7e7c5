// The browser side of app/clickable_image.py: an <img> clicked patch by patch, and the mask preview.
// ---- the mask preview: ssl_core.analysis.similarity.segment and app.overlays.overlay, repeated here ----
const f16 = (h) => {  // one IEEE half-precision value
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  return e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
};
const decodeHalves = (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)), v = new DataView(bytes.buffer);
  const out = new Float32Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = f16(v.getUint16(2 * i, true));
  return out;
};
// torch.nn.functional.interpolate(mode="bilinear", align_corners=False) of a (inH, inW) map, rows and
// columns [0, outH) x [0, outW) of an (upH, upW) result (Frame.to_image crops the padding that way).
const axis = (n, up, out) => {
  const i0 = new Int32Array(out), i1 = new Int32Array(out), l = new Float32Array(out), s = n / up;
  for (let o = 0; o < out; o++) {
    const x = Math.max((o + 0.5) * s - 0.5, 0), i = Math.min(Math.floor(x), n - 1);
    i0[o] = i; i1[o] = i + (i < n - 1 ? 1 : 0); l[o] = Math.min(Math.max(x - i, 0), 1);
  }
  return [i0, i1, l];
};
const resize = (src, inH, inW, upH, upW, outH, outW) => {
  const [y0, y1, ly] = axis(inH, upH, outH), [x0, x1, lx] = axis(inW, upW, outW), out = new Float32Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    const a = y0[y] * inW, b = y1[y] * inW, wy = ly[y];
    for (let x = 0; x < outW; x++) {
      const wx = lx[x], top = src[a + x0[x]] * (1 - wx) + src[a + x1[x]] * wx;
      out[y * outW + x] = top * (1 - wy) + (src[b + x0[x]] * (1 - wx) + src[b + x1[x]] * wx) * wy;
    }
  }
  return out;
};
const toImage = (g, R, C, f) => {  // Frame.to_image
  const m = resize(g, R, C, f.ph, f.pw, f.rh, f.rw);
  return f.rh === f.height && f.rw === f.width ? m : resize(m, f.rh, f.rw, f.height, f.width, f.height, f.width);
};
const patchOf = (f, x, y) => {  // Frame.patch_of
  const xs = (Math.floor(x) + 0.5) * f.rw / f.width, ys = (Math.floor(y) + 0.5) * f.rh / f.height;
  return [Math.min(Math.floor(ys / f.patch), Math.ceil(f.rh / f.patch) - 1),
          Math.min(Math.floor(xs / f.patch), Math.ceil(f.rw / f.patch) - 1)];
};
const similarity = (feats, p, clicks) => {  // similarity_map: the best cosine to any click, at image size
  const {R, C, D, frame} = p, best = new Float32Array(frame.width * frame.height).fill(-Infinity);
  for (const c of clicks) {
    const [r, k] = patchOf(frame, c.x, c.y), u = (r * C + k) * D, g = new Float32Array(R * C);
    for (let i = 0; i < R * C; i++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += feats[i * D + d] * feats[u + d];
      g[i] = s;
    }
    const m = toImage(g, R, C, frame);
    for (let i = 0; i < m.length; i++) if (m[i] > best[i]) best[i] = m[i];
  }
  return best;
};
const otsu = (v, bins = 256) => {  // otsu_threshold
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < v.length; i++) { const x = v[i]; if (x < lo) lo = x; if (x > hi) hi = x; }  // v is finite
  if (hi - lo < 1e-12) return lo;
  const hist = new Float64Array(bins), k = bins / (hi - lo), step = (hi - lo) / bins, c = new Float64Array(bins);
  for (let i = 0; i < v.length; i++) hist[Math.min(Math.floor((v[i] - lo) * k), bins - 1)]++;
  for (let i = 0; i < bins; i++) c[i] = ((lo + i * step) + (lo + (i + 1) * step)) / 2;
  const [w0, s0, w1, s1] = [0, 1, 2, 3].map(() => new Float64Array(bins));  // cumulative counts and sums
  for (let i = 0, w = 0, s = 0; i < bins; i++) { w += hist[i]; s += hist[i] * c[i]; w0[i] = w; s0[i] = s; }
  for (let i = bins - 1, w = 0, s = 0; i >= 0; i--) { w += hist[i]; s += hist[i] * c[i]; w1[i] = w; s1[i] = s; }
  let best = -1, t = c[0];
  for (let i = 0; i < bins - 1; i++) {
    const d = s0[i] / Math.max(w0[i], 1) - s1[i + 1] / Math.max(w1[i + 1], 1), b = w0[i] * w1[i + 1] * d * d;
    if (b > best) { best = b; t = c[i]; }
  }
  return t;
};
const erode = (m, h, w, r) => {  // overlays.outline's inner part: a square of side 2r+1, edges repeated
  const a = new Uint8Array(m.length), b = new Uint8Array(m.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let all = 1;
    for (let d = -r; d <= r && all; d++) all = m[y * w + Math.min(Math.max(x + d, 0), w - 1)];
    a[y * w + x] = all;
  }
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let all = 1;
    for (let d = -r; d <= r && all; d++) all = a[Math.min(Math.max(y + d, 0), h - 1) * w + x];
    b[y * w + x] = all;
  }
  return b;
};
const drawPreview = (box) => {
  const d = box.__ssl, p = d.preview, canvas = box.querySelector("canvas");
  const clicks = p.clicks.concat(box.__pending), pos = clicks.filter((c) => c.positive);
  if (!box.__base || !pos.length) {  // drawn when the photo has decoded; no mask without a positive click
    canvas.style.display = "none";
    return;
  }
  const neg = clicks.filter((c) => !c.positive), f = p.frame, w = f.width, h = f.height;
  const P = similarity(box.__feats, p, pos), N = neg.length ? similarity(box.__feats, p, neg) : null;
  const t = p.threshold === "otsu" ? otsu(P) : p.threshold, mask = new Uint8Array(w * h);
  let lo = Infinity, hi = -Infinity, n = 0;
  for (let i = 0; i < P.length; i++) {
    mask[i] = P[i] > t && (!N || P[i] > N[i]) ? 1 : 0; n += mask[i];
    if (P[i] < lo) lo = P[i]; if (P[i] > hi) hi = P[i];
  }
  const inner = erode(mask, h, w, p.outline), px = new ImageData(w, h), out = px.data, base = box.__base;
  const a = p.alpha, scale = 255 / Math.max(hi - lo, 1e-12), lut = p.lut, line = p.line;
  for (let i = 0, j = 0; i < P.length; i++, j += 4) {
    if (mask[i] && !inner[i]) {
      out[j] = line[0]; out[j + 1] = line[1]; out[j + 2] = line[2];
    } else {  // a Uint8ClampedArray rounds half to even, as numpy's round does
      const q = 3 * Math.min(Math.max(Math.floor((P[i] - lo) * scale), 0), 255);
      out[j] = base[j] * (1 - a) + lut[q] * a; out[j + 1] = base[j + 1] * (1 - a) + lut[q + 1] * a;
      out[j + 2] = base[j + 2] * (1 - a) + lut[q + 2] * a;
    }
    out[j + 3] = 255;
  }
  Object.assign(canvas, {width: w, height: h});
  const ctx = canvas.getContext("2d");
  ctx.putImageData(px, 0, 0);
  for (const c of clicks) {
    ctx.beginPath();
    ctx.arc(c.x, c.y, p.radius - 1, 0, 2 * Math.PI);
    ctx.fillStyle = c.positive ? "rgb(40,220,90)" : "rgb(235,50,50)";
    ctx.fill();
    Object.assign(ctx, {lineWidth: 2, strokeStyle: "#fff"});
    ctx.stroke();
  }
  canvas.style.display = "block";
  // What the browser drew, for tests and bench/load.py: the last click it includes, the mask's share, the threshold.
  Object.assign(box.dataset, {previewSeq: clicks[clicks.length - 1].seq || d.seq, previewCoverage: n / (w * h),
                              previewThreshold: t});
};

export default function ({ data, parentElement, setTriggerValue }) {
  let box = parentElement.querySelector(".ssl-click-box");
  if (!box) {
    box = document.createElement("div");
    box.className = "ssl-click-box";
    box.__pending = [];
    Object.assign(box.style, {position: "relative", display: "inline-block", lineHeight: 0, cursor: "crosshair"});
    const img = document.createElement("img");
    img.alt = "click a patch";
    img.draggable = false;
    Object.assign(img.style, {display: "block", userSelect: "none"});
    const canvas = document.createElement("canvas");
    Object.assign(canvas.style, {position: "absolute", left: 0, top: 0, width: "100%", height: "100%", display: "none",
      pointerEvents: "none"});
    const mark = document.createElement("div");
    Object.assign(mark.style, {position: "absolute", display: "none", pointerEvents: "none", boxSizing: "border-box",
      border: "2px solid #fff", outline: "1px solid rgba(0,0,0,.6)"});
    box.append(img, canvas, mark);
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
      const p = patchAt(e), d = box.__ssl;
      if (!p) return;
      // Numbered past every click the server has seen, so its reply tells which clicks it holds; the trigger
      // carries every click not yet answered, since Streamlit keeps only the latest of triggers that queue up.
      const seq = Math.max(box.__seq || 0, d.seq) + 1, f = d.preview && d.preview.frame;
      box.__seq = seq;
      box.__pending.push(f ? {...p, seq, positive: d.preview.positive,  // Frame.patch_centre, as the server
                              x: Math.min((p.col + 0.5) * f.patch * f.width / f.rw, f.width - 0.5),
                              y: Math.min((p.row + 0.5) * f.patch * f.height / f.rh, f.height - 0.5)} : {...p, seq});
      setTriggerValue("click", {clicks: box.__pending.map(({row, col, seq}) => ({row, col, seq}))});
      if (f) drawPreview(box);
    });
  }
  box.__ssl = data;
  const img = box.querySelector("img"), canvas = box.querySelector("canvas"), p = data.preview;
  box.__pending = box.__pending.filter((c) => c.seq > data.seq);  // clicks the server has not answered yet
  // The server's picture replaces the preview once it holds every click, and not before it has decoded.
  const serverImage = () => { if (!box.__pending.length) canvas.style.display = "none"; };
  if (img.getAttribute("src") !== data.src) {
    img.src = data.src;
    img.decode().then(serverImage, serverImage);
  } else {
    serverImage();
  }
  img.style.width = `${data.width}px`;
  Object.assign(img.dataset, {rows: data.rows, cols: data.cols, w: data.w, h: data.h, pw: data.pw, ph: data.ph});
  if (!p) return;
  box.dataset.positive = p.positive;  // the mode the next click is drawn in
  if (box.__fkey !== p.fkey) { box.__feats = decodeHalves(p.feats); box.__fkey = p.fkey; }
  if (box.__bsrc !== p.base) {
    box.__bsrc = p.base;
    box.__base = null;
    box.dataset.ready = "";
    const photo = new Image();
    photo.onload = () => {
      if (box.__bsrc !== p.base) return;
      const c = document.createElement("canvas");
      Object.assign(c, {width: photo.naturalWidth, height: photo.naturalHeight});
      const ctx = c.getContext("2d");
      ctx.drawImage(photo, 0, 0);
      box.__base = ctx.getImageData(0, 0, c.width, c.height).data;
      box.dataset.ready = "1";  // a click is drawn in its own event from here on
      if (box.__pending.length) drawPreview(box);
    };
    photo.src = p.base;
  }
  if (box.__pending.length) drawPreview(box);
}
