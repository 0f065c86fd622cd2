"""Locust users that speak Streamlit's websocket protocol: simulated students, and one heavy session.

Usable three ways: ``python -m loadtest run`` drives it (server, Locust as a library, resource
samples, report); ``locust -f loadtest/locustfile.py --host http://127.0.0.1:8501 StudentUser``
runs it with Locust's own command line or web UI; ``LOADTEST_HEAVY=1`` adds :class:`HeavyUser`.

A :class:`StudentUser` is one browser tab (:class:`loadtest.protocol.Session`). It opens the
Playground at gradient noise 0.1 with a seed of its own, then, at a human pace (1-5 s between
actions, plus the time it watches), it:

- moves a slider (weight 8): the seed (a new value each time, so no cache can answer), run 1's
  learning rate (a neighbouring value) or the gradient noise;
- plays the race (4): playing is drawn by the browser, so nothing is sent while it plays (2-6 s);
  pausing sends the step it stopped at as the race component's state (``setStateValue("step",
  n)``: a rerun of the race's fragment), and the step inspector must follow;
- opens the convergence map tab (2): a whole-page run that computes the map; it looks at it, may
  change the grid, and goes back to the Theory tab;
- trains (2): switches to Live Training, sets a seed of its own, presses Start (the fragment timer
  then reruns the live view every 0.15 s, as the browser's timer does: these reruns are reported
  as ``AUTO`` requests, not user input), watches 3-8 s, presses Pause and goes back.

Each student first does each of the four once (starting at a different one per student), then
picks by these weights. Every request is reported to Locust as ``ST`` (input -> the rerun's ``script_finished``); a failure
is a connection or timeout problem, or an exception shown by the script.

**Isolation checks.** Each session's seeds are its own (student n: Playground seeds from
n x 1,000,000; Live Training seeds from a block of 20). A process-wide registry records, for every
race scene id (a hash of the whole scene, seed included) and every training data set (a hash of the
training points) the seed of the session that asked for it, and every Live Training race id its
session. A violation is: a race scene arriving at a session other than the one it was made for; a
data set arriving at a session that never used the seed it was made for; a live race id arriving
at two sessions; the query string the server writes (the Playground keeps its scene in the URL)
naming a seed that is not one of the session's; a rerun after a seed change without a race; a pause
whose step the inspector does not show. (An answer to a session's own earlier change arriving late,
under load, is not a violation; stale URLs are counted apart.)
Violations are reported as failed ``CHECK`` requests named ``isolation`` and counted.

:class:`HeavyUser` (one, with ``--heavy``) runs the heaviest job the app allows, again and again:
``map`` (default) opens the convergence map at the largest grid the page offers (100 x 100 starts) at
1000 steps (the most a map runs: 10 million row-steps, half of
``optim_core.engine.LIMITS.max_rows_x_steps``) and recomputes it for a learning rate the map cache
has not seen; ``export`` renders the race as an MP4 at 1920x1080 (the export menu's heaviest item, a
background job polled by its fragment's timer), then again. It waits until :data:`CONFIG`
``["heavy_go"]`` is set.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import time
from urllib.parse import parse_qs, urlencode

from locust import User, between, constant, events, task

from loadtest.isolation import Registry
from loadtest.protocol import ProtocolError, Request, Session

__all__ = ["CONFIG", "REGISTRY", "SESSIONS", "StudentUser", "HeavyUser", "RACE", "LIVE", "HEAVY_QUERY", "HEAVY_KINDS"]

RACE = "optimizer_explorer_race"
LIVE = "optimizer_explorer.live_training"
CONV_TAB, THEORY_TAB = "Convergence map", "Theory"
NOISES = ("0.05", "0.1", "0.2", "0.3")
HEAVY_GRID, HEAVY_STEPS = "100 × 100", 1000
HEAVY_QUERY = urlencode({"pg_tab": CONV_TAB, "pg_conv_n": HEAVY_GRID, "pg_steps": HEAVY_STEPS, "pg_nruns": 1})
EXPORT = "MP4 1920x1080"  # the export menu's heaviest export (rendered as a background job)
HEAVY_KINDS = {"map": f"convergence map, {HEAVY_GRID} starts x {HEAVY_STEPS} steps",
               "export": f"{EXPORT} export of the race"}
LIVE_SEED_BLOCK = 20
LIVE_SEED_MAX = 10_000  # the Live Training seed input's max

# Set by loadtest.drive (or left to these defaults under Locust's own command line).
CONFIG: dict = {
    "timeout": 60.0,  # seconds a rerun may take before it counts as failed
    "cache": True,  # announce cached message hashes as the browser does (False: the server sends everything)
    "heavy_go": None,  # a gevent Event the heavy user waits for (None: it starts at once)
    "heavy_kind": os.environ.get("LOADTEST_HEAVY_KIND", "map"),  # "map" or "export" (HEAVY_KINDS)
    "tour": True,  # each student first does each action once, then picks at random
    "weights": None,  # {action: weight} instead of StudentUser.WEIGHTS (0 leaves an action out, tour too)
}


def _violation_to_locust(what: str) -> None:
    events.request.fire(request_type="CHECK", name="isolation", response_time=0, response_length=0,
                        exception=ProtocolError(what), context={"user": "check"})


REGISTRY = Registry(on_violation=_violation_to_locust)
SESSIONS: list[Session] = []  # every session opened (for the protocol counters at the end)
_numbers = itertools.count(1)


def report(req: Request, *, kind: str = "ST", user: str = "student", name: str | None = None) -> bool:
    """Tell Locust how a request went; True if it succeeded."""
    problem = req.error or (f"script exception: {req.exceptions[0]}" if req.exceptions else None)
    ms = req.ms if req.ms is not None else (time.perf_counter() - req.t0) * 1e3 if req.t0 else 0.0
    events.request.fire(request_type=kind, name=name or req.what, response_time=ms, response_length=req.bytes,
                        exception=None if problem is None else ProtocolError(problem), context={"user": user})
    return problem is None


def report_failure(name: str, why: str, *, kind: str = "ST", user: str = "student") -> None:
    events.request.fire(request_type=kind, name=name, response_time=0, response_length=0,
                        exception=ProtocolError(why), context={"user": user})


class _Tab:
    """One simulated browser tab of a Locust user, and what its checks need to know."""

    def __init__(self, user: User, name: str):
        self.user = user
        self.name = name
        self.session: Session | None = None
        self.pg_seed = 0
        self.pg_seeds: set[int] = set()  # every Playground seed this tab has set
        self.live_seed = 0  # the Live Training seed the server holds for this session (0: its default)
        self.live_seeds: set[int] = {0}
        self.live_copy: str | None = None  # the live race the view holds (the component's own copy)
        self.race_scenes: list[str] = []  # race scenes received since the last request began
        self.steps = 500

    def new_pg_seed(self, seed: int) -> None:
        self.pg_seed = seed
        self.pg_seeds.add(seed)

    def new_session(self) -> Session:
        if self.session is not None:
            self.session.close()
        self.live_copy = None
        self.session = Session(self.user.host, cache=CONFIG["cache"], timeout=CONFIG["timeout"], name=self.name,
                               on_component=self.on_component, on_query=self.on_query,
                               decode_components=[RACE, LIVE])
        SESSIONS.append(self.session)
        self.session.connect()
        return self.session

    # Called in the session's reader (greenlet) as messages arrive.
    def on_component(self, session: Session, widget, data, req) -> None:
        if not isinstance(data, dict):
            return
        if widget.component == RACE and data.get("scene"):
            self.race_scenes.append(data["scene"])
            self.steps = int(data.get("steps") or self.steps)
            REGISTRY.scene(data["scene"], self.name, self.pg_seed)
        elif widget.component == LIVE and data.get("race"):
            REGISTRY.live_race(data["race"], self.name)
            static = data.get("static")
            if data.get("full") and isinstance(static, dict) and "train" in static:
                digest = hashlib.sha1(json.dumps(static["train"], sort_keys=True).encode()).hexdigest()
                REGISTRY.training_data(digest, self.name, self.live_seed, self.live_seeds)
                self.live_copy = data["race"]
            elif data["race"] != self.live_copy:
                # The view holds no copy of this race (a page it was not on): like live_view.js, it asks for one.
                session.trigger_component(widget.key, "resync", {"race": data["race"], "seq": data.get("seq"),
                                                                 "why": "no copy"}, wait=False)
                self.live_copy = data["race"]

    def on_query(self, session: Session, query: str) -> None:
        seeds = parse_qs(query).get("pg_seed")
        if seeds:
            REGISTRY.url_seed(seeds[-1], self.name, self.pg_seed, self.pg_seeds)

    def expect_own_race(self, req: Request) -> None:
        """After a Playground change: the rerun drew a race, made for this session's seed."""
        if req.error:
            return
        # (A race made for another seed is reported by Registry.scene as it arrives.)
        REGISTRY.check(bool(self.race_scenes), f"{self.name}: {req.what} (seed {self.pg_seed}) drew no race",
                       "race drawn")


