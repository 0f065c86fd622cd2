// Helpers shared by the app's browser-side views (race.js, live_view.js): app/ui/components.py puts
// this file in front of each view's module when it registers the component.

// A base64 string of little-endian bytes as a typed array (Float32Array, Uint8Array, ...).
function decode(b64, Type) {
  const bin = atob(b64 || "");
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return Type === Uint8Array ? bytes : new Type(bytes.buffer);
}

function superscript(n) {
  const map = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };
  return String(n).split("").map((ch) => map[ch]).join("");
}

// 10^e as a tick label: 1, 10, 10², 10⁻³.
function pow10(e) {
  return e === 0 ? "1" : e === 1 ? "10" : "10" + superscript(e);
}

// A number for a label: `digits` significant digits, powers of ten written out when very large or small.
function fmtNum(v, digits = 3) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) {
    const e = Math.floor(Math.log10(a));
    const m = v / Math.pow(10, e);
    const ms = Math.abs(Math.abs(m) - 1) < 1e-9 ? (m < 0 ? "-" : "") : String(Number(m.toPrecision(digits - 1))) + "×";
    return ms + "10" + superscript(e);
  }
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  return String(Number(v.toPrecision(digits)));
}

// About n round-numbered ticks between lo and hi (steps of 1, 2, 2.5 or 5 times a power of ten).
function niceTicks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}

// A run's marker shape (app.ui.theme.RUN_SYMBOLS: Plotly's names) as the current path, centred on
// (x, y), about r from the centre (each shape sized to look as large as a circle of radius r).
function shapePath(c, shape, x, y, r) {
  c.beginPath();
  const poly = (n, rot, rr, dy = 0) => {
    for (let i = 0; i < n; i++) {
      const t = rot + (i * 2 * Math.PI) / n, px = x + rr * Math.cos(t), py = y + dy + rr * Math.sin(t);
      i ? c.lineTo(px, py) : c.moveTo(px, py);
    }
    c.closePath();
  };
  if (shape === "square") { const s = r * 0.89; c.rect(x - s, y - s, 2 * s, 2 * s); }
  else if (shape === "diamond") poly(4, -Math.PI / 2, r * 1.25);
  else if (shape === "triangle-up") poly(3, -Math.PI / 2, r * 1.35, r * 0.15);
  else if (shape === "triangle-down") poly(3, Math.PI / 2, r * 1.35, -r * 0.15);
  else if (shape === "pentagon") poly(5, -Math.PI / 2, r * 1.1);
  else if (shape === "hexagon") poly(6, 0, r * 1.08);
  else if (shape === "cross") {
    const a = r * 0.42, b = r * 1.15;
    const pts = [[-a, -b], [a, -b], [a, -a], [b, -a], [b, a], [a, a], [a, b], [-a, b], [-a, a], [-b, a], [-b, -a], [-a, -a]];
    pts.forEach(([px, py], i) => (i ? c.lineTo(x + px, y + py) : c.moveTo(x + px, y + py)));
    c.closePath();
  } else c.arc(x, y, r, 0, 2 * Math.PI);
}

// A filled shape with a rim (`edge`, `width` wide) that lifts it off what is under it.
function drawShape(c, shape, x, y, r, fill, edge, width = 2) {
  shapePath(c, shape, x, y, r);
  c.fillStyle = fill; c.fill();
  if (edge) { c.lineJoin = "round"; c.lineWidth = width; c.strokeStyle = edge; c.stroke(); }
}

// An open shape: its outline in `color` over a wider one in `edge`.
function outlineShape(c, shape, x, y, r, color, edge, width = 3) {
  shapePath(c, shape, x, y, r);
  c.lineJoin = "round";
  if (edge) { c.lineWidth = width + 3; c.strokeStyle = edge; c.stroke(); }
  c.lineWidth = width; c.strokeStyle = color; c.stroke();
}

// A legend's key for a run: its line (with its dash pattern) and its shape in the middle, on a small
// canvas of w x h CSS pixels.
function runKey(run, style, sizes, w = 46, h = 22) {
  const cv = document.createElement("canvas");
  const dpr = window.devicePixelRatio || 1;
  cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr);
  cv.style.width = w + "px"; cv.style.height = h + "px";
  const c = cv.getContext("2d");
  c.scale(dpr, dpr);
  c.beginPath(); c.moveTo(1, h / 2); c.lineTo(w - 1, h / 2);
  c.setLineDash(run.dash || []); c.lineCap = "butt"; c.lineWidth = sizes.line; c.strokeStyle = run.color; c.stroke();
  c.setLineDash([]);
  drawShape(c, run.shape, w / 2, h / 2, sizes.marker / 2 + 1, run.color, style.edge, 2);
  cv.className = "oe-key";
  return cv;
}

// The CSS font of a view's text: `size` px ("600" weight for titles).
function cssFont(size, weight = "") {
  return `${weight ? weight + " " : ""}${size}px 'Source Sans', 'Source Sans Pro', 'DejaVu Sans', Arial, sans-serif`;
}

// The first text that fits `width`, else the last one cut.
function fitting(c, texts, width) {
  return texts.find((t) => c.measureText(t).width <= width) || ellipsize(c, texts[texts.length - 1], width);
}

function ellipsize(c, text, width) {
  if (c.measureText(text).width <= width) return text;
  let lo = 0, hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (c.measureText(text.slice(0, mid) + "…").width <= width) lo = mid;
    else hi = mid - 1;
  }
  return text.slice(0, lo) + "…";
}
