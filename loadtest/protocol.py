"""A Streamlit session spoken at the protocol level: one websocket, Streamlit's own protobufs.

A browser tab talks to a Streamlit server over one websocket (``/_stcore/stream``, subprotocol
``streamlit``): it sends ``BackMsg``s, the server answers with ``ForwardMsg``s. :class:`Session`
does what the browser's ``App``, ``WidgetStateManager`` and ``ForwardMsgCache`` do there (read
from Streamlit 1.67's frontend bundle, ``streamlit/static/static/js/index.*.js``, and its server):

- **Open a page**: a ``rerun_script`` BackMsg whose ``ClientState`` carries the query string, the
  page (``page_name`` = the URL path on a first load, else the ``page_script_hash`` the
  ``navigation`` message listed), no widget states, the browser's ``context_info``.
- **Collect the rerun**: every ForwardMsg from the run's ``new_session`` to its ``script_finished``
  (``metadata.run`` names the run and the fragments it reruns). Deltas are kept in a tree by
  ``metadata.delta_path``; at a successful ``script_finished`` the nodes the run did not touch are
  dropped (the frontend's ``clearStaleNodes``: all of them after a full run, only those of the rerun
  fragments after a fragment run), and so are the widget values of widgets no longer shown
  (``removeInactiveWidgetState``).
- **Know the widgets** from the ``new_element`` protos (:class:`Widget`: id, user key, kind, label,
  options, range, step, the fragment it is drawn in). A widget's value starts as the browser's
  does: the proto's value when the server set it (``set_value``/``raw_value``/a present ``value``),
  else its default.
- **Send widget changes** as the browser does: a ``rerun_script`` with the *full* current
  ``WidgetStates`` (every known value, in the wire type Streamlit 1.67 registers for that widget:
  ``double_array_value`` for a slider, ``string_array_value`` of formatted options for a select
  slider, ``int_value``/``double_value`` for an INT/FLOAT number input, ``string_value`` for a select
  box, radio or tab bar, ...), the ``fragment_id`` of the fragment the widget is drawn in (a widget
  inside ``@st.fragment`` reruns only that fragment), button clicks as one-shot ``trigger_value``,
  a custom component's ``setStateValue`` as its ``json_value`` (the whole state dict) and its
  ``setTriggerValue`` as ``json_trigger_value`` on ``$$STREAMLIT_INTERNAL_KEY_<id>__events``.
- **Fragment timers**: an ``auto_rerun`` message (``st.fragment(run_every=...)``) starts a timer
  that sends ``rerun_script`` with that ``fragment_id`` and ``is_auto_rerun`` every interval,
  whether or not the last one finished (the browser's ``setInterval``); ``stop_auto_rerun`` and every
  full run stop it, as in the browser.
- **The message cache**: the server replaces a cacheable message (a ``new_element`` of at least
  ``global.minCachedMessageSize``) by a ``ref_hash`` reference when the rerun request listed its
  hash in ``ClientState.cached_message_hashes``. Like the browser's ``ForwardMsgCache``, the session
  keeps every cacheable message it received by hash, substitutes references, lists every kept hash
  in each rerun request, and after each finished run (not one ended early for a rerun) drops the
  messages not used for more than ``max_cached_message_age`` runs (``new_session.config``; only
  those of the rerun fragments after a fragment run). ``cache=False`` announces no hash, so the
  server sends every message in full.

Latency is measured from just before the ``rerun_script`` is sent to the arrival of the
``script_finished`` of the run it caused (the first run that started after it, of the right scope:
a full run, or one that reruns the widget's fragment, and not ended early for a rerun): the last
message of the rerun. A reader thread (a greenlet under Locust's gevent) receives everything; the
calling thread waits on a condition. Nothing here imports Locust.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit

import websocket  # websocket-client (a Locust dependency; gevent-friendly once monkey-patched)
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

__all__ = ["Widget", "Request", "RunInfo", "MessageCache", "Session", "ProtocolError", "widget_from_element",
           "STREAM_PATH", "SUBPROTOCOLS", "trigger_id", "user_key"]

STREAM_PATH = "_stcore/stream"
# What Chromium offers: the protocol name, then the XSRF token (the browser sends this placeholder when it
# has no _streamlit_xsrf cookie) and, on a reconnect only, the last session id.
SUBPROTOCOLS = ["streamlit", "PLACEHOLDER_AUTH_TOKEN"]
FINISHED = ForwardMsg.ScriptFinishedStatus
EARLY = FINISHED.FINISHED_EARLY_FOR_RERUN
SUCCESS = (FINISHED.FINISHED_SUCCESSFULLY, FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)
ID_PREFIX = "$$ID-"
INTERNAL_PREFIX = "$$STREAMLIT_INTERNAL_KEY"
AUTO_TICK_GIVE_UP_S = 30.0  # a timer tick the server coalesced with another never finishes on its own


class ProtocolError(RuntimeError):
    """The server closed the connection, a run did not finish in time, or a widget is not on the page."""


def user_key(widget_id: str) -> str | None:
    """The ``key=`` a widget was given, from its id (``$$ID-<hash>-<key>``); None without one."""
    if widget_id.startswith(ID_PREFIX):
        parts = widget_id.split("-", 2)
        if len(parts) == 3 and parts[2] not in ("", "None"):
            return parts[2]
    return None


def trigger_id(component_id: str) -> str:
    """The widget id of a custom component's trigger aggregator (``setTriggerValue``)."""
    try:
        from streamlit.components.v2.bidi_component.main import _make_trigger_id

        return _make_trigger_id(component_id, "events")
    except ImportError:  # pragma: no cover - the layout of Streamlit 1.67
        return f"{INTERNAL_PREFIX}_{component_id}__events"


