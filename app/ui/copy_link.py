"""A "Copy link" control, and the browser history a page with a shareable URL needs.

A custom component (``st.components.v2``: no iframe, nothing fetched; its script and style are
inline below):

- :func:`copy_link` draws a "🔗 Copy link" button that copies ``window.location.href`` with
  ``navigator.clipboard.writeText``. Where the clipboard API is missing (plain http on a LAN
  address is not a secure context) or refuses, it shows the link in a selected text box instead
  (and tries the older ``document.execCommand("copy")``).
- Its script also keeps the browser's history at **one entry per user action**, once loaded
  (it stays for the rest of the page's life, on every page of the app). Streamlit 1.67 pushes
  one history entry per query parameter it sets from the server (a lesson made one entry per
  parameter, all but the last a half-applied scene; leaving a page pushed an entry without its
  parameters, which Back then opened as the default scene) and replaces the current entry when
  the user changes a bound widget (so Back skipped the user's own changes). The script wraps
  ``history.pushState``/``replaceState``: the first change after a click or a key press that
  changes the scene (another page, or on the page that declared them, one of its ``scene_keys``
  parameters) is a new entry; every other change of the URL (the rest of that action, a
  correction, a view setting such as the inspected step, anything while Back/Forward is being
  restored) replaces the current entry. Back and Forward then restore whole scenes.
- :func:`keep_history` installs the history part alone (a page that hands a scene to another).
"""

from __future__ import annotations

import streamlit as st

__all__ = ["NAME", "copy_link", "keep_history"]

NAME = "optimizer_explorer_copy_link"

_JS = r"""
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

function build(root) {
  const wrap = el("div", "oe-link");
  const button = el("button", "oe-copy", "oe-copy-link");
  button.type = "button";
  button.textContent = "🔗 Copy link";
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
  if (d.copy && !UIS.has(parentElement)) UIS.set(parentElement, build(parentElement));
}
"""

_CSS = """
.oe-link { display: flex; flex-wrap: wrap; align-items: center; gap: 0.25rem 0.75rem;
  font-family: "Source Sans", "Source Sans Pro", "DejaVu Sans", Arial, sans-serif; color: inherit; }
.oe-copy {
  font: inherit; font-size: 1rem; line-height: 1.6; color: inherit; cursor: pointer; width: 100%;
  min-height: 2.5rem; padding: 0.25rem 0.75rem; background: transparent;
  border: 1px solid rgba(128, 128, 128, 0.35); border-radius: 0.5rem;
}
.oe-copy:hover { border-color: currentColor; }
.oe-copy:focus-visible { outline: 2px solid currentColor; outline-offset: 1px; }
.oe-status { font-size: 0.875rem; opacity: 0.8; }
.oe-status:empty { display: none; }
.oe-fallback { width: 100%; }
.oe-fallback[hidden] { display: none; }
.oe-fallback input {
  width: 100%; box-sizing: border-box; font: inherit; font-size: 0.8rem; padding: 0.25rem 0.4rem;
  color: inherit; background: transparent; border: 1px solid rgba(128, 128, 128, 0.35); border-radius: 0.25rem;
}
.oe-fallback small { font-size: 0.75rem; opacity: 0.75; }
"""

_mount = st.components.v2.component(NAME, js=_JS, css=_CSS)


def copy_link(key: str, scene_keys: str | None = None) -> None:
    """The "Copy link" button. ``scene_keys``: a regular expression matching the page's URL
    parameters that shape what it shows; a user's change of one of them is a new history entry."""
    _mount(key=key, data={"kind": "copy_link", "copy": True, "scene_keys": scene_keys})


def keep_history(key: str) -> None:
    """Only the history part (nothing drawn): one browser history entry per user action."""
    _mount(key=key, data={"kind": "history", "copy": False, "scene_keys": None}, height=0)
