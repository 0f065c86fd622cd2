"""The isolation checks: what each simulated session was sent, by the seed it was made for.

Every student has seeds of its own (:mod:`loadtest.locustfile`). The server's answers carry
fingerprints of what they were computed from: the race view's ``scene`` (a hash of the whole scene,
seed included), Live Training's training points and its race id. :class:`Registry` remembers, for
each fingerprint, the seed (or the session) it first came with; the same fingerprint arriving with
another seed, or a live race arriving at a second session, is a violation: one session was shown
another's state. (A late answer to a session's own earlier change is not: under load a run can
finish after the next change was sent.) No Locust here: the load test passes ``on_violation`` to report to Locust.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Iterable

__all__ = ["Registry"]


class Registry:
    """Fingerprints of what each session was sent (one process; Locust's greenlets need no lock)."""

    def __init__(self, on_violation: Callable[[str], None] | None = None):
        self.on_violation = on_violation
        self.scenes: dict[str, tuple[str, int]] = {}  # race scene id -> (session, Playground seed)
        self.data: dict[str, int] = {}  # training points digest -> Live Training seed
        self.live_races: dict[str, str] = {}  # live race id -> session
        self.checks = 0
        self.by_kind: Counter = Counter()  # checks by what they compared
        self.violations: list[str] = []
        self.stale = 0  # URLs naming an earlier seed of the same session (late answers under load)
        self.widgets_playground = 0
        self.widget_kinds: set[str] = set()

    def violation(self, what: str) -> None:
        self.violations.append(what)
        if self.on_violation is not None:
            self.on_violation(what)

    def check(self, ok: bool, what: str, kind: str = "other") -> bool:
        """Count one check of ``kind``; a violation described by ``what`` unless ``ok``."""
        self.checks += 1
        self.by_kind[kind] += 1
        if not ok:
            self.violation(what)
        return ok

    def scene(self, scene_id: str, session: str, seed: int) -> bool:
        """A race view for ``scene_id`` arrived at ``session`` (its Playground seed now: ``seed``). Playground
        seeds are unique per session, so a scene belongs to the session that first received it."""
        owner = self.scenes.setdefault(scene_id, (session, seed))
        return self.check(owner[0] == session, f"{session} (seed {seed}) received race scene {scene_id} made for "
                                               f"{owner[0]} (seed {owner[1]})", "race scene")

    def training_data(self, digest: str, session: str, seed: int, own: Iterable[int] = ()) -> bool:
        """Live Training's points with fingerprint ``digest`` arrived at ``session`` (its seed now: ``seed``;
        ``own``: every seed it has used, whose data may still arrive late). Data is made for one seed."""
        made_for = self.data.setdefault(digest, seed)
        return self.check(made_for == seed or made_for in set(own),
                          f"{session} (Live Training seed {seed}) received training data made for seed {made_for}",
                          "training data")

    def url_seed(self, seed: str, session: str, current: int, own: Iterable[int]) -> bool:
        """The server set ``session``'s URL to Playground seed ``seed``: its current one, or at least one of its
        own (a late answer to an earlier change, counted in ``stale``)."""
        ok = seed in {str(s) for s in own} | {str(current)}
        if ok and seed != str(current):
            self.stale += 1
        return self.check(ok, f"{session} (seed {current}) was given the URL of seed {seed}, not one of its own",
                          "URL seed")

    def live_race(self, race_id: str, session: str) -> bool:
        """Live Training's race ``race_id`` arrived at ``session``: each race belongs to one session."""
        owner = self.live_races.setdefault(race_id, session)
        return self.check(owner == session, f"{session} received Live Training race {race_id} of {owner}",
                          "live race")
