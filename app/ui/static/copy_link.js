// The Copy link button and the one-entry-per-action browser history (app/ui/copy_link.py says why).
const H = (globalThis.__oeHistory ||= installHistory());
const UIS = (globalThis.__oeCopyLinks ||= new WeakMap());

function installHistory() {
  const h = { acted: false, pages: new Map() };  // pages: path -> RegExp of its scene parameters
  const push = history.pushState.bind(history);
  const replace = history.replaceState.bind(history);
  const act = () => { h.acted = true; };
  window.addEventListener("pointerdown", act, true);
  window.addEventListener("keydown", act, true);
  window.addEventListener("popstate", () => { h.acted = false; }, true);
  history.pushState = function (state, unused, url) {
    if (h.acted && changesScene(h, url, true)) { h.acted = false; return push(state, unused, url); }
    return replace(state, unused, url);
  };
  history.replaceState = function (state, unused, url) {
    if (h.acted && changesScene(h, url, false)) { h.acted = false; return push(state, unused, url); }
    return replace(state, unused, url);
  };
  return h;
}

// Whether going to `url` shows another scene: another page, or on a page that declared its scene
// parameters, another value of one of them. Elsewhere only a push counts (Streamlit pushes for a
// page switch or for parameters set by the server; a user's change there stays a replace).
function changesScene(h, url, pushed) {
  const now = new URL(window.location.href);
  const next = new URL(url == null ? window.location.href : String(url), window.location.href);
  if (next.pathname !== now.pathname) return true;
  const scene = h.pages.get(now.pathname);
  if (!scene) return pushed && next.search !== now.search;
  const keys = new Set([...now.searchParams.keys(), ...next.searchParams.keys()]);
  for (const k of keys) {
    if (scene.test(k) && now.searchParams.getAll(k).join("\n") !== next.searchParams.getAll(k).join("\n")) {
      return true;
    }
  }
  return false;
}

function el(tag, cls, testid) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (testid) e.dataset.testid = testid;
  return e;
}

function build(root, style) {
  const wrap = el("div", "oe-link");
  for (const [k, v] of Object.entries(style || {})) wrap.style.setProperty(`--oe-${k}`, v);
  const button = el("button", "oe-copy", "oe-copy-link");
  button.type = "button";
  button.textContent = "Copy link";
  button.title = "Copy this page's address: whoever opens it sees this exact scene.";
  const status = el("span", "oe-status", "oe-copy-status");
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  const box = el("div", "oe-fallback", "oe-copy-fallback");
  box.hidden = true;
  const input = el("input", "", "oe-copy-url");
  input.readOnly = true;
  input.setAttribute("aria-label", "Link to this scene");
  const hint = el("small");
  hint.textContent = "Press Ctrl+C (⌘C on a Mac) to copy it.";
  box.append(input, hint);
  wrap.append(button, status, box);
  root.append(wrap);
  let timer = null;
  const say = (text) => {
    status.textContent = text;
    clearTimeout(timer);
    timer = setTimeout(() => { status.textContent = ""; }, 4000);
  };
  const fallback = (url) => {
    box.hidden = false;
    input.value = url;
    input.focus();
    input.select();
    let copied = false;
    try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
    say(copied ? "Link copied." : "Copy the link below.");
  };
  button.addEventListener("click", async () => {
    const url = window.location.href;
    if (window.isSecureContext && navigator.clipboard && navigator.clipboard.writeText) {
      try {
        await navigator.clipboard.writeText(url);
        box.hidden = true;
        say("Link copied.");
        return;
      } catch (e) { /* refused: show it instead */ }
    }
    fallback(url);
  });
  return { button };
}

export default function ({ data, parentElement }) {
  const d = data || {};
  if (d.scene_keys) H.pages.set(window.location.pathname, new RegExp(d.scene_keys));
  if (d.copy && !UIS.has(parentElement)) UIS.set(parentElement, build(parentElement, d.style));
}
