// Streamlit's own light/dark setting made to follow the projector theme chosen in the app
// (app/ui/presenter.py). Streamlit reads its theme once, at page load, from the browser's storage
// (one key per page path, "stActiveTheme-<path>-v2", holding "Light", "Dark" or "System"); the
// script writes that key for every page of the app, and reloads once if the page shows the other theme.
function luminance(color) {
  const m = String(color).match(/\d+(\.\d+)?/g);
  if (!m || m.length < 3) return 1;
  const [r, g, b] = m.slice(0, 3).map(Number);
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
}

function shownTheme() {
  const app = document.querySelector(".stApp") || document.body;
  return luminance(getComputedStyle(app).backgroundColor) < 0.5 ? "dark" : "light";
}

function pagePaths(paths) {
  const here = window.location.pathname;
  const parts = here.split("/");
  const last = parts[parts.length - 1];
  const base = paths.includes(last) && last !== "" ? parts.slice(0, -1).join("/") : here.replace(/\/$/, "");
  const out = new Set();
  for (const p of paths) {
    const path = p ? `${base}/${p}` : `${base}/`;
    out.add(path);
    if (!p && base) out.add(base);
  }
  return [...out];
}

export default function ({ data }) {
  const want = data && data.want;
  if (want !== "light" && want !== "dark") return;
  const value = JSON.stringify(want === "dark" ? "Dark" : "Light");
  try {
    for (const path of pagePaths(data.paths || [""])) {
      window.localStorage.setItem(`stActiveTheme-${path}-v2`, value);
    }
  } catch (e) {
    return;  // storage refused (a private window): Streamlit's setting stays as it is
  }
  if (shownTheme() === want) return;
  // One reload per choice and minute at most, so a browser that ignores the setting cannot loop.
  const mark = `oeThemeReload-${want}`;
  const last = Number(window.sessionStorage.getItem(mark) || 0);
  if (Date.now() - last < 60000) return;
  window.sessionStorage.setItem(mark, String(Date.now()));
  window.location.reload();
}
