"""Parameter groups for a Live Training run: an lr per layer, and weight decay where it belongs.

torch.optim and optim_core's optimizers take their parameters the same way: a list of tensors, or a
list of dicts ``{"params": [...], "lr": ..., "weight_decay": ...}`` whose keys override the
constructor's (``optim_core.optimizer.Optimizer.__init__`` mirrors ``torch.optim.Optimizer``). So one
plan, :func:`plan`, turns a :class:`GroupSpec` into the same groups for both backends
(:func:`param_groups`) and for the generated script (:func:`group_literals`).

Three choices, as in the course's section on per-parameter groups:

- ``layerwise``: layer-wise lr decay. The last layer (the head) trains at ``lr``, the one before at
  ``lr·decay``, then ``lr·decay²``, ...: ``lr·decay^depth`` with ``depth`` the layer's distance from the
  head. The course's ``get_layer_wise_lr_groups`` counts depth in parameter *tensors*; here a layer's
  weight matrix and its bias share their layer's depth, as fine-tuning recipes do.
- ``head``: a backbone / head split. The head (the last layer) trains at ``lr``, every earlier layer at
  ``lr·backbone`` (the course's fine-tuning recipe: a pretrained backbone moves slowly, a new head fast).
- ``one``: one lr for every layer.

and, with any of them, ``no_decay_bias``: biases get ``weight_decay = 0`` (decaying a bias toward 0
regularizes nothing: it does not scale with the input).

Pure Python and NumPy: no torch, no streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

__all__ = ["MODES", "DECAYS", "BACKBONE_MULTS", "GroupSpec", "Group", "layer_of", "plan", "param_groups",
           "group_literals", "table", "caption", "mlp_names", "offers", "controls"]

MODES = {"one": "one lr for all layers", "layerwise": "layer-wise lr decay", "head": "backbone / head"}
DECAYS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95)  # the page's layer-wise decay factors
BACKBONE_MULTS = (0.001, 0.01, 0.03, 0.1, 0.3, 0.5)  # the page's backbone lr multipliers


@dataclass(frozen=True)
class GroupSpec:
    """How a run splits its parameters into groups (see the module docstring)."""

    mode: str = "one"
    decay: float = 0.5  # layerwise: lr · decay^depth
    backbone: float = 0.1  # head: the backbone's lr is lr · backbone
    no_decay_bias: bool = False

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"parameter groups: mode must be one of {list(MODES)}, got {self.mode!r}")
        for name, v in (("decay factor", self.decay), ("backbone multiplier", self.backbone)):
            if not (isinstance(v, (int, float)) and 0 < v <= 1):
                raise ValueError(f"parameter groups: the {name} must be in (0, 1], got {v!r}")

    @property
    def trivial(self) -> bool:
        """One group with the optimizer's own settings: nothing to build."""
        return self.mode == "one" and not self.no_decay_bias

    @property
    def scales_lr(self) -> bool:
        return self.mode != "one"


@dataclass(frozen=True)
class Group:
    """One parameter group: its name, its tensors (indices into the model's parameters, and names), the
    factor on the run's lr, and whether weight decay applies."""

    name: str
    indices: tuple[int, ...]
    tensors: tuple[str, ...]
    lr_scale: float
    decays: bool


def layer_of(names: Sequence[str]) -> list[int]:
    """The layer (0 = first Linear) of each parameter of a ``torch.nn.Sequential`` MLP, from its name
    (``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ...: the module's index, then the tensor)."""
    modules = [int(n.split(".", 1)[0]) for n in names]
    order = {m: k for k, m in enumerate(sorted(set(modules)))}
    return [order[m] for m in modules]


