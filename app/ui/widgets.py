"""The widget-and-state layer every page draws with.

:func:`hyper_widget` turns a registry ``Hyper`` into the right Streamlit widget, bound to the
URL (Playground, Schedules) or remembered across pages (Live Training); :func:`fit_stored` and
:func:`fit_choice` move a value stored for a widget (by a URL, a preset, a click, an older
range) onto what the widget can show before it is drawn, :func:`adopt_legacy` an old link's renamed
value onto its new one; :class:`Remembered` keeps a page's
unbound widget values while another page runs; :func:`replace_query_params` and
:func:`history_navigation` let a page own its URL (the whole query in one step, and whether
this run is the browser's Back or Forward).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import streamlit as st

from app.ui.controls import fmt, hyper_options, hyper_span, snap

__all__ = ["Q", "Remembered", "adopt_legacy", "adopt_url", "drop_bad_numbers", "fit_choice", "fit_stored", "hyper_widget",
           "replace_query_params", "history_navigation", "set_values", "writes"]

Q = "query-params"  # bind=Q: the widget's key is its URL parameter
_writes = [0]


def writes() -> int:
    """How many times the helpers below have changed a stored widget value (in any session): a page that
    memoises something computed from widget values within one run checks it."""
    return _writes[0]


def _wrote() -> None:
    _writes[0] += 1


def adopt_url(key: str, parse=str) -> None:
    """Take a URL-bound widget's value from the URL into the session before the widget is drawn.

    On a first load the value is only in the URL: Streamlit reads it when the widget is
    created. Code that needs it earlier in the run (a run's header above its optimizer
    select box, a chart's cursor above the step slider) adopts it here; :func:`fit_stored` /
    :func:`fit_choice` then move it onto what the widget can show. A value ``parse`` refuses
    is left to the widget, which falls back to its default.
    """
    ss = st.session_state
    if key in ss or key not in st.query_params:
        return
    try:
        ss[key] = parse(st.query_params[key])
        _wrote()
    except (TypeError, ValueError):
        pass


def adopt_legacy(key: str, renamed: Mapping[str, str]) -> None:
    """Map a URL-bound widget's old value (a renamed option or tab label in a link shared
    earlier, such as one that still carries an emoji) onto its new one, before the widget is drawn.

    The old value may be in the session (a widget state set from code) or only in the URL (a
    first load): there the URL is rewritten (:func:`replace_query_params`), so the widget is
    seeded from it with the new value, as from a new link, and the address bar shows the new
    spelling. Call it before any widget is drawn.
    """
    ss = st.session_state
    if key in ss:
        old = ss[key]
        if isinstance(old, str) and old in renamed:
            ss[key] = renamed[old]
            _wrote()
        return
    if key in st.query_params and st.query_params[key] in renamed:
        params = {k: st.query_params.get_all(k) for k in st.query_params}
        params[key] = [renamed[st.query_params[key]]]
        replace_query_params({k: v[0] if len(v) == 1 else v for k, v in params.items()})


def drop_bad_numbers(spec: Mapping[str, tuple[type, float | None, float | None]]) -> list[str]:
    """Drop from the URL, before any widget is drawn, a number input's value that the widget cannot
    take (Streamlit reads it when the widget is created and raises on ``inf`` for an int, or on a value
    outside ``[min, max]``): ``spec`` maps a key to ``(int or float, min, max)``. The widget then
    starts from its default. Returns the keys dropped."""
    import math

    bad = []
    for key, (kind, lo, hi) in spec.items():
        if key not in st.query_params:
            continue
        try:
            v = float(st.query_params[key])
            ok = math.isfinite(v) and (kind is not int or v == int(v))
            ok = ok and (lo is None or v >= lo) and (hi is None or v <= hi)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            bad.append(key)
    if bad:
        params = {k: st.query_params.get_all(k) for k in st.query_params if k not in bad}
        replace_query_params({k: v[0] if len(v) == 1 else v for k, v in params.items()})
        for key in bad:
            st.session_state.pop(key, None)
        _wrote()
    return bad


def _drop_url_choice(key: str, labels) -> None:
    """Drop a URL value that is none of a select widget's ``labels`` (Streamlit would raise on it)."""
    if key in st.query_params and st.query_params[key] not in set(labels):
        params = {k: st.query_params.get_all(k) for k in st.query_params if k != key}
        replace_query_params({k: v[0] if len(v) == 1 else v for k, v in params.items()})
        st.session_state.pop(key, None)
        _wrote()


