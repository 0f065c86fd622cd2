// Live Training, drawn in the browser (Streamlit custom component v2; app/training/live_view.py).
//
// Python sends payloads built by app/training/figures.py: in full once per race (the frame, the
// points, the runs), then on every redraw only what is new since a few payloads back: the rows of
// each run's history and evaluations, and the probability grids of the runs that moved. Each series
// is kept here as rows 0, s, 2s, ... of the run's rows for a power-of-two stride s; when a payload
// raises the stride, the rows that are not multiples of it are dropped, as Python assumes. Rows
// already held are skipped (a race's rows never change), so a lost payload or two leave no gap.
// When what is held here still does not continue a payload (another race, a page reload or
// remount, a longer loss), the view keeps its picture and asks for a full copy (trigger "resync").
//
// No color or size is named here: every payload carries the theme's (`style`: app.training.figures.style;
// `sizes`: app.ui.theme.sizes). The canvas code reads them from this.style and this.sizes, live_view.css
// through the CSS variables --oe-<name> set on the view's root element. Each run has its color and its
// marker shape: the shape stands beside its map's title, in its legend key and along its curves (filled
// on the training curves, open on the test curves), so runs stay apart without their colors.
//
// window.__oeLive = {redraws, step}: paints of new data and the highest training step drawn of the
// race on screen, for the browser benchmark (and resyncs: full copies asked). Nothing is fetched
// from anywhere.

const STATS = (window.__oeLive ||= { redraws: 0, step: 0, resyncs: 0 });
const VIEWS = new WeakMap();
// Stand-ins until a payload brings the theme's sizes.
let FONT = cssFont(18), TITLE = cssFont(22, "600"), SIZES = { font: 18, title: 22, line: 3, marker: 12 };
const MARK_EVERY = 90; // px between a curve's shape markers
const RESYNC_MS = 1000; // at most one request for a full copy per second
const UP = 4; // image pixels per grid step

function hexRgb(c) {
  const h = c.replace("#", "");
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
}

// The grid's levels (Race.logit_grid) as logit differences z = a·sinh((v − 127.5) / 127.5 · asinh(clip / a)).
function levelTable(clip, a) {
  const z = new Float32Array(256);
  for (let v = 0; v < 256; v++) z[v] = a * Math.sinh(((v - 127.5) / 127.5) * Math.asinh(clip / a));
  return z;
}

// RGBA colors for P(class 1) = k / (PLEVELS − 1), along the theme's class scale.
const PLEVELS = 1024;
function colorTable(scale) {
  const stops = scale.map(([p, c]) => [p, hexRgb(c)]);
  const lut = new Uint8ClampedArray(PLEVELS * 4);
  for (let v = 0; v < PLEVELS; v++) {
    const p = v / (PLEVELS - 1);
    let k = 0;
    while (k < stops.length - 2 && p > stops[k + 1][0]) k++;
    const [p0, c0] = stops[k], [p1, c1] = stops[k + 1];
    const t = p1 > p0 ? Math.min(Math.max((p - p0) / (p1 - p0), 0), 1) : 0;
    for (let j = 0; j < 3; j++) lut[v * 4 + j] = c0[j] + (c1[j] - c0[j]) * t;
    lut[v * 4 + 3] = 255;
  }
  return lut;
}

