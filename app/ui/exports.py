"""The export menu every page uses: files for slides and hand-outs, built when they are asked for.

A page lists its :class:`Export` items (a label, a file name, a MIME type and a function that
builds the bytes) and draws them with :func:`export_menu`, a popover of download buttons.

- A light export (CSV, JSON, a still, the offline page, a script) is a download button whose
  data is the function itself: Streamlit calls it when the button is clicked, on another thread,
  without a rerun of the page.
- A heavy export (GIF, MP4) is rendered as a job (:mod:`app.exports.jobs`: bounded, one at a time
  per session, never on the script thread): a "Render" button starts it, a fragment shows its
  progress twice a second and then the download button. Others' sliders keep answering meanwhile.
- An export that cannot be made here says why beside it (e.g. which browser to install).

Exports are built on other threads, where no session says which projector theme is on: the theme
is read when the menu is built (:func:`themed`) and the export is made under
:func:`app.ui.theme.using` it, so a still or an animation looks like the page it was taken from.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import streamlit as st

from app.ui import theme

__all__ = ["Export", "export_menu", "still_exports", "slug", "themed"]


@dataclass(frozen=True)
class Export:
    label: str  # what the button says: "PNG (2x)", "MP4 1920x1080"
    file_name: str
    mime: str
    make: Callable[..., bytes]  # builds the file; a heavy one takes ``progress=`` (a fraction 0..1)
    heavy: bool = False
    help: str = ""
    unavailable: str | None = None  # why it cannot be made here, shown instead of the button


def themed(make: Callable[..., Any], kind: str | None = None) -> Callable[..., Any]:
    """``make`` run under theme ``kind`` (default: the current one, read now) whatever thread calls it;
    its arguments (e.g. ``progress=``) pass through."""
    kind = kind or theme.current()
    if getattr(make, "_oe_theme", None) == kind:
        return make

    @functools.wraps(make)
    def run(*args, **kwargs):
        with theme.using(kind):
            return make(*args, **kwargs)

    run._oe_theme = kind  # type: ignore[attr-defined]
    return run


def slug(text: str) -> str:
    """A file-name stem from a title: "Rosenbrock (a = 1, b = 100)" -> "rosenbrock-a-1-b-100"."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:60] or "figure"


def still_exports(figure: Callable[[], Any], name: str, title: str = "", what: str = "") -> list[Export]:
    """PNG (2x), SVG and PDF of the Plotly figure ``figure()`` builds (:func:`app.exports.stills.still`),
    or why they cannot be made here (no Chromium); ``what`` names the figure in the labels."""
    from app.exports import stills

    missing = stills.browser_missing()
    kind = theme.current()  # the page's theme: the still is made on another thread
    out = []
    for fmt, label, mime in (("png", "PNG (2x, 2560x1440)", "image/png"), ("svg", "SVG", "image/svg+xml"),
                             ("pdf", "PDF", "application/pdf")):
        out.append(Export(f"{what}: {label}" if what else label, f"{name}.{fmt}", mime,
                          themed(lambda fmt=fmt: stills.still(figure(), fmt, title=title), kind),
                          help="For slides: the figure with its title, legend and axis labels.",
                          unavailable=missing))
    return out


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "local"


def _job_key(key: str, e: Export) -> str:
    return f"_export_job_{key}_{e.file_name}"


def _heavy(key: str, e: Export) -> None:
    """A Render button, then the job's progress, then the file."""
    from app.exports import jobs

    ss = st.session_state
    job_key = _job_key(key, e)
    job = ss.get(job_key)
    if job is None:
        if st.button(f"Render {e.label}", key=f"{job_key}_start", help=e.help or None):
            job = jobs.submit(_session_id(), e.label, e.make)
            if job.refused:  # a limit was reached: say which
                st.warning(job.message or "The server is busy with other exports; try again in a moment.")
                return
            ss[job_key] = job
            _progress(key, e)
        return
    _progress(key, e)


def _progress(key: str, e: Export) -> None:
    ss = st.session_state
    job_key = _job_key(key, e)
    running = ss.get(job_key) is not None and not ss[job_key].done

    # Polled twice a second while the job runs; once it is done, one whole-page run declares the
    # fragment again without a timer (a fragment cannot stop its own timer).
    @st.fragment(run_every=0.5 if running else None)
    def poll() -> None:
        job = ss.get(job_key)
        if job is None:
            return
        if not job.done:
            if st.button("Cancel", key=f"{job_key}_cancel"):
                job.cancel()
            st.progress(min(max(job.progress, 0.0), 1.0),
                        text=f"Rendering {e.label}: {job.progress:.0%}" + (f" ({job.message})" if job.message else ""))
            return
        if running:
            st.rerun(scope="app")
        if not job.ok:
            st.error(f"{e.label} could not be made: {job.error or job.message or job.state}")
        else:
            st.download_button(f"Download {e.label}", data=job.result, file_name=e.file_name, mime=e.mime,
                               on_click="ignore", key=f"{job_key}_download", type="primary")
        if st.button("Render again" if job.ok else "Try again", key=f"{job_key}_again"):
            ss.pop(job_key, None)
            st.rerun(scope="app")

    poll()


def export_menu(key: str, exports: Sequence[Export], label: str = "Export") -> None:
    """A popover listing ``exports``: light ones as download buttons, heavy ones rendered as jobs; each
    made in the theme the page is drawn in now (:func:`themed`)."""
    kind = theme.current()
    exports = [replace(e, make=themed(e.make, kind)) for e in exports]
    with st.popover(label, key=f"{key}_menu"):
        for e in exports:
            if e.unavailable:
                st.caption(f"**{e.label}**: {e.unavailable}")
            elif e.heavy:
                _heavy(key, e)
            else:
                st.download_button(e.label, data=e.make, file_name=e.file_name, mime=e.mime, on_click="ignore",
                                   key=f"{key}_{e.file_name}", help=e.help or None, width="stretch")