def replace_query_params(params: Mapping[str, str | Sequence[str]]) -> None:
    """Make the URL's query exactly ``params``, in one message to the browser (one history entry).

    ``st.query_params`` refuses keys bound to a widget drawn in the previous run, and a bound
    widget's value set from code reaches the URL one parameter (one ``pushState``) at a time, and
    only if that widget was drawn in the previous run. Called before any widget is drawn, this
    sets the session's query parameters and the URL the run's new widgets are seeded from to
    ``params`` and sends them once; a widget then drawn with the value ``params`` gives it
    finds its parameter in place and sends nothing. Streamlit 1.67's query-parameter store is
    reached through its session (no public API does this); without it, only ``st.query_params``
    is tried.
    """
    from urllib.parse import urlencode

    try:
        from streamlit.runtime.state.session_state_proxy import get_session_state

        with get_session_state().query_params() as qp:
            if not all(hasattr(qp, m) for m in ("clear_with_no_forward_msg", "set_with_no_forward_msg",
                                                 "set_initial_query_params", "_send_query_param_msg")):
                raise AttributeError("not Streamlit 1.67's query-parameter store")
            qp.clear_with_no_forward_msg(preserve_embed=True)
            for k, v in params.items():
                qp.set_with_no_forward_msg(k, v if isinstance(v, str) else list(v))
            qp.set_initial_query_params(urlencode(params, doseq=True))
            qp._send_query_param_msg()
    except (ImportError, AttributeError):  # another Streamlit: its public API, for the keys it allows
        try:
            st.query_params.from_dict(params)
        except st.errors.StreamlitAPIException:
            pass


def history_navigation() -> bool:
    """Whether this run is the browser's Back or Forward (Streamlit then seeds every bound widget
    from the URL, its default where the URL has none)."""
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
    except ImportError:
        return False
    ctx = get_script_run_ctx(suppress_warning=True)
    return bool(getattr(ctx, "is_history_navigation", False))


def fit_stored(key: str, options, log: bool = False) -> None:
    """Move a stored widget value (from a URL, a preset or an older range) onto the widget's
    options (:func:`app.ui.controls.snap`: a select slider's values, or a ``range`` for an int
    slider), or drop it so the widget starts from its default. An int slider's value in the URL outside
    its range is dropped from the URL too (a widget drawn again takes the URL's value over the session's,
    and Streamlit raises on one past its bounds)."""
    ss = st.session_state
    if isinstance(options, range) and len(options) and key in st.query_params:
        drop_bad_numbers({key: (int, options[0], options[-1])})
    if key not in ss:
        return
    current = ss[key]
    if isinstance(options, range):
        if type(current) is int and current in options:
            return
    elif current in options:
        return
    value = snap(current, options, log=log)
    if value is None:
        del ss[key]
    else:
        ss[key] = value
    _wrote()


def fit_choice(key: str, options: Sequence, relabel: bool = False) -> None:
    """Drop a stored choice that is not one of ``options`` (an old URL, a renamed entry), so the
    widget starts from its default; from a multiselect, drop only the unknown entries. With
    ``relabel``, the options are :func:`fmt` labels and a stored choice becomes its label."""
    ss = st.session_state
    if key not in ss:
        return
    current = ss[key]
    if current in options:
        return
    _wrote()
    if isinstance(current, list):  # a multiselect's
        kept = [v for v in current if v in options]
        if kept != current:
            ss[key] = kept
    else:
        try:
            label = fmt(current) if relabel else None
        except (TypeError, ValueError):
            label = None
        if relabel and label in options:
            ss[key] = label
        else:
            del ss[key]


class Remembered:
    """A page's widgets that are not bound to the URL, given their first value through
    ``st.session_state`` (never also through ``value=``) and kept while another page runs:
    Streamlit forgets a page's widget values when the user switches pages.

    Per script run: :meth:`restore` first, :meth:`seed` for each widget key, :meth:`save` after
    the last widget.
    """

    def __init__(self, store: str) -> None:
        self.store = store  # the session key holding the saved values
        self.keys: list[str] = []

    def restore(self) -> None:
        ss = st.session_state
        for k, v in ss.get(self.store, {}).items():
            if k not in ss:
                ss[k] = v

    def seed(self, key: str, value: Any) -> str:
        """``key``, after giving its widget ``value`` unless it already has one; it will be saved."""
        if key not in st.session_state:
            st.session_state[key] = value
        self.keys.append(key)
        return key

    def save(self) -> None:
        ss = st.session_state
        ss[self.store] = {k: ss[k] for k in self.keys if k in ss}