function logTicks(lo, hi) {
  const e0 = Math.floor(Math.log10(lo)), e1 = Math.ceil(Math.log10(hi));
  const span = e1 - e0;
  const every = Math.max(1, Math.ceil(span / 6));
  const mults = span <= 1 ? [1, 2, 5] : span <= 2 ? [1, 3] : [1];
  const out = [];
  for (let e = e0; e <= e1; e++) {
    if (mults.length === 1 && (e - e0) % every) continue;
    for (const m of mults) {
      const v = m * Math.pow(10, e);
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

// A title in at most `max` lines of `width` (the last one cut with an ellipsis).
function wrap(c, text, width, max = 2) {
  const words = text.split(" "), lines = [];
  let line = "";
  for (const w of words) {
    const next = line ? line + " " + w : w;
    if (line && c.measureText(next).width > width) { lines.push(line); line = w; } else line = next;
  }
  lines.push(line);
  if (lines.length > max) lines.splice(max - 1, lines.length, lines.slice(max - 1).join(" "));
  lines[lines.length - 1] = ellipsize(c, lines[lines.length - 1], width);
  return lines;
}

// A series held at a stride: rows 0, stride, 2·stride, ... of a run's rows, one array per column.
class Series {
  constructor(ncols) {
    this.stride = 1;
    this.cols = Array.from({ length: ncols }, () => []);
  }
  get length() { return this.cols[0].length; }
  // Apply one payload block: the rows from index `base` (at its stride) on, of which those held
  // already are skipped (a race's rows never change). -1 when it leaves a gap, else the rows added.
  apply(block) {
    if (block.stride < this.stride || block.stride % this.stride) return -1;
    if (block.stride > this.stride) {
      const k = block.stride / this.stride;
      this.cols = this.cols.map((c) => c.filter((_, j) => j % k === 0));
      this.stride = block.stride;
    }
    if (block.base > this.length) return -1;
    const skip = this.length - block.base;
    if (block.n <= skip) return 0;
    const vals = decode(block.data, Float32Array);
    const m = this.cols.length;
    for (let r = skip; r < block.n; r++) for (let j = 0; j < m; j++) this.cols[j].push(vals[r * m + j]);
    return block.n - skip;
  }
}

class LiveView {
  constructor(root, setTrigger) {
    this.setTrigger = setTrigger;
    this.race = null;
    this.seq = -1;
    this.lastResync = -Infinity;
    this.frame = 0;
    this.fresh = false;
    this.width = 0;
    this.style = null;
    this.styleKey = "";
    this.root = el("div", "oel");
    this.legend = el("div", "oel-legend");
    this.maps = el("canvas", "oel-maps");
    this.classes = el("div", "oel-legend oel-classes");
    this.note = el("div", "oel-note");
    this.curves = el("canvas", "oel-curves");
    this.diag = el("canvas", "oel-diag");
    this.root.append(this.legend, this.maps, this.classes, this.note, this.curves, this.diag);
    root.append(this.root);
    this.observer = new ResizeObserver(() => {
      const w = Math.floor(this.root.clientWidth);
      if (w > 0 && w !== this.width) { this.width = w; this.schedule(false); }
    });
    this.observer.observe(this.root);
  }

  destroy() {
    this.observer.disconnect();
    cancelAnimationFrame(this.frame);
    this.root.remove();
  }

  resync(data, why) {
    const now = performance.now();
    if (now - this.lastResync < RESYNC_MS) return;
    this.lastResync = now;
    STATS.resyncs++;
    this.setTrigger("resync", { race: data.race, seq: data.seq, why, t: Date.now() });
  }

  // The theme's colors and sizes: kept for the canvas, and as CSS variables --oe-<name> on the root.
  setStyle(style, sizes) {
    const key = style ? JSON.stringify([style, sizes]) : "";
    if (!key || key === this.styleKey) return;
    this.styleKey = key;
    this.style = style;
    for (const [k, v] of Object.entries(style)) this.root.style.setProperty(`--oe-${k}`, v);
    if (sizes) {
      SIZES = sizes; FONT = cssFont(sizes.font); TITLE = cssFont(sizes.title, "600");
      this.root.style.setProperty("--oe-font-size", `${sizes.font}px`);
    }
    this.pointLayer = null; // drawn with the edge color
    if (this.meta) this.buildLegends();
    this.schedule(false);
  }

  receive(data) {
    if (!data || !data.runs) return;
    this.setStyle(data.style, data.sizes);
    if (data.full) {
      this.reset(data);
    } else if (data.race !== this.race) {
      return this.resync(data, this.race === null ? "no copy" : "another race");
    } else if (data.seq <= this.seq) {
      return; // already applied (a re-render with the same or an older payload)
    }
    let fresh = !!data.full;
    if (!this.runs || data.runs.length !== this.runs.length) return this.resync(data, "other runs");
    for (let i = 0; i < data.runs.length; i++) {
      const r = data.runs[i], run = this.runs[i];
      const added = [run.hist.apply(r.hist), run.evals.apply(r.evals)];
      if (added.includes(-1)) return this.resync(data, "a gap in the rows");
      fresh = fresh || added[0] > 0 || added[1] > 0;
      if (r.grid && r.grid_step !== run.gridStep) {
        this.setGrid(run, decode(r.grid, Uint8Array));
        run.gridStep = r.grid_step;
        fresh = true;
      }
      Object.assign(run.status, { step: r.step, acc: r.test_acc, loss: r.test_loss, diverged: r.diverged });
    }
    this.seq = data.seq;
    this.step = data.step;
    this.noteText = data.note || "";
    this.schedule(fresh);
  }

  reset(data) {
    const s = data.static;
    if (data.race !== this.race) STATS.step = 0; // another race: its steps count from 0
    this.race = data.race;
    this.meta = s;
    this.lut = colorTable(s.class_scale);
    this.zOf = levelTable(s.logit_clip, s.logit_scale);
    const tr = decode(s.train.x, Float32Array), te = decode(s.test.x, Float32Array);
    this.points = { train: [tr, decode(s.train.y, Uint8Array)], test: [te, decode(s.test.y, Uint8Array)] };
    this.pointLayer = null;
    this.runs = s.runs.map((meta) => {
      const img = document.createElement("canvas");
      img.width = img.height = s.grid;
      return {
        meta, img, z: null, gridStep: -1, status: {},
        hist: new Series(s.hist_columns.length), evals: new Series(s.eval_columns.length),
      };
    });
    this.hcol = Object.fromEntries(s.hist_columns.map((c, j) => [c, j]));
    this.ecol = Object.fromEntries(s.eval_columns.map((c, j) => [c, j]));
    this.buildLegends();
  }

  buildLegends() {
    const s = this.meta;
    this.legend.textContent = "";
    for (const r of s.runs) {
      const item = el("span", "oel-item");
      item.append(runKey({ color: r.color, shape: r.shape, dash: [] }, this.style || {}, SIZES), el("span", "", r.title));
      this.legend.append(item);
    }
    this.classes.textContent = "";
    const [c0, c1] = s.class_colors;
    const dot = (color, ring) => {
      const d = el("span", ring ? "oel-ring" : "oel-dot");
      d.style[ring ? "borderColor" : "background"] = color;
      return d;
    };
    for (const [color, ring, label] of [[c0, false, "class 0 (train)"], [c0, true, "class 0 (test)"],
      [c1, false, "class 1 (train)"], [c1, true, "class 1 (test)"]]) {
      const item = el("span", "oel-item");
      item.append(dot(color, ring), el("span", "", label));
      this.classes.append(item);
    }
    const b = el("span", "oel-item");
    b.append(el("span", "oel-boundary"), el("span", "", "boundary P(class 1) = ½"));
    this.classes.append(b);
  }

  // The grid's image, UP times finer: the logit difference z interpolated bilinearly (it varies smoothly
  // even across a sharp boundary), then P = σ(z) colored.
  setGrid(run, levels) {
    const n = this.meta.grid, m = UP * (n - 1) + 1, zOf = this.zOf, lut = this.lut;
    const z = new Float32Array(n * n);
    for (let k = 0; k < n * n; k++) z[k] = zOf[levels[k]];
    if (run.img.width !== m) run.img.width = run.img.height = m;
    const c = run.img.getContext("2d");
    const img = c.createImageData(m, m), out = img.data;
    for (let y = 0; y < m; y++) {
      const gy = (m - 1 - y) / UP, j = Math.min(Math.floor(gy), n - 2), fy = gy - j; // image rows go down
      for (let x = 0; x < m; x++) {
        const gx = x / UP, i = Math.min(Math.floor(gx), n - 2), fx = gx - i;
        const a = z[j * n + i], b = z[j * n + i + 1], d = z[(j + 1) * n + i], e = z[(j + 1) * n + i + 1];
        const zz = (a + (b - a) * fx) * (1 - fy) + (d + (e - d) * fx) * fy;
        const v = Math.round((PLEVELS - 1) / (1 + Math.exp(-zz))) * 4, o = (y * m + x) * 4;
        out[o] = lut[v]; out[o + 1] = lut[v + 1]; out[o + 2] = lut[v + 2]; out[o + 3] = 255;
      }
    }
    c.putImageData(img, 0, 0);
    run.z = z;
  }

  schedule(fresh) {
    this.fresh = this.fresh || fresh;
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      if (!this.meta || !this.style) return;
      this.paint();
      if (this.fresh) {
        STATS.redraws++;
        STATS.step = Math.max(STATS.step, this.step);
        this.fresh = false;
      }
    });
  }

  // -- painting --------------------------------------------------------------------------------
  canvas(cv, height) {
    const dpr = window.devicePixelRatio || 1;
    const w = this.width || Math.floor(this.root.clientWidth) || 800;
    if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(height * dpr)) {
      cv.width = Math.round(w * dpr);
      cv.height = Math.round(height * dpr);
      cv.style.width = w + "px";
      cv.style.height = height + "px";
    }
    const c = cv.getContext("2d");
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.clearRect(0, 0, w, height);
    return [c, w];
  }

  paint() {
    this.paintMaps();
    const started = !this.noteText;
    this.note.textContent = this.noteText;
    this.note.style.display = started ? "none" : "";
    this.curves.style.display = this.diag.style.display = started ? "" : "none";
    if (started) {
      this.paintCurves();
      this.paintDiagnostics();
    }
  }

  paintMaps() {
    const s = this.meta, n = this.runs.length, S = this.style;
    const [x0, x1, y0, y1] = s.bounds;
    const W = this.width || Math.floor(this.root.clientWidth) || 800;
    const gap = 14, titleH = SIZES.title + SIZES.font + 16;
    const pw = (W - gap * (n - 1)) / n;
    const aspect = (y1 - y0) / (x1 - x0);
    const mh = Math.max(120, Math.min(pw * aspect, 360));
    const mw = Math.min(pw, mh / aspect);
    const [c] = this.canvas(this.maps, titleH + mh + 4);
    const layer = this.pointsLayer(mw, mh);
    for (let i = 0; i < n; i++) {
      const run = this.runs[i], st = run.status;
      const px = i * (pw + gap), mx = px + (pw - mw) / 2, my = titleH;
      // Title: the run's shape in its color and its name, then its step and test accuracy.
      drawShape(c, run.meta.shape, px + 9, 4 + SIZES.title / 2, SIZES.marker / 2 + 1, run.meta.color, S.edge, 2);
      c.font = TITLE; c.fillStyle = S.text; c.textBaseline = "top"; c.textAlign = "left";
      c.fillText(fitting(c, [run.meta.title, run.meta.short], pw - 24), px + 22, 4);
      c.font = FONT;
      const acc = st.acc == null ? "–" : Math.round(st.acc * 100) + "%";
      const step = (st.step || 0).toLocaleString("en-US");
      c.fillText(fitting(c, [`test accuracy ${acc} · step ${step}`, `test acc. ${acc} · step ${step}`,
        `${acc} · step ${step}`], pw), px, SIZES.title + 10);
      // The probability map (image pixels centred on their points), clipped to the frame.
      c.save();
      c.beginPath(); c.rect(mx, my, mw, mh); c.clip();
      const g = s.grid, cx = mw / (g - 1), cy = mh / (g - 1), hx = cx / UP / 2, hy = cy / UP / 2;
      c.imageSmoothingEnabled = true;
      c.imageSmoothingQuality = "high";
      if (run.z) {
        c.drawImage(run.img, mx - hx, my - hy, mw + 2 * hx, mh + 2 * hy);
        this.contour(c, run.z, g, mx, my, cx, cy, S.boundary);
      }
      c.drawImage(layer, mx, my, mw, mh);
      if (st.diverged) {
        c.fillStyle = S.veil; c.fillRect(mx, my, mw, mh);
        c.fillStyle = S.alarm; c.font = TITLE; c.textAlign = "center"; c.textBaseline = "middle";
        c.fillText("diverged", mx + mw / 2, my + mh / 2);
      }
      c.restore();
      c.strokeStyle = S.axis; c.lineWidth = 1;
      c.strokeRect(mx + 0.5, my + 0.5, mw - 1, mh - 1);
    }
  }

  // The boundary P = 1/2 (z = 0): marching squares over the grid, z linear along each cell edge.
  contour(c, q, g, mx, my, cx, cy, color) {
    const T = 0;
    const X = (i) => mx + i * cx, Y = (j) => my + (g - 1 - j) * cy;
    const lerp = (a, b) => (T - a) / (b - a);
    c.beginPath();
    for (let j = 0; j < g - 1; j++) {
      for (let i = 0; i < g - 1; i++) {
        const a = q[j * g + i], b = q[j * g + i + 1], d = q[(j + 1) * g + i], e = q[(j + 1) * g + i + 1];
        const pts = [];
        if ((a > T) !== (b > T)) pts.push([X(i + lerp(a, b)), Y(j)]);
        if ((b > T) !== (e > T)) pts.push([X(i + 1), Y(j + lerp(b, e))]);
        if ((d > T) !== (e > T)) pts.push([X(i + lerp(d, e)), Y(j + 1)]);
        if ((a > T) !== (d > T)) pts.push([X(i), Y(j + lerp(a, d))]);
        for (let k = 0; k + 1 < pts.length; k += 2) {
          c.moveTo(pts[k][0], pts[k][1]);
          c.lineTo(pts[k + 1][0], pts[k + 1][1]);
        }
      }
    }
    c.strokeStyle = color; c.lineWidth = SIZES.line; c.lineCap = "round";
    c.stroke();
  }

  // The data points, drawn once per size into a layer laid over every map.
  pointsLayer(mw, mh) {
    const dpr = window.devicePixelRatio || 1;
    const key = `${Math.round(mw * dpr)}x${Math.round(mh * dpr)}`;
    if (this.pointLayer && this.pointLayer.key === key) return this.pointLayer.canvas;
    const cv = document.createElement("canvas");
    cv.width = Math.round(mw * dpr); cv.height = Math.round(mh * dpr);
    const c = cv.getContext("2d");
    c.scale(dpr, dpr);
    const [x0, x1, y0, y1] = this.meta.bounds, colors = this.meta.class_colors;
    const sx = mw / (x1 - x0), sy = mh / (y1 - y0);
    const npts = this.points.train[1].length + this.points.test[1].length;
    const r = Math.max(2.2, Math.min(4.5, Math.sqrt(mw * mh / Math.max(npts, 1)) / 3.2));
    const [trX, trY] = this.points.train, [teX, teY] = this.points.test;
    for (let k = 0; k < trY.length; k++) {
      const x = (trX[2 * k] - x0) * sx, y = (y1 - trX[2 * k + 1]) * sy;
      c.beginPath(); c.arc(x, y, r, 0, 2 * Math.PI);
      c.fillStyle = colors[trY[k]]; c.fill();
      c.lineWidth = 0.8; c.strokeStyle = this.style.edge; c.stroke();
    }
    c.lineWidth = Math.max(1.5, r * 0.45);
    for (let k = 0; k < teY.length; k++) {
      const x = (teX[2 * k] - x0) * sx, y = (y1 - teX[2 * k + 1]) * sy;
      c.beginPath(); c.arc(x, y, r * 1.35, 0, 2 * Math.PI);
      c.strokeStyle = colors[teY[k]]; c.stroke();
    }
    this.pointLayer = { key, canvas: cv };
    return cv;
  }

  maxStep() {
    let m = 1;
    for (const run of this.runs) m = Math.max(m, run.status.step || 0);
    return m;
  }

  // A row of panels side by side: [title, log y?, series, y clamp]; titles wrap onto two lines.
  row(cv, height, gap, panels) {
    const W = this.width || Math.floor(this.root.clientWidth) || 800;
    const n = panels.length, pw = (W - gap * (n - 1)) / n, xmax = this.maxStep();
    const m = cv.getContext("2d");
    m.font = TITLE;
    const titles = panels.map(([title]) => wrap(m, title, pw - 4));
    const lh = SIZES.title + 4, lines = Math.max(...titles.map((t) => t.length)), h = height + lh * (lines - 1);
    const [c] = this.canvas(cv, h);
    panels.forEach(([, log, series, clampY], k) => this.panel(
      c, { x: k * (pw + gap), y: 0, w: pw, h }, titles[k], 8 + lh * lines, log, xmax, series, clampY));
  }

  paintCurves() {
    const t = this.meta.titles, e = this.ecol;
    const series = (train, test) => this.runs.flatMap((run) => [
      { x: run.evals.cols[e.step], y: run.evals.cols[e[train]], color: run.meta.color, dash: [], shape: run.meta.shape },
      { x: run.evals.cols[e.step], y: run.evals.cols[e[test]], color: run.meta.color, dash: [9, 6], shape: run.meta.shape,
        open: true },
    ]);
    this.row(this.curves, 290, 36, [
      [t.loss, true, series("train_loss", "test_loss")],
      [t.acc, false, series("train_acc", "test_acc"), (lo, hi) => [Math.max(0, lo), Math.min(1, hi)]],
    ]);
  }

  paintDiagnostics() {
    const t = this.meta.titles, h = this.hcol;
    const line = (key, dash, only) => this.runs.filter(only || (() => true)).map((run) => (
      { x: run.hist.cols[h.step], y: run.hist.cols[h[key]], color: run.meta.color, dash, shape: run.meta.shape,
        open: dash.length > 0 }));
    const grad = [...line("grad_norm", []), ...line("grad_norm_clipped", [1, 6], (run) => run.meta.clip)];
    this.row(this.diag, 260, 30, [
      [t.grad_norm, true, grad],
      [t.lr, false, line("lr", []), (lo, hi) => [Math.min(lo, 0), hi]], // from 0: lrs compare by ratio
      [t.weight_norm, false, line("weight_norm", [])],
    ]);
  }

  // One panel: title, y range from the data (log: positive values only), ticks, grid lines, lines.
  panel(c, box, titleLines, top, log, xmax, series, clampY) {
    const left = 72, right = 12, bottom = SIZES.font * 2 + 22;
    const ax = { x: box.x + left, y: box.y + top, w: box.w - left - right, h: box.h - top - bottom };
    const S = this.style;
    c.font = TITLE; c.fillStyle = S.text; c.textAlign = "left"; c.textBaseline = "top";
    titleLines.forEach((line, k) => c.fillText(line, box.x + 2, box.y + 2 + (SIZES.title + 4) * k));
    let lo = Infinity, hi = -Infinity;
    for (const s of series) {
      for (let k = 0; k < s.y.length; k++) {
        const v = s.y[k];
        if (!Number.isFinite(v) || (log && v <= 0)) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    const empty = !(hi >= lo);
    if (empty) { lo = log ? 0.1 : 0; hi = 1; }
    if (log) {
      if (hi / lo < 1.5) { const m = Math.sqrt(hi * lo); lo = m / 1.3; hi = m * 1.3; }
      lo /= 1.12; hi *= 1.12;
    } else {
      if (hi - lo < 1e-12) { const d = Math.abs(hi) * 0.1 || 0.5; lo -= d; hi += d; }
      const pad = (hi - lo) * 0.06; lo -= pad; hi += pad;
      if (clampY) [lo, hi] = clampY(lo, hi);
      if (!(hi > lo)) hi = lo + 1;
    }
    const X = (v) => ax.x + (v / xmax) * ax.w;
    const Y = log ? (v) => ax.y + ax.h * (1 - (Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo)))
      : (v) => ax.y + ax.h * (1 - (v - lo) / (hi - lo));
    // grid lines and ticks
    c.font = FONT; c.lineWidth = 1;
    const yt = log ? logTicks(lo, hi) : niceTicks(lo, hi, Math.max(2, Math.floor(ax.h / 45)));
    c.textAlign = "right"; c.textBaseline = "middle";
    for (const v of yt) {
      const y = Math.round(Y(v)) + 0.5;
      if (y < ax.y - 1 || y > ax.y + ax.h + 1) continue;
      c.strokeStyle = S.grid; c.beginPath(); c.moveTo(ax.x, y); c.lineTo(ax.x + ax.w, y); c.stroke();
      c.fillStyle = S.text; c.fillText(fmtNum(v), ax.x - 6, y);
    }
    const xt = niceTicks(0, xmax, Math.max(2, Math.floor(ax.w / 90))).filter((v) => v === Math.round(v));
    c.textAlign = "center"; c.textBaseline = "top";
    for (const v of xt) {
      const x = Math.round(X(v)) + 0.5;
      c.strokeStyle = S.grid; c.beginPath(); c.moveTo(x, ax.y); c.lineTo(x, ax.y + ax.h); c.stroke();
      c.strokeStyle = S.axis; c.beginPath(); c.moveTo(x, ax.y + ax.h); c.lineTo(x, ax.y + ax.h + 5); c.stroke();
      c.fillStyle = S.text; c.fillText(fmtNum(v), x, ax.y + ax.h + 7);
    }
    c.fillText(this.meta.titles.step, ax.x + ax.w / 2, ax.y + ax.h + SIZES.font + 12);
    c.strokeStyle = S.axis; c.strokeRect(ax.x + 0.5, ax.y + 0.5, ax.w - 1, ax.h - 1);
    if (empty) {
      c.fillStyle = S.hint; c.textAlign = "center"; c.textBaseline = "middle";
      c.fillText(log ? "no positive values yet" : "no values yet", ax.x + ax.w / 2, ax.y + ax.h / 2);
      return;
    }
    // the lines, broken where a value is missing
    c.save();
    c.beginPath(); c.rect(ax.x, ax.y, ax.w, ax.h); c.clip();
    c.lineWidth = SIZES.line; c.lineJoin = "round";
    for (const s of series) {
      c.lineCap = s.dash.length ? "butt" : "round";
      c.strokeStyle = s.color; c.setLineDash(s.dash);
      c.beginPath();
      let pen = false;
      const n = Math.min(s.x.length, s.y.length);
      for (let k = 0; k < n; k++) {
        const v = s.y[k];
        if (!Number.isFinite(v) || (log && v <= 0)) { pen = false; continue; }
        const x = X(s.x[k]), y = Y(v);
        if (pen) c.lineTo(x, y); else { c.moveTo(x, y); pen = true; }
      }
      if (n === 1 && pen) c.lineTo(X(s.x[0]) + 0.1, Y(s.y[0]));
      c.stroke();
    }
    c.setLineDash([]);
    // Each run's shape along its curves, every MARK_EVERY px (staggered so that runs' marks do not
    // sit on one another): filled on a solid curve, open on a dashed one.
    const r = SIZES.marker / 2 - 0.5;
    series.forEach((s, j) => {
      if (!s.shape) return;
      let next = ax.x + ((j * 37) % MARK_EVERY) + 8;
      const n = Math.min(s.x.length, s.y.length);
      for (let k = 0; k < n; k++) {
        const v = s.y[k];
        if (!Number.isFinite(v) || (log && v <= 0)) continue;
        const x = X(s.x[k]);
        if (x < next) continue;
        next = x + MARK_EVERY;
        if (s.open) outlineShape(c, s.shape, x, Y(v), r, s.color, S.paper, 2);
        else drawShape(c, s.shape, x, Y(v), r, s.color, S.edge, 1.5);
      }
    });
    c.restore();
  }
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let view = VIEWS.get(parentElement);
  if (!view) {
    view = new LiveView(parentElement, setTriggerValue);
    VIEWS.set(parentElement, view);
  }
  view.receive(data);
  return () => { view.destroy(); VIEWS.delete(parentElement); };
}
