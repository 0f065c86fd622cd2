// The Playground's race, drawn and animated in the browser (Streamlit custom component v2).
//
// Python sends each run's path once (float32 bytes in base64); the landscape image comes through
// its own small component (landscape.js), which keeps it in a page-wide map by id. Everything else
// happens here: trails, heads, start, minima, divergence marks over the landscape; play,
// pause, replay, speed, scrub and a step counter. Pausing, scrubbing and the end of a replay
// send the step back to Python (state "step"); a click on the map sends its coordinates
// (trigger "click"). Nothing is fetched from anywhere.

const LANDS = (globalThis.__oeLandscapes ||= new Map()); // landscape id -> HTMLImageElement
const WAITING = (globalThis.__oeLandscapeWaiters ||= new Set()); // views waiting for an image
const STATS = (globalThis.__oeRace ||= { renders: 0, paints: [], frames: 0, step: 0, playing: false });
const VIEWS = new WeakMap();
const RACE_SECONDS = 8; // a whole race at 1x
const SPEEDS = [0.25, 0.5, 1, 2, 4];
// Sizes (fonts, lines, markers) come with the payload (`sizes`: app.ui.theme.sizes), as colors do
// (`style`); these stand in until a payload has arrived.
let FONT = cssFont(18), TITLE = cssFont(22, "600"), SIZES = { font: 18, title: 22, line: 3, marker: 12 };
const ICONS = {
  play: '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M4 2.5v11l9-5.5z"/></svg>',
  pause: '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M3.5 2.5h3v11h-3zM9.5 2.5h3v11h-3z"/></svg>',
  replay: '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M8 2.5a5.5 5.5 0 1 1-5.2 3.7l1.6.6A3.8 3.8 0 1 0 8 4.2V6.5L4.5 3.4 8 .3z"/></svg>',
};

function el(tag, attrs = {}, html = "") {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (html) e.innerHTML = html;
  return e;
}