class StudentUser(User):
    """A student in the lecture hall: one browser tab on the Playground (see the module's doc)."""

    wait_time = between(1, 5)
    WEIGHTS = {"move_slider": 8, "play": 4, "convergence_map": 2, "live_training": 2}

    def on_start(self):
        self.number = next(_numbers)
        self.rng = random.Random(self.number)
        self.weights = {n: w for n, w in (CONFIG.get("weights") or self.WEIGHTS).items() if w > 0}
        names = list(self.weights)
        k = self.number % len(names)
        self.tour = names[k:] + names[:k] if CONFIG["tour"] else []
        self.tab = _Tab(self, f"student-{self.number}")
        self.tab.pg_seed = self.number * 1_000_000
        base = (self.number * LIVE_SEED_BLOCK) % LIVE_SEED_MAX
        self.live_seeds = itertools.cycle([1 + (base + k) % LIVE_SEED_MAX for k in range(LIVE_SEED_BLOCK)])
        self.open_playground("open /")

    def on_stop(self):
        if self.tab.session is not None:
            self.tab.session.close()

    # ---- helpers ------------------------------------------------------------------------------------
    def open_playground(self, what: str) -> bool:
        self.tab.new_pg_seed(self.tab.pg_seed + 1)
        self.tab.race_scenes = []
        try:
            session = self.tab.new_session()
        except Exception as exc:  # noqa: BLE001 - the server refused or is gone: a failed request
            report_failure(what, f"connect failed: {type(exc).__name__}: {exc}")
            return False
        req = session.open("", urlencode({"pg_noise": "0.1", "pg_seed": self.tab.pg_seed}), what=what)
        ok = report(req)
        if ok:
            self.tab.expect_own_race(req)
            ws = session.widgets()
            REGISTRY.widgets_playground = max(REGISTRY.widgets_playground, len(ws))
            REGISTRY.widget_kinds.update(w.kind for w in ws)
        return ok

    def on_playground(self) -> Session | None:
        """The session, on the Playground (reconnecting or going back there if needed)."""
        s = self.tab.session
        if s is None or s.closed:
            return self.tab.session if self.open_playground("reconnect /") else None
        if s.page_name() not in ("/", ""):
            self.tab.live_copy = None
            if not report(s.switch_page("", what="page: Playground")):
                return None
        return s

    def _do(self, what: str, fn, *, race: bool = False) -> Request | None:
        self.tab.race_scenes = []
        try:
            req = fn()
        except (ProtocolError, ValueError) as exc:
            report_failure(what, str(exc))
            return None
        if report(req, name=what) and race:
            self.tab.expect_own_race(req)
        return req

    # ---- tasks --------------------------------------------------------------------------------------
    @task
    def act(self):
        """The next action: first a tour of all four (in an order that depends on the student, so that a
        short run with a few students still sees each), then one chosen at random by :data:`WEIGHTS`."""
        if self.tour:
            name = self.tour.pop(0)
        else:
            names = list(self.weights)
            name = self.rng.choices(names, weights=[self.weights[n] for n in names])[0]
        getattr(self, name)()

    def move_slider(self):
        s = self.on_playground()
        if s is None:
            return
        r = self.rng.random()
        if r < 0.5:
            def seed():
                s.widget("pg_seed")  # on the page (else no new seed is taken)
                self.tab.new_pg_seed(self.tab.pg_seed + 1)
                return s.set("pg_seed", self.tab.pg_seed, what="slider: seed")
            self._do("slider: seed", seed, race=True)
        elif r < 0.75:
            def lr():
                w = s.widget("pg_r0_lr")
                cur = (s.value("pg_r0_lr") or w.initial or [w.options[0]])[0]
                i = w.options.index(cur) if cur in w.options else len(w.options) // 2
                j = min(max(i + self.rng.choice((-3, -2, -1, 1, 2, 3)), 0), len(w.options) - 1)
                return s.set("pg_r0_lr", w.options[j], what="slider: learning rate")
            self._do("slider: learning rate", lr, race=True)
        else:
            def noise():
                cur = (s.value("pg_noise") or ["0"])[0]
                return s.set("pg_noise", self.rng.choice([n for n in NOISES if n != cur]), what="slider: noise")
            self._do("slider: noise", noise, race=True)

    def play(self):
        s = self.on_playground()
        if s is None:
            return
        s.idle(self.rng.uniform(2, 6))  # the race plays in the browser: nothing is sent
        step = self.rng.randint(1, max(1, self.tab.steps))
        req = self._do("play: pause (race fragment)",
                       lambda: s.set_component_state("pg_map", "step", step, what="play: pause (race fragment)"))
        if req is not None and not req.error and s.has_widget("pg_step"):
            shown = s.value("pg_step")  # the inspector follows the step the map was paused at
            REGISTRY.check(bool(shown) and int(shown[0]) == step,
                           f"{self.tab.name} paused at step {step}, its inspector shows {shown}", "paused step")

    def convergence_map(self):
        s = self.on_playground()
        if s is None:
            return
        if self._do("tab: convergence map", lambda: s.set("pg_tab", CONV_TAB, what="tab: convergence map")) is None:
            return
        s.idle(self.rng.uniform(3, 8))
        if self.rng.random() < 0.5 and s.has_widget("pg_conv_n"):
            grid = self.rng.choice(["20 × 20", "40 × 40", "60 × 60"])
            self._do("slider: map grid", lambda: s.set("pg_conv_n", grid, what="slider: map grid"))
            s.idle(self.rng.uniform(2, 5))
        self._do("tab: theory", lambda: s.set("pg_tab", THEORY_TAB, what="tab: theory"))

    def live_training(self):
        s = self.on_playground()
        if s is None:
            return
        if self._do("page: Live Training", lambda: s.switch_page("live-training", what="page: Live Training")) is None:
            return
        seed = next(self.live_seeds)

        def set_seed():
            s.widget("lt_seed")  # on the page (else the server keeps the old seed)
            self.tab.live_seed = seed
            self.tab.live_seeds.add(seed)
            return s.set("lt_seed", seed, what="Live: seed")
        if self._do("Live: seed", set_seed) is None:
            return
        if self._do("Live: Start", lambda: s.click("lt_start", what="Live: Start")) is None:
            return
        s.idle(self.rng.uniform(3, 8))  # training: the fragment timer reruns the view
        self._do("Live: Pause", lambda: s.click("lt_pause", what="Live: Pause"))
        self.flush_auto(s)
        s.idle(self.rng.uniform(1, 3))
        self.tab.live_copy = None
        self._do("page: Playground", lambda: s.switch_page("", what="page: Playground"))

    def flush_auto(self, s: Session) -> None:
        done, s.auto_done = s.auto_done, []
        for req in done:
            report(req, kind="AUTO", name="Live: timer rerun")
        errors, s.errors = s.errors, []
        for e in errors:
            report_failure("unrequested run", e)