# ---------------------------------------------------------------------------------------
# Widgets
# ---------------------------------------------------------------------------------------

@dataclass
class Widget:
    """One widget on the page, as its ``new_element`` (or ``add_block``) proto describes it."""

    id: str
    kind: str  # slider, select_slider, number_input, selectbox, radio, checkbox, toggle, color_picker,
    #            button_group, text_input, text_area, button, tabs, component, expander, popover, ...
    label: str
    fragment_id: str
    value_type: str | None  # the WidgetState field the browser fills; None: no state (download buttons)
    initial: Any = None  # the value the browser starts from (None: none until the user sets one)
    options: list[str] = field(default_factory=list)
    min: float | None = None
    max: float | None = None
    step: float | None = None
    integer: bool = False
    query_param_key: str = ""
    ignore_rerun: bool = False
    component: str = ""  # a custom component's name
    disabled: bool = False

    @property
    def key(self) -> str | None:
        return user_key(self.id)


def _slider(el) -> Widget:
    from streamlit.proto.Slider_pb2 import Slider

    select = el.type == Slider.Type.SELECT_SLIDER
    w = Widget(el.id, "select_slider" if select else "slider", el.label, "",
               "string_array_value" if select else "double_array_value", options=list(el.options),
               min=el.min, max=el.max, step=el.step, integer=el.data_type == Slider.DataType.INT,
               query_param_key=el.query_param_key, ignore_rerun=el.ignore_rerun, disabled=el.disabled)
    if select:
        idx = [int(i) for i in el.default]
        if el.set_value and len(el.raw_value):
            w.initial = [str(v) for v in el.raw_value]
        else:
            w.initial = [el.options[i] for i in idx if 0 <= i < len(el.options)]
    else:
        w.initial = [float(v) for v in (el.value if el.set_value else el.default)]
    return w


def _number_input(el) -> Widget:
    from streamlit.proto.NumberInput_pb2 import NumberInput

    integer = el.data_type == NumberInput.DataType.INT
    w = Widget(el.id, "number_input", el.label, "", "int_value" if integer else "double_value",
               min=el.min if el.has_min else None, max=el.max if el.has_max else None, step=el.step or None,
               integer=integer, query_param_key=el.query_param_key, ignore_rerun=el.ignore_rerun,
               disabled=el.disabled)
    value = el.value if el.HasField("value") else (el.default if el.HasField("default") else None)
    w.initial = None if value is None else (int(value) if integer else float(value))
    return w


def _choice(el, kind: str) -> Widget:  # selectbox, radio
    w = Widget(el.id, kind, el.label, "", "string_value", options=list(el.options),
               query_param_key=el.query_param_key, ignore_rerun=el.ignore_rerun, disabled=el.disabled)
    if el.set_value and el.HasField("raw_value"):
        w.initial = el.raw_value
    elif el.HasField("default") and 0 <= el.default < len(el.options):
        w.initial = el.options[el.default]
    return w


def _checkbox(el) -> Widget:
    from streamlit.proto.Checkbox_pb2 import Checkbox

    kind = "toggle" if el.type == Checkbox.StyleType.TOGGLE else "checkbox"
    return Widget(el.id, kind, el.label, "", "bool_value", initial=bool(el.value if el.set_value else el.default),
                  query_param_key=el.query_param_key, ignore_rerun=el.ignore_rerun, disabled=el.disabled)


def _button_group(el) -> Widget:
    options = [o.content for o in el.options]
    w = Widget(el.id, "button_group", el.label, "", "string_array_value", options=options,
               query_param_key=el.query_param_key, ignore_rerun=el.ignore_rerun, disabled=el.disabled)
    w.initial = list(el.raw_values) if el.set_value else [options[i] for i in el.default if 0 <= i < len(options)]
    return w


def _text(el, kind: str) -> Widget:
    w = Widget(el.id, kind, el.label, "", "string_value", query_param_key=el.query_param_key,
               ignore_rerun=el.ignore_rerun, disabled=el.disabled)
    if el.HasField("value"):
        w.initial = el.value
    elif el.HasField("default"):
        w.initial = el.default
    return w