def plan(names: Sequence[str], spec: GroupSpec | None) -> list[Group]:
    """The groups of a model whose parameters are ``names`` (in ``model.parameters()`` order), in the
    model's order; empty groups are left out."""
    spec = spec or GroupSpec()
    layers = layer_of(names)
    last = max(layers)
    bias = [n.endswith("bias") for n in names]

    def block(key: Any) -> tuple[str, float]:
        if spec.mode == "layerwise":
            depth = last - key
            return f"layer {key + 1}" + (" (head)" if depth == 0 else ""), spec.decay ** depth
        if spec.mode == "head":
            return ("head" if key == last else "backbone"), (1.0 if key == last else spec.backbone)
        return "all layers", 1.0

    keys = (layers if spec.mode == "layerwise" else
            [int(layer == last) * last for layer in layers] if spec.mode == "head" else [0] * len(names))
    groups: list[Group] = []
    for key in sorted(set(keys)):
        name, scale = block(key)
        parts = ((" weights", False), (" biases", True)) if spec.no_decay_bias else (("", None),)
        for suffix, is_bias in parts:
            idx = tuple(j for j, k in enumerate(keys) if k == key and (is_bias is None or bias[j] == is_bias))
            if idx:
                groups.append(Group(name + suffix, idx, tuple(names[j] for j in idx), scale, is_bias is not True))
    return groups


def _group_dict(g: Group, base_lr: float | None, params: list) -> dict:
    d: dict[str, Any] = {"params": params}
    if g.lr_scale != 1.0 or base_lr is not None:
        if base_lr is None:
            raise ValueError("parameter groups: this optimizer has no learning rate to scale per layer "
                             "(set an lr, or choose one lr for all layers)")
        d["lr"] = base_lr * g.lr_scale
    if not g.decays:
        d["weight_decay"] = 0.0
    return d


def param_groups(params: Sequence, names: Sequence[str], spec: GroupSpec | None,
                 kwargs: Mapping[str, Any]) -> list:
    """What to hand the optimizer's constructor: ``params`` itself when ``spec`` is trivial, else one
    dict per group with its ``lr`` (``kwargs["lr"]`` times its factor) and, for a group of biases under
    ``no_decay_bias``, ``weight_decay = 0``. ``params`` are torch tensors or optim_core Parameters."""
    if spec is None or spec.trivial:
        return list(params)
    base_lr = kwargs.get("lr")
    if spec.no_decay_bias and "weight_decay" not in kwargs:
        raise ValueError("parameter groups: this optimizer has no weight decay to leave off the biases")
    return [_group_dict(g, None if base_lr is None else float(base_lr), [params[j] for j in g.indices])
            for g in plan(names, spec)]


def group_literals(names: Sequence[str], spec: GroupSpec | None, kwargs: Mapping[str, Any]) -> list[str] | None:
    """The groups as Python source over a list ``params`` (the generated script's), one line each, with
    the same numbers as :func:`param_groups` (``repr`` of the same floats); None when ``spec`` is trivial."""
    if spec is None or spec.trivial:
        return None
    base_lr = kwargs.get("lr")
    lines = []
    for g in plan(names, spec):
        d = _group_dict(g, None if base_lr is None else float(base_lr), [])
        keys = "".join(f", {k!r}: {v!r}" for k, v in d.items() if k != "params")
        refs = ", ".join(f"params[{j}]" for j in g.indices)
        lines.append(f"{{'params': [{refs}]{keys}}},  # {g.name}: {', '.join(g.tensors)}")
    return lines


def table(names: Sequence[str], spec: GroupSpec | None, kwargs: Mapping[str, Any]) -> list[dict[str, str]]:
    """The page's table, one row per layer (its weight matrix and its bias), as text: the layer (the last is
    the head), its lr (the run's lr times the layer's factor, the factor shown when it is not 1), and the
    weight decay on its weights and on its bias. The optimizer's groups themselves: :func:`caption`."""
    from app.ui.controls import fmt

    base_lr = kwargs.get("lr")
    wd = kwargs.get("weight_decay")
    group_of = {j: g for g in plan(names, spec) for j in g.indices}
    layers = layer_of(names)
    last = max(layers)

    def decay(indices: list[int]) -> str:
        if wd is None or not indices:
            return "—"
        return fmt(float(wd) if group_of[indices[0]].decays else 0.0, 3)

    rows = []
    for k in sorted(set(layers)):
        idx = [j for j, layer in enumerate(layers) if layer == k]
        scale = group_of[idx[0]].lr_scale  # a layer's weights and bias are always at the same lr
        lr = "auto" if base_lr is None else fmt(float(base_lr) * scale, 3)
        weights = [j for j in idx if not names[j].endswith("bias")]
        biases = [j for j in idx if names[j].endswith("bias")]
        rows.append({"layer": f"{k + 1}" + (" (head)" if k == last else ""),
                     "lr": lr if scale == 1.0 else f"{lr} (×{fmt(scale, 3)})",
                     "weight decay (W / b)": f"{decay(weights)} / {decay(biases)}"})
    return rows