class RaceView {
  constructor(root, setState, setTrigger) {
    this.setState = setState;
    this.setTrigger = setTrigger;
    this.step = 0; // the step shown (an integer)
    this.pos = 0; // the animation's position (fractional steps)
    this.playing = false;
    this.speed = 1;
    this.hidden = new Set(); // runs hidden from the legend
    this.box = el("div", { class: "oe-race" });
    this.canvas = el("canvas", { "data-role": "map", tabindex: "0", "aria-label": "race map" });
    this.readout = el("div", { class: "oe-readout", "data-role": "readout" });
    const bar = el("div", { class: "oe-bar" });
    this.playBtn = el("button", { "data-role": "play", type: "button", title: "Play / pause (space)" });
    this.replayBtn = el("button", { "data-role": "replay", type: "button", title: "Replay from step 0" },
      ICONS.replay + "<span>Replay</span>");
    this.speedSel = el("select", { "data-role": "speed", title: "Speed" });
    for (const s of SPEEDS) {
      const o = el("option", { value: String(s) });
      o.textContent = `${s}×`;
      if (s === 1) o.selected = true;
      this.speedSel.appendChild(o);
    }
    this.scrub = el("input", { type: "range", min: "0", max: "1", step: "1", value: "0", "data-role": "scrub",
      "aria-label": "step" });
    this.counter = el("div", { class: "oe-step", "data-role": "step", "aria-live": "off" });
    bar.append(this.playBtn, this.replayBtn, this.speedSel, this.scrub, this.counter);
    this.legend = el("div", { class: "oe-legend", "data-role": "legend" });
    this.note = el("div", { class: "oe-note", "data-role": "note" });
    this.loss = new LossPanel(this);
    this.lossBox = el("div", { class: "oe-loss" });
    this.lossReadout = el("div", { class: "oe-readout", "data-role": "loss-readout" });
    this.lossBox.append(this.loss.canvas, this.lossReadout);
    this.loss.canvas.addEventListener("mousemove", (e) => this.hoverLoss(e));
    this.loss.canvas.addEventListener("mouseleave", () => { this.lossReadout.textContent = ""; });
    const stage = el("div", { class: "oe-stage" });
    stage.append(this.canvas, this.readout);
    this.box.append(stage, bar, this.legend, this.note, this.lossBox);
    root.appendChild(this.box);
    this.ctx = this.canvas.getContext("2d");
    this.layer = document.createElement("canvas"); // the static picture: landscape, axes, color bar, marks

    this.playBtn.onclick = () => (this.playing ? this.pause(true) : this.play());
    this.replayBtn.onclick = () => { this.pos = 0; this.step = 0; this.play(); };
    this.speedSel.onchange = () => { this.speed = Number(this.speedSel.value) || 1; };
    this.scrub.oninput = () => { this.stop(); this.show(Number(this.scrub.value)); };
    this.scrub.onchange = () => this.report();
    this.canvas.addEventListener("keydown", (e) => {
      if (e.key === " ") { e.preventDefault(); this.playing ? this.pause(true) : this.play(); }
      else if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
        e.preventDefault(); this.stop(); this.show(this.step + (e.key === "ArrowRight" ? 1 : -1)); this.report();
      }
    });
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    this.canvas.addEventListener("mouseleave", () => { this.readout.textContent = ""; });
    this.canvas.addEventListener("click", (e) => this.click(e));
    this.resizer = new ResizeObserver(() => this.resize());
    this.resizer.observe(this.box);
    window.addEventListener("resize", () => { if (this.d && this.d.fit) this.resize(); });
    this.tick = this.tick.bind(this);
  }

  // ---- data ------------------------------------------------------------------------------
  update(d) {
    const first = !this.d;
    const sameScene = !first && d.scene && d.scene === this.d.scene;
    const stepMoved = !first && d.step !== this.d.step;
    const atEnd = !first && this.step >= this.T;
    this.d = d;
    this.T = d.steps;
    for (const [k, v] of Object.entries(d.style)) this.box.style.setProperty(`--oe-${k}`, v);
    if (d.sizes) {
      SIZES = d.sizes; FONT = cssFont(SIZES.font); TITLE = cssFont(SIZES.title, "600");
      this.box.style.setProperty("--oe-font-size", `${SIZES.font}px`);
      this.box.style.setProperty("--oe-title-size", `${SIZES.title}px`);
    }
    this.runs = d.runs.map((r) => ({ ...r, xy: decode(r.path, Float32Array),
      lv: r.loss ? decode(r.loss, Float32Array) : null }));
    this.valStep = -1;
    this.lossBox.style.display = d.loss ? "" : "none";
    if (d.loss) this.loss.setData(d, d.runs);
    this.scrub.max = String(this.T);
    if (first) this.show(d.show, false);
    else if (stepMoved && !this.playing) this.show(d.step, false); // the inspector moved: go there
    // A lesson's new scene (d.hold) opens where the page says (its start: predict before you play).
    else if (!sameScene && !this.playing) this.show(d.hold ? d.show : atEnd ? this.T : Math.min(this.step, this.T), false);
    else this.pos = Math.min(this.pos, this.T);
    this.image = LANDS.get(d.land) || null;
    if (d.land && !this.image) WAITING.add(this);
    this.renderLegend();
    this.resize(true);
    STATS.renders++;
    requestAnimationFrame(() => {
      STATS.paints.push(performance.now());
      if (STATS.paints.length > 500) STATS.paints.splice(0, 250);
    });
  }

  landscapeArrived(id) {
    if (this.d && this.d.land === id) {
      this.image = LANDS.get(id);
      WAITING.delete(this);
      this.drawLayer();
      this.draw();
    }
  }

  renderLegend() {
    this.legend.textContent = "";
    this.vals = [];
    this.valStep = -1;
    const mk = (swatchCls, run, text, k) => {
      const item = el("button", { type: "button", class: "oe-item" + (k !== undefined && this.hidden.has(k) ? " off" : "") });
      const sw = run ? runKey(run, this.d.style, SIZES) : el("span", { class: swatchCls });
      const t = el("span");
      t.textContent = text;
      item.append(sw, t);
      if (run && this.d.loss) {
        // The run's key number beside its name: its loss (as the loss chart plots it) at the step shown.
        const v = el("span", { class: "oe-val", "data-role": "value" });
        item.appendChild(v);
        this.vals[k] = v;
      }
      if (k !== undefined) {
        item.title = "Show or hide this run";
        item.onclick = () => {
          this.hidden.has(k) ? this.hidden.delete(k) : this.hidden.add(k);
          this.renderLegend(); this.loss.drawLayer(); this.draw();
        };
      } else item.disabled = true;
      this.legend.appendChild(item);
    };
    this.runs.forEach((r, k) => mk("", r, r.div >= 0 ? `${r.label} (diverged at step ${r.div})` : r.label, k));
    mk("oe-start", null, "start");
    if (this.d.minima.length) mk("oe-star", null, "known minimum");
    this.showValues();
    const gone = this.runs.filter((r) => r.div >= 0);
    this.note.textContent = gone.length ? "× marks where a diverged run left the map; the dashed line shows where it was heading." : "";
  }

  // ---- geometry ----------------------------------------------------------------------------
  // Presenter mode (d.fit): the map's plot height that keeps the map, its play bar and its legend on
  // the screen, from where the view starts on the page (measured once: scrolling does not move it).
  fitHeight(m) {
    if (this.fitTop === undefined) {
      let top = this.box.getBoundingClientRect().top, node = this.box.parentElement;
      while (node) { top += node.scrollTop || 0; node = node.parentElement; }
      if (top > 0) this.fitTop = top;
    }
    const below = 16 + (this.box.querySelector(".oe-bar")?.offsetHeight || 46) + this.legend.offsetHeight
      + this.note.offsetHeight + 12;
    return Math.max(220, Math.floor(window.innerHeight - (this.fitTop ?? 80) - m.t - m.b - below));
  }

  resize(force = false) {
    const w = Math.max(320, Math.floor(this.box.clientWidth || 640));
    const [x0, x1, y0, y1] = this.d ? this.d.window : [0, 1, 0, 1];
    const m = { l: 76, r: this.d && this.d.scale ? 118 : 20, t: this.d && this.d.title ? 46 : 14, b: 60 };
    const pw = w - m.l - m.r;
    let ph = Math.round(Math.min(Math.max(pw * 0.75, 280), 640));
    if (this.d && this.d.equal) ph = Math.round(Math.min(Math.max(pw * (y1 - y0) / (x1 - x0), 240), 640));
    if (this.d && this.d.fit) ph = Math.min(ph, this.fitHeight(m));
    const h = ph + m.t + m.b;
    if (!force && w === this.w && h === this.h) return;
    this.w = w; this.h = h;
    // The plot area: the data window at equal scales when the surface asks for it, centred.
    let sx = pw / (x1 - x0), sy = ph / (y1 - y0);
    let ox = m.l, oy = m.t, aw = pw, ah = ph;
    if (this.d && this.d.equal) {
      const s = Math.min(sx, sy); sx = sy = s;
      aw = (x1 - x0) * s; ah = (y1 - y0) * s;
      ox = m.l + (pw - aw) / 2; oy = m.t + (ph - ah) / 2;
    }
    this.area = { x: ox, y: oy, w: aw, h: ah };
    this.readout.style.left = `${ox + 6}px`;
    this.readout.style.top = `${oy + 6}px`;
    this.X = (x) => ox + (x - x0) * sx;
    this.Y = (y) => oy + ah - (y - y0) * sy;
    this.invX = (px) => x0 + (px - ox) / sx;
    this.invY = (py) => y0 + (oy + ah - py) / sy;
    const dpr = window.devicePixelRatio || 1;
    for (const c of [this.canvas, this.layer]) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
    this.canvas.style.width = w + "px"; this.canvas.style.height = h + "px";
    this.dpr = dpr;
    if (this.d && this.d.loss) this.loss.resize(w, dpr);
    this.drawLayer();
    this.draw();
  }

  // ---- the static layer --------------------------------------------------------------------
  drawLayer() {
    if (!this.d || !this.area) return;
    const c = this.layer.getContext("2d");
    const d = this.d, a = this.area, st = d.style;
    c.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    c.clearRect(0, 0, this.w, this.h);
    c.fillStyle = st.paper; c.fillRect(0, 0, this.w, this.h);
    if (this.image) {
      c.imageSmoothingEnabled = true; c.imageSmoothingQuality = "high";
      c.drawImage(this.image, a.x, a.y, a.w, a.h);
    } else { c.fillStyle = st.empty; c.fillRect(a.x, a.y, a.w, a.h); }
    c.strokeStyle = st.axis; c.lineWidth = 1; c.strokeRect(a.x + 0.5, a.y + 0.5, a.w - 1, a.h - 1);
    // Ticks and labels.
    const [x0, x1, y0, y1] = d.window;
    c.fillStyle = st.text; c.font = FONT; c.textAlign = "center"; c.textBaseline = "top";
    const nx = Math.max(3, Math.round(a.w / 110)), ny = Math.max(3, Math.round(a.h / 80));
    for (const v of niceTicks(x0, x1, nx)) {
      const px = this.X(v); if (px < a.x - 1 || px > a.x + a.w + 1) continue;
      c.fillRect(px - 0.5, a.y + a.h, 1, 6); c.fillText(fmtNum(v), px, a.y + a.h + 8);
    }
    c.textAlign = "right"; c.textBaseline = "middle";
    for (const v of niceTicks(y0, y1, ny)) {
      const py = this.Y(v); if (py < a.y - 1 || py > a.y + a.h + 1) continue;
      c.fillRect(a.x - 6, py - 0.5, 6, 1); c.fillText(fmtNum(v), a.x - 9, py);
    }
    c.font = FONT; c.textAlign = "center"; c.textBaseline = "bottom";
    c.fillText(d.labels.x, a.x + a.w / 2, this.h - 4);
    c.save(); c.translate(Math.max(12, a.x - 60), a.y + a.h / 2); c.rotate(-Math.PI / 2); c.textBaseline = "middle";
    c.fillText(d.labels.y, 0, 0); c.restore();
    if (d.title) { c.font = TITLE; c.textAlign = "left"; c.textBaseline = "top"; c.fillText(d.title, a.x, 10); }
    if (d.scale) this.drawScale(c);
    // Known minima (stars) and starts (rings), under the trails.
    c.save(); c.beginPath(); c.rect(a.x, a.y, a.w, a.h); c.clip();
    for (const [x, y] of d.minima) star(c, this.X(x), this.Y(y), 12, st.paper, st.ink);
    for (const [x, y] of d.starts) {
      c.beginPath(); c.arc(this.X(x), this.Y(y), 10, 0, 2 * Math.PI);
      c.lineWidth = 5; c.strokeStyle = st.halo; c.stroke();
      c.lineWidth = 3; c.strokeStyle = st.ink; c.stroke();
    }
    c.restore();
  }

  drawScale(c) {
    const s = this.d.scale, a = this.area;
    const x = Math.min(a.x + a.w + 20, this.w - 100), w = 16, h = Math.min(a.h * 0.6, 320), y = a.y + a.h - h;
    const n = s.colors.length;
    s.colors.forEach((col, i) => { c.fillStyle = col; c.fillRect(x, y + h - (i + 1) * h / n, w, h / n + 0.5); });
    c.strokeStyle = this.d.style.scale; c.lineWidth = 1; c.strokeRect(x + 0.5, y + 0.5, w, h);
    c.fillStyle = this.d.style.text; c.font = FONT; c.textAlign = "left"; c.textBaseline = "middle";
    for (const [f, t] of s.ticks) { const py = y + h - f * h; c.fillRect(x + w, py - 0.5, 4, 1); c.fillText(t, x + w + 6, py); }
    // The scale's title above it, moved left as far as it must to stay in the view.
    c.textBaseline = "bottom"; c.textAlign = "right";
    c.fillText(s.title, Math.min(this.w - 2, x - 2 + c.measureText(s.title).width), y - 6);
  }

  // ---- drawing each frame ------------------------------------------------------------------
  // Each run's value at the step shown, in its legend entry (updated once per step, not per frame).
  showValues() {
    if (!this.d || !this.d.loss || this.valStep === this.step) return;
    this.valStep = this.step;
    this.runs.forEach((r, k) => {
      const span = this.vals[k];
      if (!span) return;
      const i = Math.min(this.step, r.lv ? r.lv.length - 1 : -1);
      const v = i >= 0 ? r.lv[i] : NaN;
      span.textContent = r.div >= 0 && this.step >= r.div ? " · diverged" : Number.isFinite(v) ? ` · ${fmtNum(v)}` : "";
    });
  }

  draw() {
    if (!this.d || !this.area) return;
    this.showValues();
    const c = this.ctx, a = this.area, s = this.step, st = this.d.style;
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.drawImage(this.layer, 0, 0);
    c.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    c.save(); c.beginPath(); c.rect(a.x, a.y, a.w, a.h); c.clip();
    c.lineJoin = "round"; c.lineCap = "round";
    const heads = [], crosses = [], marks = [];
    // While playing, heads glide between steps (the fraction of the way to step s + 1), so a short
    // race moves as smoothly as a long one; paused, everything sits exactly on step s.
    const f = this.playing ? Math.min(Math.max(this.pos - s, 0), 1) : 0;
    this.runs.forEach((r, k) => {
      if (this.hidden.has(k)) return;
      const upto = Math.min(s, r.last);
      let hx = upto >= 0 ? this.X(r.xy[2 * upto]) : 0, hy = upto >= 0 ? this.Y(r.xy[2 * upto + 1]) : 0;
      const glide = f > 0 && upto === s && s + 1 <= r.last;
      if (glide) {
        hx += f * (this.X(r.xy[2 * s + 2]) - hx);
        hy += f * (this.Y(r.xy[2 * s + 3]) - hy);
      }
      if (upto >= 1 || glide) {
        c.beginPath();
        c.moveTo(this.X(r.xy[0]), this.Y(r.xy[1]));
        for (let i = 1; i <= upto; i++) c.lineTo(this.X(r.xy[2 * i]), this.Y(r.xy[2 * i + 1]));
        if (glide) c.lineTo(hx, hy);
        c.lineWidth = SIZES.line + 2.5; c.strokeStyle = st.halo; c.stroke();
        c.lineWidth = SIZES.line; c.strokeStyle = r.color; c.stroke();
      }
      const gone = r.div >= 0 && s >= r.div;
      if (gone && r.exit && r.last >= 0) {
        const lx = r.xy[2 * r.last], ly = r.xy[2 * r.last + 1];
        c.beginPath(); c.moveTo(this.X(lx), this.Y(ly)); c.lineTo(this.X(r.exit[0]), this.Y(r.exit[1]));
        c.setLineDash([8, 6]); c.lineWidth = SIZES.line; c.strokeStyle = r.color; c.stroke(); c.setLineDash([]);
        crosses.push([this.X(r.exit[0]), this.Y(r.exit[1]), r.color]);
      } else if (upto >= 0) heads.push([hx, hy, r]);
      const m = Math.min(this.d.step, r.last);
      if (this.d.mark && m >= 0 && this.d.step !== s && this.d.step <= this.T) marks.push([this.X(r.xy[2 * m]), this.Y(r.xy[2 * m + 1]), r]);
    });
    // The inspected step: each run's shape, open; the heads: each run's shape, filled.
    for (const [x, y, r] of marks) outlineShape(c, r.shape, x, y, SIZES.marker - 1, r.color, st.edge, 2.5);
    for (const [x, y, r] of heads) drawShape(c, r.shape, x, y, SIZES.marker / 2 + 2, r.color, st.edge, 3);
    c.restore();
    for (const [x, y, col] of crosses) cross(c, Math.min(Math.max(x, a.x), a.x + a.w), Math.min(Math.max(y, a.y), a.y + a.h), 11, col, st.edge);
    if (this.d.loss) this.loss.draw(s);
    this.counter.textContent = `step ${s} / ${this.T}`;
    this.scrub.value = String(s);
    this.playBtn.innerHTML = (this.playing ? ICONS.pause + "<span>Pause</span>" : ICONS.play + "<span>Play</span>");
    STATS.step = s; STATS.playing = this.playing;
    STATS.drawn = { heads: heads.length, crosses: crosses.length, marks: marks.length, landscape: !!this.image };
    STATS.area = { ...a, window: this.d.window };
  }

  show(s, draw = true) {
    this.step = Math.max(0, Math.min(this.T ?? 0, Math.round(s)));
    this.pos = this.step;
    if (draw) this.draw();
  }

  // ---- animation ---------------------------------------------------------------------------
  play() {
    if (!this.d) return;
    if (this.step >= this.T) { this.pos = 0; this.step = 0; }
    this.playing = true;
    this.last = performance.now();
    this.draw();
    cancelAnimationFrame(this.raf);
    this.raf = requestAnimationFrame(this.tick);
  }

  stop() {
    this.playing = false;
    cancelAnimationFrame(this.raf);
  }

  pause(report) {
    this.stop();
    this.draw();
    if (report) this.report();
  }

  report() {
    this.setState("step", this.step);
  }

  tick(now) {
    if (!this.playing) return;
    const dt = Math.min(0.1, (now - this.last) / 1000);
    this.last = now;
    const rate = Math.max(this.T / RACE_SECONDS, 4) * this.speed; // steps per second
    this.pos = Math.min(this.T, this.pos + dt * rate);
    this.step = Math.floor(this.pos);
    if (this.pos >= this.T) { this.playing = false; this.draw(); STATS.frames++; this.report(); return; }
    this.draw();
    STATS.frames++;
    this.raf = requestAnimationFrame(this.tick);
  }

  // ---- pointer -----------------------------------------------------------------------------
  inside(e) {
    const r = this.canvas.getBoundingClientRect();
    const px = e.clientX - r.left, py = e.clientY - r.top, a = this.area;
    if (!a || px < a.x || px > a.x + a.w || py < a.y || py > a.y + a.h) return null;
    return [this.invX(px), this.invY(py)];
  }

  hover(e) {
    const p = this.inside(e);
    if (!p) { this.readout.textContent = ""; return; }
    // The nearest drawn point of a shown run within 12 px names its run and step.
    const r = this.canvas.getBoundingClientRect();
    const px = e.clientX - r.left, py = e.clientY - r.top;
    let best = 144, hit = null;
    this.runs.forEach((run, k) => {
      if (this.hidden.has(k)) return;
      const upto = Math.min(this.step, run.last);
      for (let i = 0; i <= upto; i++) {
        const dx = this.X(run.xy[2 * i]) - px, dy = this.Y(run.xy[2 * i + 1]) - py, d = dx * dx + dy * dy;
        if (d < best) { best = d; hit = [run, i]; }
      }
    });
    this.readout.textContent = hit
      ? `${hit[0].label} · step ${hit[1]}: θ₁ = ${fmtNum(hit[0].xy[2 * hit[1]], 4)}, θ₂ = ${fmtNum(hit[0].xy[2 * hit[1] + 1], 4)}`
      : `θ₁ = ${fmtNum(p[0])}, θ₂ = ${fmtNum(p[1])}` + (this.d.clickable ? " · click: start every run here" : "");
  }

  hoverLoss(e) {
    const r = this.loss.canvas.getBoundingClientRect();
    const hit = this.loss.valueAt(e.clientX - r.left, e.clientY - r.top);
    if (!hit) { this.lossReadout.textContent = ""; return; }
    const [k, t, v] = hit;
    this.lossReadout.style.left = `${this.loss.area.x + 6}px`; this.lossReadout.style.top = `${this.loss.area.y + 6}px`;
    this.lossReadout.textContent = k === null ? `step ${t}` : `${this.runs[k].label} · step ${t}: ${fmtNum(v, 4)}`;
  }

  click(e) {
    const p = this.d && this.d.clickable ? this.inside(e) : null;
    if (!p) return;
    const [x0, x1, y0, y1] = this.d.window;
    const q = Math.pow(10, Math.floor(Math.log10(Math.max(x1 - x0, y1 - y0))) - 2); // 1% of the window, rounded
    const round = (v) => Number((Math.round(v / q) * q).toPrecision(6));
    this.setTrigger("click", { x: round(p[0]), y: round(p[1]) });
  }

  destroy() {
    this.stop();
    this.resizer.disconnect();
    WAITING.delete(this);
  }
}