def widget_from_element(el) -> Widget | None:
    """The widget an ``Element`` proto draws, or None for an element that is not a widget."""
    kind = el.WhichOneof("type")
    if kind is None:
        return None
    proto = getattr(el, kind)
    wid = getattr(proto, "id", "")
    if not isinstance(wid, str) or not wid:
        return None
    if kind == "slider":
        return _slider(proto)
    if kind == "number_input":
        return _number_input(proto)
    if kind in ("selectbox", "radio"):
        return _choice(proto, kind)
    if kind == "checkbox":
        return _checkbox(proto)
    if kind == "button_group":
        return _button_group(proto)
    if kind in ("text_input", "text_area"):
        return _text(proto, kind)
    if kind == "color_picker":
        return Widget(wid, kind, proto.label, "", "string_value", initial=proto.value if proto.set_value else proto.default,
                      query_param_key=proto.query_param_key, ignore_rerun=proto.ignore_rerun, disabled=proto.disabled)
    if kind == "button":
        return Widget(wid, kind, proto.label, "", "trigger_value", disabled=proto.disabled)
    if kind == "bidi_component":
        # No state until the component's script sets one (setStateValue): then the whole dict as JSON.
        return Widget(wid, "component", "", "", "json_value", component=proto.component_name)
    if kind == "plotly_chart":
        return Widget(wid, kind, "", "", "string_value")  # a selection, once the user makes one
    # Download buttons (deferred or not), dataframes without selections, ...: no state the browser sends.
    return Widget(wid, kind, getattr(proto, "label", ""), "", None)


def widget_from_block(block, children_labels: Callable[[], list[str]]) -> Widget | None:
    """A block with widget state: a keyed tab bar (``st.tabs(key=...)``, its value the open tab's label), a
    keyed expander or popover (open or not). The browser sends these only once the user changes them."""
    kind = block.WhichOneof("type")
    if kind == "tab_container" and block.tab_container.id:
        tc = block.tab_container
        return Widget(tc.id, "tabs", "", "", "string_value", query_param_key=tc.query_param_key,
                      options=[], initial=None)
    if kind == "expandable" and block.expandable.id:
        return Widget(block.expandable.id, "expander", block.expandable.label, "", "bool_value")
    if kind == "popover" and block.popover.id:
        return Widget(block.popover.id, "popover", block.popover.label, "", "bool_value")
    return None


