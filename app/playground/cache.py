"""The Playground's cached work: the race, the landscape and the three analyses.

Each result is cached by Streamlit (``st.cache_data``) under one key, :func:`cache_key`: the
text of the scene's surface and of the inputs the result depends on. Surfaces and engine
specs are passed beside the key (underscored: not hashed); nothing mutable is shared
between users. This is the feature's only module besides the page that imports streamlit.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from app.playground import analyses as A
from app.playground import figures as F
from app.playground.race import Result, compute
from app.playground.scene import Scene
from app.playground.theory import StabilityLesson

__all__ = ["cache_key", "race", "landscape", "convergence_map", "sensitivity_map", "stability_sweep"]


def cache_key(scene: Scene, *inputs) -> str:
    """What a cached result depends on, as text: the scene's surface, then ``inputs`` (the whole
    scene among them for the race)."""
    return repr((scene.surface_id, *inputs))


def race(scene: Scene) -> Result:
    """:func:`app.playground.race.compute` of ``scene``, without its surface (rebuild it with
    :func:`app.playground.scene.make_surface`: a custom surface holds compiled formulas)."""
    return _race(cache_key(scene, scene), scene)


@st.cache_data(max_entries=48, show_spinner=False)
def _race(key: str, _scene: Scene) -> Result:
    return replace(compute(_scene), surface=None)


def landscape(scene: Scene, surface) -> F.Landscape:
    return _landscape(cache_key(scene), surface)


@st.cache_data(max_entries=48, show_spinner=False)
def _landscape(key: str, _surface) -> F.Landscape:
    return F.landscape(_surface)


def convergence_map(scene: Scene, surface, spec, n: int, steps: int):
    return _convergence_map(cache_key(scene, spec, n, steps), surface, spec, n, steps)


@st.cache_data(max_entries=16, show_spinner="Running the optimizer from every start point…")
def _convergence_map(key: str, _surface, _spec, n: int, steps: int):
    return A.run_convergence_map(_surface, _spec, n, steps)


def sensitivity_map(scene: Scene, surface, s: A.Sensitivity):
    return _sensitivity_map(cache_key(scene, *s.key()), surface, s)


@st.cache_data(max_entries=16, show_spinner="Sweeping two hyperparameters…")
def _sensitivity_map(key: str, _surface, _s: A.Sensitivity):
    return A.run_sensitivity_map(_surface, _s)


def stability_sweep(scene: Scene, surface, lesson: StabilityLesson):
    """Final losses and divergence of gradient descent and heavy ball over the lesson's lrs."""
    return _stability_sweep(cache_key(scene, lesson.beta, lesson.start, lesson.steps), surface, lesson)


@st.cache_data(max_entries=16, show_spinner=False)
def _stability_sweep(key: str, _surface, _lesson: StabilityLesson):
    return A.stability_sweep(_surface, _lesson.lrs, _lesson.beta, _lesson.start, _lesson.steps)
