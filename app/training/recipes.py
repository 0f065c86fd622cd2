"""The course's training recipes as one-click presets for a Live Training run.

Each :class:`Recipe` names an optimizer with its hyperparameters, an lr schedule, gradient clipping
and parameter groups, and says in one sentence why the recipe is used where it comes from, and what
it is here: our network is a small MLP on 2D points, not a CNN, a transformer, a GAN or an RNN, so
every recipe is an analogy of its original, with a learning rate that trains this network within
seconds (the original's is named beside it).

:func:`widget_values` turns a recipe into the values of run ``i``'s widgets on the Live Training
page (their session-state keys), which the page sets in a button's callback, before the widgets are
drawn (:func:`app.ui.widgets.set_values`), so the controls show the recipe and can be changed from
there. Pure: no streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from app.training.groups import GroupSpec

__all__ = ["Recipe", "RECIPES", "SCHEDULE_STEPS", "widget_values", "matches", "picker"]

SCHEDULE_STEPS = 1000  # every recipe's schedule spans this many steps (the page's default length)


@dataclass(frozen=True)
class Recipe:
    key: str
    label: str
    optimizer: str
    hypers: Mapping[str, Any]
    why: str
    schedule: str | None = None
    schedule_params: Mapping[str, Any] = field(default_factory=dict)
    clip_norm: float | None = None
    groups: GroupSpec = GroupSpec()


RECIPES: dict[str, Recipe] = {r.key: r for r in (
    Recipe(
        "cnn", "CNN: SGD + momentum + cosine", "SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
        "ResNets are trained from scratch with SGD, momentum 0.9 and a cosine decay of lr 0.1 because, given "
        "the epochs, it tends to generalize a little better than Adam; here it is the same recipe on an MLP, "
        "where no convolution is involved.",
        schedule="CosineAnnealingLR", schedule_params={"T_max": SCHEDULE_STEPS, "eta_min": 0.0}),
    Recipe(
        "transformer", "Transformer: AdamW + 10% warm-up + cosine", "AdamW", {"lr": 0.01, "weight_decay": 0.01},
        "Transformers are trained with AdamW warmed up linearly over the first 10% of steps (early on, Adam's "
        "second-moment estimates rest on few gradients and its steps can be too large) and then decayed along "
        "a cosine; our MLP is no transformer, so this shows the schedule's shape, at lr 0.01 rather than 5e-4.",
        schedule="WarmupCosine",
        schedule_params={"warmup_steps": SCHEDULE_STEPS // 10, "total_steps": SCHEDULE_STEPS, "min_lr_ratio": 0.0,
                         "num_cycles": 0.5}),
    Recipe(
        "gan", "GAN: Adam with β₁ = 0.5", "Adam", {"lr": 0.002, "beta1": 0.5, "beta2": 0.999},
        "DCGAN's Adam uses β₁ = 0.5 instead of 0.9 because a generator and a discriminator chase each other "
        "and a long momentum keeps pushing along a direction that is already stale; with one network and a "
        "fixed loss, as here, there is no opponent, so expect only a slightly noisier Adam (lr 0.002 here, "
        "2e-4 in DCGAN)."),
    Recipe(
        "rnn", "RNN: Adam + gradient clipping (1.0)", "Adam", {"lr": 0.01},
        "RNNs unrolled over long sequences can multiply their gradient by the same matrix hundreds of times, "
        "so it occasionally explodes, and clipping its norm to 1.0 caps each step; our network is feed-forward "
        "and shallow, so the clip mostly acts in the first steps (watch the dotted gradient norm).",
        clip_norm=1.0),
)}


def widget_values(i: int, recipe: Recipe, starts: Mapping[str, Any]) -> dict[str, Any]:
    """The session-state values of run ``i``'s Live Training widgets that set up ``recipe``.

    ``starts``: the optimizer's hyperparameters as the page would start them (its registry defaults and
    the page's own starting values), under the recipe's own: a hyperparameter the recipe does not name
    goes back to where the page starts it, so a preset is the same whatever was set before.
    """
    pre = f"lt_run{i}"
    values: dict[str, Any] = {f"{pre}_opt": recipe.optimizer}
    hypers = {**starts, **recipe.hypers}
    for name, value in hypers.items():
        values[f"{pre}_{recipe.optimizer}_{name}"] = value
    from app.ui.controls import NO_SCHEDULE

    values[f"{pre}_sched"] = recipe.schedule or NO_SCHEDULE
    if recipe.schedule:
        values[f"{pre}_sched_steps"] = SCHEDULE_STEPS
        for name, value in recipe.schedule_params.items():
            values[f"{pre}_sched_{recipe.schedule}_{name}"] = value
    values[f"{pre}_clip_on"] = recipe.clip_norm is not None
    if recipe.clip_norm is not None:
        values[f"{pre}_clip"] = recipe.clip_norm
    values[f"{pre}_accum"] = 1
    g = recipe.groups
    values.update({f"{pre}_groups": g.mode, f"{pre}_decay": g.decay, f"{pre}_backbone": g.backbone,
                   f"{pre}_nowd_bias": g.no_decay_bias})
    return values


def matches(values: Mapping[str, Any], state: Mapping[str, Any]) -> bool:
    """Whether the widgets in ``state`` still hold a recipe's ``values`` (those drawn: the others are not kept)."""
    return all(state[k] == v for k, v in values.items() if k in state)


# -- the page's picker (streamlit, imported when drawn) --------------------------------------------------------
def picker(i: int, starts_for) -> None:
    """Run ``i``'s "Recipe" menu (one button per recipe) and, while its controls still hold the recipe last
    applied, the recipe's sentence. ``starts_for(optimizer)``: the page's starting hyperparameters."""
    import streamlit as st

    from app.ui.widgets import set_values

    ss = st.session_state
    mark = f"_lt_run{i}_recipe"

    def apply(key: str) -> None:
        set_values(widget_values(i, RECIPES[key], starts_for(RECIPES[key].optimizer)))
        ss[mark] = key

    with st.popover("Recipes", width="stretch", help="The course's recipes as one-click presets for this run."):
        for r in RECIPES.values():
            st.button(r.label, key=f"lt_run{i}_recipe_{r.key}", on_click=apply, args=(r.key,), width="stretch")
    key = ss.get(mark)
    if key in RECIPES:
        r = RECIPES[key]
        if matches(widget_values(i, r, starts_for(r.optimizer)), ss):
            st.caption(f"**{r.label}.** {r.why}")
        else:
            ss.pop(mark, None)