class HeavyUser(User):
    """One session running the heaviest job the app allows, without pause (:data:`HEAVY_KINDS`)."""

    fixed_count = 1
    wait_time = constant(0)
    abstract = os.environ.get("LOADTEST_HEAVY") != "1"  # python -m loadtest run --heavy enables it

    def on_start(self):
        go = CONFIG.get("heavy_go")
        if go is not None:
            go.wait()
        self.kind = CONFIG.get("heavy_kind") or "map"
        self.tab = _Tab(self, "heavy")
        self.lr_index = 0
        self.options: list[str] = []
        try:
            s = self.tab.new_session()
        except Exception as exc:  # noqa: BLE001
            report_failure("heavy: open", f"connect failed: {exc}", kind="HEAVY", user="heavy")
            return
        query = HEAVY_QUERY if self.kind == "map" else ""
        report(s.open("", query, what="heavy: open"), kind="HEAVY", user="heavy")
        if self.kind == "map":
            if s.has_widget("pg_conv_n") and s.value("pg_conv_n") != [HEAVY_GRID]:
                report_failure("heavy: open", f"the map grid is {s.value('pg_conv_n')}, not {HEAVY_GRID}",
                               kind="HEAVY", user="heavy")
            if s.has_widget("pg_r0_lr"):
                self.options = s.widget("pg_r0_lr").options

    def on_stop(self):
        if getattr(self, "tab", None) is not None and self.tab.session is not None:
            self.tab.session.close()

    @task
    def heavy_job(self):
        s = self.tab.session if getattr(self, "tab", None) else None
        if s is None or s.closed:
            time.sleep(1)
            return
        if self.kind == "map":
            self.map_job(s)
        else:
            self.export_job(s)

    def map_job(self, s: Session) -> None:
        if not self.options:
            time.sleep(1)
            return
        # A learning rate the map has not been computed for (the map cache keeps 16): always a new map.
        self.lr_index = (self.lr_index + 7) % len(self.options)
        name = f"heavy: {HEAVY_KINDS['map']}"
        try:
            req = s.set("pg_r0_lr", self.options[self.lr_index], what=name)
        except (ProtocolError, ValueError) as exc:
            report_failure(name, str(exc), kind="HEAVY", user="heavy")
            return
        report(req, kind="HEAVY", user="heavy")

    def export_job(self, s: Session) -> None:
        """Render the MP4 (Render button, the job's progress polled by its fragment's timer, Download), again."""
        name = f"heavy: {HEAVY_KINDS['export']}"
        t0 = time.perf_counter()
        try:
            for again in ("Render again", "Try again"):
                if s.has_widget(label=again):
                    report(s.click(label=again, what="heavy: render again"), kind="HEAVY", user="heavy")
            if not report(s.click(label=f"Render {EXPORT}", what="heavy: start the MP4"), kind="HEAVY", user="heavy"):
                time.sleep(1)
                return
            deadline = time.monotonic() + 300
            while not (s.has_widget(label="Render again") or s.has_widget(label="Try again")):
                if s.closed or time.monotonic() > deadline:
                    raise ProtocolError("the MP4 did not finish within 300 s" if not s.closed else s.close_reason)
                s.idle(0.25)  # the job's fragment timer polls it meanwhile
        except (ProtocolError, ValueError) as exc:
            report_failure(name, str(exc), kind="HEAVY", user="heavy")
            return
        ok = s.has_widget(label=f"Download {EXPORT}")
        events.request.fire(request_type="HEAVY", name=name, response_time=(time.perf_counter() - t0) * 1e3,
                            response_length=0, context={"user": "heavy"},
                            exception=None if ok else ProtocolError("the MP4 could not be made"))
        s.auto_done.clear()  # the progress polls: not what is measured here