def caption(names: Sequence[str], spec: GroupSpec | None) -> str:
    """What the optimizer's ``param_groups`` really are, as a sentence under the table."""
    groups = plan(names, spec)
    split = bool(spec and spec.no_decay_bias)
    if spec is not None and spec.mode == "layerwise":
        which = "one for each layer's weights and one for its bias" if split else "one per layer"
    else:
        which = ", ".join(g.name for g in groups)
    why = (" Weights and biases are separate groups: a group has one weight decay, and the biases' is 0."
           if split else "")
    return f"The optimizer's param_groups: {len(groups)} ({which}).{why}"


def mlp_names(n_layers: int) -> list[str]:
    """The parameter names of :func:`app.training.backend.build_mlp`'s network with ``n_layers`` Linear
    layers (an activation between two: modules 0, 2, 4, ...), without building it."""
    return [f"{2 * k}.{t}" for k in range(n_layers) for t in ("weight", "bias")]


# -- the page's controls (streamlit, imported when drawn) ---------------------------------------------------
def _keys(i: int) -> dict[str, str]:
    """Run ``i``'s control keys: the mode, the decay factor, the backbone multiplier, the biases' toggle."""
    return {k: f"lt_run{i}_{k}" for k in ("groups", "decay", "backbone", "nowd_bias")}


def one_group_values(i: int) -> dict[str, Any]:
    """Run ``i``'s parameter-group controls at their first values: one group (what a preset that says nothing
    about groups puts on the page)."""
    key, first = _keys(i), GroupSpec()
    return {key["groups"]: first.mode, key["decay"]: first.decay, key["backbone"]: first.backbone,
            key["nowd_bias"]: first.no_decay_bias}


def offers(i: int) -> dict[str, Any]:
    """Run ``i``'s parameter-group controls → what each can show (a rule of
    :func:`app.training.checkpoint.page_values`: the options, or ``bool`` for a toggle)."""
    key = _keys(i)
    return {key["groups"]: tuple(MODES), key["decay"]: DECAYS, key["backbone"]: BACKBONE_MULTS,
            key["nowd_bias"]: bool}


def controls(i: int, hypers: Mapping[str, Any], n_layers: int, seed) -> GroupSpec | None:
    """Run ``i``'s parameter-group controls and its groups table; returns its spec (None: one group).
    ``seed``: the page's :meth:`app.ui.widgets.Remembered.seed`."""
    import streamlit as st

    from app.ui.controls import fmt

    key = _keys(i)
    first = GroupSpec()
    mode = st.selectbox("Learning rate per layer", list(MODES), format_func=MODES.get,
                        key=seed(key["groups"], first.mode),
                        help="Layer-wise decay: the last layer (the head) at the lr above, each earlier layer at "
                             "decay× the next one's. Backbone / head: every layer but the last at lr × the "
                             "multiplier. Each group keeps its own lr under a schedule, as in torch.")
    decay, backbone = first.decay, first.backbone
    if mode == "layerwise":
        decay = float(st.select_slider("Decay per layer (toward the input)", DECAYS, format_func=fmt,
                                       key=seed(key["decay"], first.decay)))
    elif mode == "head":
        backbone = float(st.select_slider("Backbone lr multiplier", BACKBONE_MULTS, format_func=fmt,
                                          key=seed(key["backbone"], first.backbone)))
    has_wd = "weight_decay" in hypers
    no_decay_bias = st.toggle("No weight decay on biases", key=seed(key["nowd_bias"], False), disabled=not has_wd,
                              help="Biases get weight_decay = 0: shrinking a bias toward 0 regularizes nothing.")
    spec = GroupSpec(mode, decay, backbone, bool(no_decay_bias and has_wd))
    if spec.trivial:
        st.caption("One group: every tensor at the run's lr and weight decay.")
        return None
    names = mlp_names(n_layers)
    rows = table(names, spec, hypers)
    # A grid, not a markdown table: in a run's narrow column (four runs) it scrolls instead of spilling over.
    st.dataframe(rows, hide_index=True, width="stretch", key=f"lt_run{i}_groups_table",
                 height=35 * (len(rows) + 1) + 3)
    st.caption(caption(names, spec))
    return spec