def set_values(values: Mapping[str, Any]) -> None:
    """Give widgets values from code (a preset's button, in its ``on_click`` callback: before the widgets are
    drawn): each key's value in the session, which a URL-bound widget then writes to the URL. A value the
    widget cannot show is moved onto its options when it is drawn (:func:`fit_stored`)."""
    for key, value in values.items():
        st.session_state[key] = value


def hyper_widget(h, key: str, default: Any, *, remember: Remembered | None = None, container=None,
                 labels: bool = False, number_above: int | None = None, exact_default: bool = False,
                 set_toggle: bool = False, disabled: bool = False, label: str | None = None) -> Any:
    """The widget for a registry ``Hyper`` (label, help and bounds from the registry); returns its value.

    bool → toggle; choice → select box; int → slider over ``[low, high]``; float → select slider over
    :func:`app.ui.controls.hyper_options`, written by :func:`app.ui.controls.fmt`; text → text input (its
    value is checked by whoever reads it, e.g. a schedule's formula by the schedule). A stored value the
    widget cannot show is moved onto its options first (:func:`fit_stored`, :func:`fit_choice`).

    What differs between pages:
      remember: None: bound to the URL (``key`` is its parameter, ``default`` its value when the URL has
        none). A :class:`Remembered`: not bound; ``default`` is its first value, given and kept by it.
      container: where to draw it (default: the current container).
      labels: a choice's options are :func:`fmt` labels and the value is the label ("300, 600").
      number_above: an int whose range spans more than this gets a number input instead of a slider.
      exact_default: a float offers its default exactly (``hyper_options(..., exact_default=True)``).
      set_toggle: a float whose default is None gets a "set …" toggle (off: None) instead of an
        "auto" option on its slider.
      disabled: shown, not changeable (a control a lesson link fixes).
      label: in place of the registry's (a control shown away from what it belongs to names it).
    """
    c = container or st
    label, help_ = label or h.display, h.help or None

    def draw(widget, label, *args, key=key, value=None, index=None, **kw):
        """Bound: the default through ``value=`` (``index=`` for a select box); else seeded by ``remember``.
        A bound widget's URL value it could not take (a forged or mistyped link) is dropped first."""
        kw.setdefault("disabled", disabled)
        if remember is None and key in st.query_params:
            if widget in (c.slider, c.number_input):
                drop_bad_numbers({key: (int, kw.get("min_value", args[0] if args else None),
                                        kw.get("max_value", args[1] if len(args) > 1 else None))})
            elif widget is c.select_slider:
                fmt_ = kw.get("format_func", str)
                _drop_url_choice(key, [fmt_(o) for o in kw.get("options", ())])
            elif widget is c.selectbox and args:
                _drop_url_choice(key, [str(o) for o in args[0]])
        if remember is not None:
            return widget(label, *args, key=remember.seed(key, value), help=help_, **kw)
        if index is not None:
            kw["index"] = index
        else:
            kw["value"] = value
        return widget(label, *args, key=key, bind=Q, help=help_, **kw)

    if h.kind == "bool":
        return draw(c.toggle, label, value=bool(default))
    if h.kind == "text":
        return draw(c.text_input, label, value=str(default))
    if h.kind == "choice":
        if not h.choices:
            return default
        options = [fmt(v) for v in h.choices] if labels else list(h.choices)
        value = fmt(default) if labels else default
        fit_choice(key, options, relabel=labels)
        return draw(c.selectbox, label, options, value=value,
                    index=options.index(value) if value in options else 0)
    if h.kind == "int":
        lo, hi = hyper_span(h, default)
        fit_stored(key, range(lo, hi + 1))
        value = snap(default, range(lo, hi + 1))
        if number_above is not None and hi - lo > number_above:
            return int(draw(c.number_input, label, min_value=lo, max_value=hi, value=value, step=1))
        return int(draw(c.slider, label, lo, hi, value=value, step=1))
    options = hyper_options(h, exact_default)
    if default is None and set_toggle:
        if not draw(c.toggle, f"set {label}", key=key + "_on", value=False):
            return None
        options = tuple(o for o in options if o is not None)
        default = options[len(options) // 2] if h.log else snap(min(max(0.9, h.low), h.high), options)
    fit_stored(key, options, log=h.log)
    return draw(c.select_slider, label, options=options, value=snap(default, options, log=h.log), format_func=fmt)
