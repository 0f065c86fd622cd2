"""Lesson links: which of the Playground's controls a link shows, and which of those it fixes.

A teacher chooses, from any scene, the controls students see (``pg_show``) and, among them, the
ones they see but cannot change (``pg_fix``); every other control is hidden and keeps the link's
value. TensorFlow Playground's tailored links are the model. A guided lesson
(:mod:`app.playground.lessons`, ``pg_guide`` and ``pg_gstep`` in the URL) shows the controls its
step names. Nothing here imports streamlit.

The control names are the Playground's vocabulary: the scene's settings (:data:`SCENE_CONTROLS`),
each run's settings (:data:`RUN_CONTROLS`), every hyperparameter by its registry name ("lr",
"momentum", ...: one name covers that hyperparameter in every run), and parts of the page
(:data:`PARTS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from app.playground.scene import Scene, shown_hypers
from optim_core import registry

__all__ = ["SHOW_PARAM", "FIX_PARAM", "GUIDE_PARAM", "GUIDE_STEP_PARAM", "PARAMS", "SCENE_CONTROLS", "RUN_CONTROLS",
           "PARTS", "Tailoring", "EVERYTHING", "choices", "label", "from_url", "guide_from_url", "Guide"]

SHOW_PARAM = "pg_show"
FIX_PARAM = "pg_fix"
GUIDE_PARAM = "pg_guide"
GUIDE_STEP_PARAM = "pg_gstep"
PARAMS = (SHOW_PARAM, FIX_PARAM, GUIDE_PARAM, GUIDE_STEP_PARAM)

SCENE_CONTROLS = {
    "surface": "loss surface",
    "start": "start point",
    "steps": "steps",
    "noise": "gradient noise σ",
    "batch": "mini-batch size",
    "seed": "seed",
    "precision": "precision (float64 … bfloat16)",
    "runs": "number of runs",
    "view": "2D / 3D view",
}
RUN_CONTROLS = {
    "optimizer": "optimizer",
    "schedule": "lr schedule",
    "clip": "gradient clipping",
    "lookahead": "Lookahead",
    "color": "run colors",
    "remedy": "low-precision remedy",
}
PARTS = {
    "gallery": "gallery and guided lessons",
    "inspector": "step inspector",
    "analyses": "theory and maps",
    "exports": "exports",
}


def _hyper_names(scene: Scene | None) -> dict[str, str]:
    """Every hyperparameter the scene's runs show (all optimizers' when no scene), in registry order."""
    optimizers = [r.optimizer for r in scene.runs] if scene is not None else list(registry.optimizers())
    out: dict[str, str] = {}
    for opt in optimizers:
        if opt in registry.optimizers():
            for h in shown_hypers(opt):
                out.setdefault(h.name, h.display)
    return out


def choices(scene: Scene | None = None) -> dict[str, str]:
    """The controls a link can show or fix (name -> what the teacher reads), for ``scene``."""
    return {**SCENE_CONTROLS, **RUN_CONTROLS, **_hyper_names(scene), **PARTS}


def label(name: str) -> str:
    return choices().get(name, name)


def _names(value: Any) -> tuple[str, ...]:
    """A URL's comma-separated list, each name kept once, unknown names dropped."""
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str):
        return ()
    known = choices()
    out: list[str] = []
    for part in value.split(","):
        name = part.strip()
        if name in known and name not in out:
            out.append(name)
    return tuple(out)


@dataclass(frozen=True)
class Tailoring:
    """What the page shows. ``show`` None: everything, editable (the page as usual)."""

    show: tuple[str, ...] | None = None
    fix: tuple[str, ...] = ()

    @property
    def tailored(self) -> bool:
        return self.show is not None

    def mode(self, name: str) -> str:
        """"edit", "fixed" or "hidden" for control ``name``."""
        if self.show is None:
            return "edit"
        if name not in self.show:
            return "hidden"
        return "fixed" if name in self.fix else "edit"

    def shows(self, name: str) -> bool:
        return self.mode(name) != "hidden"

    def params(self) -> dict[str, str]:
        """The URL's parameters for this tailoring (none for the usual page)."""
        if self.show is None:
            return {}
        out = {SHOW_PARAM: ",".join(self.show)}
        fixed = [n for n in self.fix if n in self.show]
        if fixed:
            out[FIX_PARAM] = ",".join(fixed)
        return out


EVERYTHING = Tailoring()


def from_url(url: Mapping[str, Any]) -> Tailoring:
    """The tailoring a link asks for (``pg_show``; ``pg_fix`` only counts with it)."""
    if SHOW_PARAM not in url:
        return EVERYTHING
    show = _names(url.get(SHOW_PARAM))
    fix = tuple(n for n in _names(url.get(FIX_PARAM)) if n in show)
    return Tailoring(show, fix)


@dataclass(frozen=True)
class Guide:
    """A guided lesson being followed: its key and the step shown (0-based)."""

    lesson: str
    step: int

    def params(self) -> dict[str, str]:
        return {GUIDE_PARAM: self.lesson, GUIDE_STEP_PARAM: str(self.step + 1)}


def guide_from_url(url: Mapping[str, Any], lessons: Mapping[str, Any]) -> Guide | None:
    """The guided lesson a link opens (``pg_guide``, ``pg_gstep`` counted from 1; a step out of range
    is moved onto the lesson), or None."""
    key = url.get(GUIDE_PARAM)
    if isinstance(key, (list, tuple)):
        key = key[-1] if key else None
    if not isinstance(key, str) or key not in lessons:
        return None
    raw = url.get(GUIDE_STEP_PARAM, "1")
    if isinstance(raw, (list, tuple)):
        raw = raw[-1] if raw else "1"
    try:
        step = int(float(str(raw))) - 1
    except (TypeError, ValueError):
        step = 0
    n = len(lessons[key].steps)
    return Guide(key, min(max(step, 0), n - 1))