def _wire(widget: Widget, value: Any) -> Any:
    """``value`` as the browser would hold it for ``widget`` (checked and normalised)."""
    vt = widget.value_type
    if vt == "double_array_value":
        vals = [float(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
        for v in vals:
            if widget.min is not None and widget.max is not None and not widget.min <= v <= widget.max:
                raise ValueError(f"{v} is outside [{widget.min}, {widget.max}] for slider {widget.label!r}")
        return vals
    if vt == "string_array_value":
        vals = [value] if isinstance(value, (str, int, float)) else list(value)
        out = []
        for v in vals:
            if isinstance(v, int) and not isinstance(v, bool) and widget.options and str(v) not in widget.options:
                v = widget.options[v]  # an index into the options
            v = str(v)
            if widget.options and v not in widget.options:
                raise ValueError(f"{v!r} is not an option of {widget.label!r}: {widget.options[:8]}...")
            out.append(v)
        return out
    if vt == "int_value":
        return int(value)
    if vt == "double_value":
        return float(value)
    if vt == "bool_value":
        return bool(value)
    if vt in ("string_value", "json_value"):
        if vt == "json_value" and not isinstance(value, str):
            return json.dumps(value)
        if widget.kind in ("selectbox", "radio") and widget.options and value not in widget.options:
            raise ValueError(f"{value!r} is not an option of {widget.label!r}")
        return str(value)
    raise ValueError(f"widget {widget.label or widget.id!r} ({widget.kind}) takes no value")


def _fill(state, value_type: str, value: Any) -> None:
    """Set one ``WidgetState``'s value field."""
    if value_type in ("double_array_value", "string_array_value", "int_array_value"):
        getattr(state, value_type).data.extend(value)
    elif value_type == "json_trigger_value":
        state.json_trigger_value = value if isinstance(value, str) else json.dumps(value)
    else:
        setattr(state, value_type, value)


# ---------------------------------------------------------------------------------------
# The browser's ForwardMsg cache
# ---------------------------------------------------------------------------------------

class MessageCache:
    """The browser's ``ForwardMsgCache``: cacheable messages by hash, aged in script runs."""

    def __init__(self):
        self.messages: dict[str, list] = {}  # hash -> [encoded message, run count last used, fragment id]
        self.run_count = 0
        self.hits = 0
        self.misses = 0

    def process(self, msg: ForwardMsg, raw: bytes) -> ForwardMsg:
        """The message to handle for ``msg`` as received (a reference is replaced by the cached one)."""
        kind = msg.WhichOneof("type")
        if kind != "ref_hash" and msg.metadata.cacheable and msg.hash and msg.hash not in self.messages:
            frag = msg.delta.fragment_id if kind == "delta" else ""
            self.messages[msg.hash] = [raw, self.run_count, frag or None]
        if kind != "ref_hash":
            return msg
        entry = self.messages.get(msg.ref_hash)
        if entry is None:
            self.misses += 1
            raise ProtocolError(f"cached ForwardMsg miss [hash={msg.ref_hash}]")
        self.hits += 1
        entry[1] = self.run_count
        full = ForwardMsg()
        full.ParseFromString(entry[0])
        full.metadata.CopyFrom(msg.metadata)  # the reference carries this use's delta path
        return full

    def hashes(self) -> list[str]:
        return list(self.messages)

    def increment_run_count(self, max_age: int, fragment_ids: Iterable[str]) -> None:
        self.run_count += 1
        frags = list(fragment_ids)
        for h in list(self.messages):
            _, used, frag = self.messages[h]
            if frags and (not frag or frag not in frags):
                continue
            if self.run_count - used > max_age:
                del self.messages[h]


# ---------------------------------------------------------------------------------------
# Runs and requests
# ---------------------------------------------------------------------------------------

@dataclass
class RunInfo:
    """One script run as the session saw it."""

    seq: int  # 1, 2, ... in the order their new_session arrived
    run_id: str
    fragment_ids: tuple[str, ...]
    page_hash: str
    started: float
    finished: float | None = None
    status: int | None = None
    exceptions: list[str] = field(default_factory=list)


@dataclass
class Request:
    """One rerun request: sent at ``t0``, done at the ``script_finished`` of the run it caused."""

    what: str
    scope: str  # the fragment id, "" for a whole-page run
    after_seq: int  # runs with a larger seq started after the request was sent
    auto: bool = False
    t0: float = 0.0
    t1: float | None = None
    bytes: int = 0
    messages: int = 0
    run: RunInfo | None = None
    runs: int = 0  # runs finished while it waited (a st.rerun() makes two)
    exceptions: list[str] = field(default_factory=list)
    error: str | None = None
    done: bool = False

    @property
    def ms(self) -> float | None:
        return None if self.t1 is None else (self.t1 - self.t0) * 1e3

    def matches(self, run: RunInfo) -> bool:
        if run.seq <= self.after_seq:
            return False
        if not self.scope:
            return not run.fragment_ids  # a whole-page request: a whole-page run
        return not run.fragment_ids or self.scope in run.fragment_ids


@dataclass
class _Node:
    kind: str  # element type or "block:<type>"
    run_id: str
    fragment_id: str
    script_hash: str
    widget: Widget | None = None
    element: Any = None  # the Element proto (new_element only)
    labels: list[str] | None = None


# ---------------------------------------------------------------------------------------
# The session
# ---------------------------------------------------------------------------------------

class Session:
    """One browser tab's conversation with a Streamlit server (see the module's doc).

    ``on_component(session, widget, data, request)`` is called (in the reader thread) for each custom
    component element received, with its data decoded from JSON (None if it is not JSON); ``on_query``
    (session, query_string) for each query string the server sets. Both may raise nothing.
    """

    def __init__(self, base_url: str, *, cache: bool = True, timeout: float = 60.0, name: str = "",
                 on_component: Callable | None = None, on_query: Callable | None = None,
                 decode_components: Iterable[str] = ()):
        parts = urlsplit(base_url if "://" in base_url else "http://" + base_url)
        self.base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/"
        scheme = "wss" if parts.scheme == "https" else "ws"
        self.ws_url = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/{STREAM_PATH}"
        self.name = name
        self.timeout = timeout
        self.cache = MessageCache() if cache else None
        self.on_component = on_component
        self.on_query = on_query
        self.decode_components = set(decode_components)  # component names whose data is JSON-decoded

        self.ws: websocket.WebSocket | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Condition(threading.RLock())
        self._send_lock = threading.Lock()
        self.closed = False
        self.close_reason: str | None = None

        self.query = ""
        self.page_hash = ""  # the page shown (its script hash)
        self.main_hash = ""
        self.session_id = ""
        self.pages: list = []  # AppPage protos of the last navigation message
        self.max_age = 2
        self._has_new_session = False
        self.nodes: dict[tuple[int, ...], _Node] = {}
        self.values: dict[str, tuple[str, Any]] = {}  # widget id -> (value type, value): what the browser holds
        self.component_state: dict[str, dict] = {}  # component id -> its state dict (setStateValue)
        self.auto: dict[str, list[float]] = {}  # fragment id -> [interval s, next tick (monotonic)]
        self.seq = 0
        self.run: RunInfo | None = None  # the run whose deltas are arriving
        self.runs_finished = 0
        self.pending: list[Request] = []
        self.bytes_received = 0
        self.messages_received = 0
        self.last_message_at = time.perf_counter()
        self.heartbeat_acks = 0
        self.bytes_sent = 0
        self.auto_sent = 0
        self.auto_done: list[Request] = []  # finished timer ticks, for whoever wants their latency
        self.errors: list[str] = []  # problems seen outside any request (exceptions in a tick's run, ...)

    # ---- connection -------------------------------------------------------------------------------
    def connect(self) -> None:
        self.ws = websocket.create_connection(self.ws_url, subprotocols=SUBPROTOCOLS, timeout=self.timeout,
                                              enable_multithread=True, origin=self.base.rstrip("/"))
        self.ws.settimeout(0.25)
        self._reader = threading.Thread(target=self._read_loop, name=f"st-reader-{self.name}", daemon=True)
        self._reader.start()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self.close_reason = self.close_reason or "closed by the client"
            self._lock.notify_all()
        if self.ws is not None:
            try:
                self.ws.close(timeout=1)
            except Exception:  # noqa: BLE001 - closing anyway
                pass
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=2)

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- what the page shows ------------------------------------------------------------------------
    def widgets(self) -> list[Widget]:
        with self._lock:
            return [n.widget for _, n in sorted(self.nodes.items()) if n.widget is not None]

    def widget(self, key: str | None = None, *, label: str | None = None, kind: str | None = None) -> Widget:
        """The widget with user key ``key`` (or label ``label``); :class:`ProtocolError` if it is not shown."""
        found = [w for w in self.widgets() if (key is None or w.key == key) and (label is None or w.label == label)
                 and (kind is None or w.kind == kind)]
        if not found:
            raise ProtocolError(f"no widget {key or label!r} on the page ({self.page_name()})")
        return found[0]

    def has_widget(self, key: str | None = None, *, label: str | None = None) -> bool:
        return any((key is None or w.key == key) and (label is None or w.label == label) for w in self.widgets())

    def value(self, key: str) -> Any:
        w = self.widget(key)
        with self._lock:
            got = self.values.get(w.id)
        return None if got is None else got[1]

    def elements(self, kind: str | None = None) -> list:
        """The Element protos on the page (of one type)."""
        with self._lock:
            return [n.element for _, n in sorted(self.nodes.items())
                    if n.element is not None and (kind is None or n.kind == kind)]

    def page_name(self) -> str:
        for p in self.pages:
            if p.page_script_hash == self.page_hash:
                return p.url_pathname or "/"
        return self.page_hash or "?"

    # ---- input ----------------------------------------------------------------------------------------
    def open(self, page: str = "", query: str = "", *, what: str | None = None, wait: bool = True) -> Request:
        """Load ``page`` (a URL path such as ``"live-training"``; "" for the default page) with ``query``
        (``"a=1&b=2"``), as a browser tab opening that URL: the first request of a connection."""
        with self._lock:
            self.query = query.lstrip("?")
        return self._rerun(what or f"open /{page}", page_name=page.strip("/"), page_hash="", states={}, wait=wait)

    def switch_page(self, page: str, *, what: str | None = None, wait: bool = True) -> Request:
        """Go to another page of the app in the same tab (``st.navigation``'s links): the page's script
        hash, the query string without the old page's bound widgets, the widgets still shown (the main
        script's) kept."""
        path = page.strip("/")
        target = next((p for p in self.pages if p.url_pathname == path or (not path and p.is_default)), None)
        if target is None:
            raise ProtocolError(f"no page {page!r} in the navigation ({[p.url_pathname for p in self.pages]})")
        with self._lock:
            bound = {w.query_param_key for n in self.nodes.values() if (w := n.widget) and w.query_param_key}
            self.query = urlencode([(k, v) for k, v in parse_qsl(self.query, keep_blank_values=True)
                                    if k not in bound])
            kept = {n.widget.id for n in self.nodes.values()
                    if n.widget is not None and n.script_hash == self.main_hash}
            states = {wid: v for wid, v in self.values.items() if wid in kept}
            for h, node in list(self.nodes.items()):  # clearPageElements: the old page's elements go now
                if node.script_hash != self.main_hash:
                    del self.nodes[h]
        return self._rerun(what or f"page /{path}", page_hash=target.page_script_hash, states=states, wait=wait)

    def set(self, key: str, value: Any, *, what: str | None = None, wait: bool = True) -> Request:
        """Change widget ``key`` to ``value`` as a user would, and rerun (its fragment, if it is in one)."""
        w = self.widget(key)
        wire = _wire(w, value)
        with self._lock:
            self.values[w.id] = (w.value_type, wire)
        if w.ignore_rerun:
            return Request(what or f"set {key}", w.fragment_id, self.seq, done=True)
        return self._rerun(what or f"set {key}", fragment_id=w.fragment_id, wait=wait)

    def click(self, key: str | None = None, *, label: str | None = None, what: str | None = None,
              wait: bool = True) -> Request:
        """Press the button with user key ``key`` (or label ``label``): a one-shot trigger."""
        w = self.widget(key, label=label, kind="button")
        return self._rerun(what or f"click {key or label}", fragment_id=w.fragment_id,
                           triggers={w.id: ("trigger_value", True)}, wait=wait)

    def set_component_state(self, key: str, name: str, value: Any, *, what: str | None = None,
                            wait: bool = True) -> Request:
        """A custom component's ``setStateValue(name, value)``: its whole state dict as JSON, and a rerun."""
        w = self.widget(key, kind="component")
        with self._lock:
            state = dict(self.component_state.get(w.id, {}))
            state[name] = value
            self.component_state[w.id] = state
            self.values[w.id] = ("json_value", json.dumps(state))
        return self._rerun(what or f"{key}.{name}", fragment_id=w.fragment_id, wait=wait)

    def trigger_component(self, key: str, event: str, value: Any, *, what: str | None = None,
                          wait: bool = True) -> Request:
        """A custom component's ``setTriggerValue(event, value)``: one rerun sees it."""
        w = self.widget(key, kind="component")
        payload = json.dumps([{"event": event, "value": value}])
        return self._rerun(what or f"{key}!{event}", fragment_id=w.fragment_id,
                           triggers={trigger_id(w.id): ("json_trigger_value", payload)}, wait=wait)

    def rerun(self, *, what: str = "rerun", wait: bool = True) -> Request:
        """Rerun the page with the current state (the "R" key)."""
        return self._rerun(what, wait=wait)

    def wait(self, req: Request, timeout: float | None = None) -> Request:
        """Until ``req`` is done (its run finished, the connection failed or ``timeout`` passed). A request
        that times out says why as far as the session can tell: when it last heard from the server, whether
        a run had started, and whether the server still answers a heartbeat (``app_heartbeat`` ->
        ``heartbeat_ack``: an overloaded server's event loop answers late, a dropped session never)."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        timed_out = False
        with self._lock:
            while not req.done:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                self._lock.wait(min(left, 1.0))
        if not timed_out:
            return req
        with self._lock:
            started = self.run is not None and self.run.seq > req.after_seq
            running = started and self.run.finished is None
            quiet = time.perf_counter() - self.last_message_at
        alive = self.heartbeat(timeout=5.0)
        with self._lock:
            if req.done:  # it finished while the heartbeat was on its way
                return req
            req.error = (f"no script_finished within {limit:.0f} s ("
                         + ("a run started and " + ("is still running" if running else "ended early")
                            if started else "no run started")
                         + f"; last message {quiet:.0f} s ago; the server "
                         + ("answered a heartbeat)" if alive else "did not answer a heartbeat within 5 s either)"))
            req.done = True
            if req in self.pending:
                self.pending.remove(req)
        return req

    def heartbeat(self, timeout: float = 5.0) -> bool:
        """Whether the server answers an ``app_heartbeat`` with a ``heartbeat_ack`` within ``timeout`` s."""
        if self.ws is None or self.closed:
            return False
        with self._lock:
            before = self.heartbeat_acks
        msg = BackMsg()
        msg.app_heartbeat = True
        try:
            with self._send_lock:
                self.ws.send_binary(msg.SerializeToString())
        except Exception:  # noqa: BLE001 - no connection, no answer
            return False
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.heartbeat_acks == before and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.5))
            return self.heartbeat_acks > before

    def idle(self, seconds: float) -> None:
        """Let ``seconds`` pass (the reader keeps receiving and the fragment timers keep ticking)."""
        time.sleep(seconds)

    # ---- the rerun request --------------------------------------------------------------------------
    def _client_state(self, msg: BackMsg, *, states: dict | None, triggers: dict | None, fragment_id: str,
                      page_hash: str | None, page_name: str, auto: bool) -> None:
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_script_hash = self.page_hash if page_hash is None else page_hash
        cs.page_name = page_name
        cs.fragment_id = fragment_id
        cs.is_auto_rerun = auto
        values = self.values if states is None else states
        for wid, (vt, v) in values.items():
            ws = cs.widget_states.widgets.add()
            ws.id = wid
            _fill(ws, vt, v)
        for wid, (vt, v) in (triggers or {}).items():
            ws = cs.widget_states.widgets.add()
            ws.id = wid
            _fill(ws, vt, v)
        if self.cache is not None:
            cs.cached_message_hashes.extend(self.cache.hashes())
        ci = cs.context_info
        ci.timezone, ci.timezone_offset, ci.locale = "UTC", 0, "en-US"
        ci.url = self.base + (page_name or "") + (f"?{self.query}" if self.query else "")
        ci.is_embedded, ci.color_scheme = False, "light"

    def _rerun(self, what: str, *, fragment_id: str = "", triggers: dict | None = None, states: dict | None = None,
               page_hash: str | None = None, page_name: str = "", auto: bool = False, wait: bool = True) -> Request:
        if self.ws is None:
            raise ProtocolError("not connected")
        msg = BackMsg()
        with self._lock:
            if self.closed:
                raise ProtocolError(f"connection closed: {self.close_reason}")
            self._client_state(msg, states=states, triggers=triggers, fragment_id=fragment_id, page_hash=page_hash,
                               page_name=page_name, auto=auto)
            req = Request(what, fragment_id, self.seq, auto=auto)
            self.pending.append(req)
            self._has_new_session = False
            data = msg.SerializeToString()
            req.t0 = time.perf_counter()
        try:
            with self._send_lock:
                self.ws.send_binary(data)
            self.bytes_sent += len(data)
        except Exception as exc:  # noqa: BLE001 - reported through the request
            with self._lock:
                req.error, req.done = f"send failed: {exc}", True
                if req in self.pending:
                    self.pending.remove(req)
            return req
        if auto:
            self.auto_sent += 1
        return self.wait(req) if wait else req

    # ---- the reader -------------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        ws = self.ws
        while not self.closed:
            try:
                data = ws.recv()
            except websocket.WebSocketTimeoutException:
                self._tick()
                continue
            except Exception as exc:  # noqa: BLE001 - the connection is gone: every waiter learns why
                self._fail(f"connection lost: {type(exc).__name__}: {exc}")
                return
            if not data:
                self._fail("connection closed by the server")
                return
            if isinstance(data, str):
                self._fail("text frame from the server (Streamlit sends binary protobufs)")
                return
            try:
                self._handle(data)
            except ProtocolError as exc:
                self._fail(str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - a message we could not handle: say so, keep reading
                with self._lock:
                    self.errors.append(f"could not handle a message: {type(exc).__name__}: {exc}")
            self._tick()

    def _fail(self, why: str) -> None:
        with self._lock:
            if not self.closed:
                self.close_reason = why
            self.closed = True
            for req in self.pending:
                req.error, req.done = req.error or why, True
            self.pending.clear()
            self._lock.notify_all()

    def _tick(self) -> None:
        """Send the fragment timers' reruns that are due (the browser's setInterval)."""
        now = time.monotonic()
        due = []
        with self._lock:
            for fid, timer in self.auto.items():
                if now >= timer[1]:
                    due.append(fid)
                    timer[1] = max(timer[1] + timer[0], now + 0.5 * timer[0])
            for req in [r for r in self.pending if r.auto and time.perf_counter() - r.t0 > AUTO_TICK_GIVE_UP_S]:
                self.pending.remove(req)  # coalesced with another tick by the server
        for fid in due:
            try:
                self._rerun("auto rerun", fragment_id=fid, auto=True, wait=False)
            except ProtocolError:
                return

    def _handle(self, raw: bytes) -> None:
        msg = ForwardMsg()
        msg.ParseFromString(raw)
        with self._lock:
            self.bytes_received += len(raw)
            self.messages_received += 1
            self.last_message_at = time.perf_counter()
            for req in self.pending:
                req.bytes += len(raw)
                req.messages += 1
            if self.cache is not None:
                msg = self.cache.process(msg, raw)
            elif msg.WhichOneof("type") == "ref_hash":
                raise ProtocolError("the server sent a cache reference although no hash was announced")
            kind = msg.WhichOneof("type")
            handler = getattr(self, f"_on_{kind}", None)
            if handler is not None:
                handler(msg)

    # Handlers below run in the reader thread with the lock held.
    def _on_new_session(self, msg: ForwardMsg) -> None:
        ns = msg.new_session
        run = msg.metadata.run
        self.seq += 1
        self.run = RunInfo(self.seq, run.script_run_id, tuple(run.fragment_ids), ns.page_script_hash,
                           time.perf_counter())
        self._has_new_session = True
        if ns.HasField("initialize"):
            self.session_id = ns.initialize.session_id
        self.main_hash = ns.main_script_hash or self.main_hash
        self.max_age = ns.config.max_cached_message_age or self.max_age
        if not self.run.fragment_ids:
            self.auto.clear()  # cleanupAutoReruns: the full run declares its timers again
            if ns.page_script_hash and ns.page_script_hash != self.page_hash:
                for path in [p for p, n in self.nodes.items() if n.script_hash != self.main_hash]:
                    del self.nodes[path]
            if ns.page_script_hash:
                self.page_hash = ns.page_script_hash

    def _on_heartbeat_ack(self, msg: ForwardMsg) -> None:
        self.heartbeat_acks += 1
        self._lock.notify_all()

    def _on_navigation(self, msg: ForwardMsg) -> None:
        nav = msg.navigation
        self.pages = list(nav.app_pages)
        if nav.page_script_hash:
            self.page_hash = nav.page_script_hash

    def _on_page_info_changed(self, msg: ForwardMsg) -> None:
        self.query = msg.page_info_changed.query_string
        if self.on_query is not None:
            self.on_query(self, self.query)

    def _on_auto_rerun(self, msg: ForwardMsg) -> None:
        ar = msg.auto_rerun
        if not ar.fragment_id:
            return
        old = self.auto.get(ar.fragment_id)
        if old is None or old[0] != ar.interval:
            self.auto[ar.fragment_id] = [float(ar.interval), time.monotonic() + float(ar.interval)]

    def _on_stop_auto_rerun(self, msg: ForwardMsg) -> None:
        for fid in msg.stop_auto_rerun.fragment_ids:
            self.auto.pop(fid, None)

    def _on_delta(self, msg: ForwardMsg) -> None:
        delta = msg.delta
        path = tuple(msg.metadata.delta_path)
        run_id = self.run.run_id if self.run else ""
        script_hash = msg.metadata.active_script_hash
        kind = delta.WhichOneof("type")
        if kind == "new_element":
            el = delta.new_element
            ek = el.WhichOneof("type") or ""
            w = widget_from_element(el)
            node = _Node(ek, run_id, delta.fragment_id, script_hash, w, el)
            if ek == "exception":
                text = f"{el.exception.type}: {el.exception.message}"
                if self.run is not None:
                    self.run.exceptions.append(text)
                waiting = [r for r in self.pending if not r.auto]
                for req in waiting:
                    req.exceptions.append(text)
                if not waiting:
                    self.errors.append(f"exception in a run nobody asked for: {text}")
        elif kind == "add_block":
            block = delta.add_block
            bk = block.WhichOneof("type") or ""
            labels: list[str] = []
            w = widget_from_block(block, lambda: labels)
            node = _Node("block:" + bk, run_id, delta.fragment_id, script_hash, w, None, labels)
            if bk == "tab" and path[:-1] in self.nodes and self.nodes[path[:-1]].labels is not None:
                parent = self.nodes[path[:-1]]
                idx = path[-1]
                while len(parent.labels) <= idx:
                    parent.labels.append("")
                parent.labels[idx] = block.tab.label
                if parent.widget is not None:
                    parent.widget.options = [x for x in parent.labels if x]
        else:
            return
        if node.widget is not None:
            node.widget.fragment_id = delta.fragment_id
            wid = node.widget.id
            if node.widget.initial is not None:
                held = self.values.get(wid)
                el = node.element
                forced = el is not None and _server_set_value(el)
                if held is None or forced:
                    self.values[wid] = (node.widget.value_type, node.widget.initial)
        self.nodes[path] = node
        if kind == "new_element" and node.kind == "bidi_component" and self.on_component is not None:
            self._component_arrived(node)

    def _component_arrived(self, node: _Node) -> None:
        proto = node.element.bidi_component
        data: Any = None
        if proto.component_name in self.decode_components or "*" in self.decode_components:
            src = proto.json if proto.WhichOneof("data") == "json" else (
                proto.mixed.json if proto.WhichOneof("data") == "mixed" else "")
            try:
                data = json.loads(src) if src else None
            except ValueError:
                data = None
        waiting = next((r for r in self.pending if not r.auto), None)
        self.on_component(self, node.widget, data, waiting)

    def _on_script_finished(self, msg: ForwardMsg) -> None:
        status = msg.script_finished
        ident = msg.metadata.run
        run = self.run
        if run is None or (ident.script_run_id and ident.script_run_id != run.run_id):
            run = RunInfo(0, ident.script_run_id, tuple(ident.fragment_ids), self.page_hash, time.perf_counter())
        run.finished, run.status = time.perf_counter(), status
        self.runs_finished += 1
        if status in SUCCESS and ident.script_run_id:
            self._clear_stale(ident.script_run_id, tuple(ident.fragment_ids))
        if (ident.script_run_id and self.cache is not None and status != EARLY and self._has_new_session):
            self.cache.increment_run_count(self.max_age, ident.fragment_ids)
        if status == FINISHED.FINISHED_WITH_COMPILE_ERROR:
            for req in self.pending:
                req.exceptions.append("the script failed to compile")
        if status == EARLY:
            for req in self.pending:
                req.runs += 1
            return
        now = time.perf_counter()
        for req in list(self.pending):
            req.runs += 1
            if req.matches(run):
                req.t1, req.run, req.done = now, run, True
                self.pending.remove(req)
                if req.auto:
                    self.auto_done.append(req)
                    if len(self.auto_done) > 1000:
                        del self.auto_done[:500]
        self._lock.notify_all()

    def _clear_stale(self, run_id: str, fragment_ids: tuple[str, ...]) -> None:
        for path in [p for p, n in self.nodes.items()
                     if n.run_id != run_id and (not fragment_ids or n.fragment_id in fragment_ids)]:
            del self.nodes[path]
        # Nodes under a path that now holds a leaf element are gone too.
        leaves = {p for p, n in self.nodes.items() if not n.kind.startswith("block:")}
        for path in [p for p in self.nodes if any(p[:k] in leaves for k in range(1, len(p)))]:
            del self.nodes[path]
        active = {n.widget.id for n in self.nodes.values() if n.widget is not None}
        active |= {trigger_id(w) for w in active}
        for wid in [w for w in self.values if w not in active]:
            del self.values[wid]
        for wid in [w for w in self.component_state if w not in active]:
            del self.component_state[wid]


def _server_set_value(el) -> bool:
    """Whether the server set this widget's value (``set_value``): the browser then takes it."""
    kind = el.WhichOneof("type")
    proto = getattr(el, kind, None)
    return bool(getattr(proto, "set_value", False))
