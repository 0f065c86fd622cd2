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