// The loss against the step, under the map: curves drawn once per data into a layer, the cursor
// (the map's step) and a dot per run drawn on every frame.
class LossPanel {
  constructor(view) {
    this.view = view;
    this.canvas = el("canvas", { "data-role": "loss", "aria-label": "loss at each step" });
    this.layer = document.createElement("canvas");
    this.ctx = this.canvas.getContext("2d");
  }

  setData(d, runs) {
    this.d = d.loss;
    this.T = d.steps;
    this.runs = runs.map((r) => ({ color: r.color, shape: r.shape, dash: r.dash || [], y: decode(r.loss, Float32Array), div: r.div }));
    let lo = Infinity, hi = -Infinity;
    for (const r of this.runs) {
      for (const v of r.y) if (Number.isFinite(v) && (!this.d.log || v > 0)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    }
    if (!(hi >= lo)) { lo = this.d.log ? 1e-3 : 0; hi = 1; }
    if (this.d.log) { lo = Math.floor(Math.log10(lo)); hi = Math.ceil(Math.log10(hi)); if (hi <= lo) hi = lo + 1; }
    else { const pad = (hi - lo) * 0.05 || 1; lo -= pad; hi += pad; }
    this.lo = lo; this.hi = hi;
  }

  resize(w, dpr) {
    this.w = w; this.h = Math.round(Math.min(Math.max(w * 0.42, 220), 340)); this.dpr = dpr;
    for (const c of [this.canvas, this.layer]) { c.width = Math.round(w * dpr); c.height = Math.round(this.h * dpr); }
    this.canvas.style.width = w + "px"; this.canvas.style.height = this.h + "px";
    this.area = { x: 84, y: 58, w: w - 84 - 20, h: this.h - 58 - 56 };
    this.drawLayer();
  }

  X(t) { return this.area.x + (t / Math.max(this.T, 1)) * this.area.w; }
  Y(v) {
    const u = this.d.log ? Math.log10(v) : v;
    return this.area.y + this.area.h - ((u - this.lo) / (this.hi - this.lo)) * this.area.h;
  }

  drawLayer() {
    if (!this.d || !this.area) return;
    const c = this.layer.getContext("2d"), a = this.area, st = this.view.d.style;
    c.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    c.fillStyle = st.paper; c.fillRect(0, 0, this.w, this.h);
    c.font = TITLE; c.fillStyle = st.text; c.textAlign = "left"; c.textBaseline = "top";
    c.fillText(this.d.title, a.x, 2);
    c.font = FONT; c.textAlign = "right"; c.textBaseline = "middle";
    const grid = (y) => { c.fillStyle = st.grid; c.fillRect(a.x, Math.round(y), a.w, 1); c.fillStyle = st.text; };
    if (this.d.log) {
      const every = Math.max(1, Math.ceil((this.hi - this.lo) / 6));
      for (let e = this.lo; e <= this.hi; e += every) { const y = this.Y(Math.pow(10, e)); grid(y); c.fillText(pow10(e), a.x - 8, y); }
    } else {
      for (const v of niceTicks(this.lo, this.hi, 5)) { const y = this.Y(v); grid(y); c.fillText(fmtNum(v), a.x - 8, y); }
    }
    c.textAlign = "center"; c.textBaseline = "top";
    for (const t of niceTicks(0, this.T, Math.max(3, Math.round(a.w / 110)))) {
      if (t > this.T) continue;
      const x = this.X(t); c.fillRect(x - 0.5, a.y + a.h, 1, 5); c.fillText(fmtNum(t), x, a.y + a.h + 8);
    }
    c.font = FONT; c.textBaseline = "bottom"; c.fillText("step", a.x + a.w / 2, this.h - 2);
    c.save(); c.translate(12, a.y + a.h / 2); c.rotate(-Math.PI / 2); c.textBaseline = "middle";
    c.fillText(fitting(c, [this.d.ylabel, this.d.ylabel.replace(" (log scale)", "")], a.h), 0, 0); c.restore();
    c.strokeStyle = st.axis; c.lineWidth = 1; c.strokeRect(a.x + 0.5, a.y + 0.5, a.w - 1, a.h - 1);
    c.save(); c.beginPath(); c.rect(a.x, a.y, a.w, a.h); c.clip();
    // Each run in its color and its dash pattern (butt ends: round caps would fill a dotted line's gaps).
    c.lineJoin = "round"; c.lineCap = "butt"; c.lineWidth = SIZES.line;
    this.runs.forEach((r, k) => {
      if (this.view.hidden.has(k)) return;
      c.setLineDash(r.dash);
      c.beginPath();
      let pen = false;
      for (let t = 0; t < r.y.length; t++) {
        const v = r.y[t];
        if (!Number.isFinite(v) || (this.d.log && v <= 0)) { pen = false; continue; }
        const x = this.X(t), y = this.Y(v);
        pen ? c.lineTo(x, y) : c.moveTo(x, y);
        pen = true;
      }
      c.strokeStyle = r.color; c.stroke();
    });
    c.setLineDash([]);
    c.restore();
    this.runs.forEach((r, k) => {  // × where a run left: its last loss
      if (this.view.hidden.has(k) || r.div < 0 || !r.y.length) return;
      const t = r.y.length - 1, v = r.y[t];
      if (Number.isFinite(v) && (!this.d.log || v > 0)) cross(c, this.X(t), Math.max(a.y, Math.min(a.y + a.h, this.Y(v))), 8, r.color, st.edge);
    });
  }

  draw(step) {
    if (!this.d || !this.area) return;
    const c = this.ctx, a = this.area, st = this.view.d.style;
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.drawImage(this.layer, 0, 0);
    c.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const x = this.X(step);
    c.setLineDash([6, 5]); c.strokeStyle = st.cursor; c.lineWidth = 2;
    c.beginPath(); c.moveTo(x, a.y); c.lineTo(x, a.y + a.h); c.stroke(); c.setLineDash([]);
    c.font = FONT; c.fillStyle = st.cursor; c.textAlign = x > a.x + a.w - 80 ? "right" : "left"; c.textBaseline = "bottom";
    c.fillText(`step ${step}`, x + (c.textAlign === "left" ? 4 : -4), a.y - 2);
    this.runs.forEach((r, k) => {
      if (this.view.hidden.has(k) || step >= r.y.length) return;
      const v = r.y[step];
      if (!Number.isFinite(v) || (this.d.log && v <= 0)) return;
      drawShape(c, r.shape, x, this.Y(v), SIZES.marker / 2, r.color, st.edge, 2);
    });
  }

  valueAt(px, py) {
    // The run whose curve passes nearest (px, py) at that step, within 12 px.
    const a = this.area;
    if (!this.d || px < a.x || px > a.x + a.w || py < a.y || py > a.y + a.h) return null;
    const t = Math.round(((px - a.x) / a.w) * this.T);
    let best = 12, hit = null;
    this.runs.forEach((r, k) => {
      if (this.view.hidden.has(k) || t >= r.y.length) return;
      const v = r.y[t];
      if (!Number.isFinite(v) || (this.d.log && v <= 0)) return;
      const d = Math.abs(this.Y(v) - py);
      if (d < best) { best = d; hit = [k, t, v]; }
    });
    return hit ? hit : [null, t, null];
  }
}

function star(c, x, y, r, fill, stroke) {
  c.beginPath();
  for (let i = 0; i < 10; i++) {
    const rad = i % 2 ? r * 0.45 : r, t = -Math.PI / 2 + (i * Math.PI) / 5;
    i ? c.lineTo(x + rad * Math.cos(t), y + rad * Math.sin(t)) : c.moveTo(x + rad * Math.cos(t), y + rad * Math.sin(t));
  }
  c.closePath(); c.fillStyle = fill; c.fill(); c.lineWidth = 2; c.strokeStyle = stroke; c.stroke();
}

function cross(c, x, y, r, color, edge) {
  c.beginPath(); c.moveTo(x - r, y - r); c.lineTo(x + r, y + r); c.moveTo(x + r, y - r); c.lineTo(x - r, y + r);
  c.lineCap = "round"; c.lineWidth = 8; c.strokeStyle = edge; c.stroke();
  c.lineWidth = 4.5; c.strokeStyle = color; c.stroke();
}

export default function (component) {
  const { data, parentElement, setStateValue, setTriggerValue } = component;
  if (!data || data.kind !== "race") return;
  let view = VIEWS.get(parentElement);
  if (!view) {
    view = new RaceView(parentElement, setStateValue, setTriggerValue);
    VIEWS.set(parentElement, view);
  }
  view.update(data);
  return () => { view.destroy(); VIEWS.delete(parentElement); };
}
