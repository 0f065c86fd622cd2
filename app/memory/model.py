"""The memory calculator: how many bytes training a model of N parameters keeps, per optimizer.

Three parts are counted, in the chosen dtype: the parameters, their gradients (one per
parameter, alive from the backward pass to the step) and the optimizer state, taken from
each registry entry's ``state_bytes``. Activations, the framework and mixed-precision
master copies are left out, as in the course's back-of-the-envelope question.

Units: GB are decimal gigabytes (10⁹ bytes), the unit of the course's answer (10B float32
parameters = 40 GB). Divide by ``GIB / GB`` (1.074) for GiB (2³⁰ bytes).

The shape assumption: ``state_bytes`` takes one tensor's shape, and only some optimizers
care about it (Adafactor keeps n + m numbers for an n × m matrix; Adam8bit one scale per
block). A model is treated as made of square ``side × side`` matrices: the state per
parameter of one such matrix, times the number of parameters. ``side`` is about the
model's hidden size (768 for BERT-base, 4096 for LLaMA-7B); biases and norms, a tiny
fraction of a large model, are ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from app.training.backend import ModelSpec
from app.ui.controls import fmt
from app import budget

__all__ = [
    "GB",
    "GIB",
    "DTYPES",
    "dtype_sizes_text",
    "ModelPreset",
    "PRESETS",
    "OptimizerVariant",
    "optimizer_variants",
    "memory_row",
    "memory_table",
    "course_sentence",
    "format_count",
    "format_gb",
    "MAX_PARAMS",
    "MAX_SIDE",
    "count_problem",
    "side_problem",
]

GB = 1e9  # decimal gigabyte: the unit every number on the page uses
GIB = 2**30
DTYPES = {"float32": 4, "bfloat16": 2, "float16": 2, "float64": 8}
DEFAULT_SIDE = 4096
# The largest model the page answers for: 10¹⁵ parameters (4 PB in float32), 5,000 times GPT-3 and
# hundreds of times the largest models trained. Past it the answer is no longer a model's, and a
# float soon overflows to inf ("1e300 billion parameters" printed "inf GB").
MAX_PARAMS = budget.MEMORY_MAX_PARAMS
MAX_PARAMS_TEXT = "10¹⁵ (a million billion)"
MAX_SIDE = 1_000_000  # a matrix side (hidden size) past any model's


def dtype_sizes_text() -> str:
    """The bytes of each dtype, smallest first: ``"bfloat16/float16: 2 bytes, float32: 4, float64: 8"``."""
    sizes = sorted(set(DTYPES.values()))
    parts = ["/".join(d for d, b in DTYPES.items() if b == size) + f": {size}" for size in sizes]
    return parts[0] + " bytes" + "".join(", " + p for p in parts[1:])


@dataclass(frozen=True)
class ModelPreset:
    """A familiar model size the page offers. (Not the Playground's gallery presets.)"""

    label: str
    n_params: float
    side: int
    dtype: str = "float32"
    note: str = ""


_MLP = ModelSpec()  # Live Training's default network
PRESETS: dict[str, ModelPreset] = {
    p.label: p
    for p in (
        ModelPreset(f"Live Training MLP ({_MLP.n_params:,})", _MLP.n_params, _MLP.width,
                    note=f"The {_MLP.sizes_text} network of the Live Training page."),
        ModelPreset("ResNet-50 (25.6M)", 25.6e6, 512, note="Convolution kernels counted as 512-wide matrices."),
        ModelPreset("BERT-base (110M)", 110e6, 768),
        ModelPreset("GPT-2 XL (1.5B)", 1.5e9, 1600),
        ModelPreset("LLaMA-7B (6.7B)", 6.74e9, 4096),
        ModelPreset("Course example (10B, float32)", 10e9, 4096,
                    note="The course's question: 10B float32 parameters."),
        ModelPreset("GPT-3 (175B)", 175e9, 12288),
    )
}
DEFAULT_PRESET = "Course example (10B, float32)"


@dataclass(frozen=True)
class OptimizerVariant:
    """One row of the table: a registry optimizer with some hyperparameters set."""

    label: str
    name: str
    hypers: Mapping[str, Any]


def _info(name: str):
    from optim_core import registry

    return registry.get_optimizer(name)


def _state_per_param(info, itemsize: int, side: int, hypers: Mapping[str, Any]) -> float:
    shape = (int(side), int(side))
    return info.state_bytes(shape, itemsize, **{**info.defaults(), **hypers}) / math.prod(shape)


def count_problem(n_params: Any) -> str | None:
    """Why ``n_params`` cannot be answered, as the page shows it (None: it can). ``memory_row`` raises a
    ValueError with the same message."""
    if isinstance(n_params, bool) or not isinstance(n_params, (int, float)):
        return f"The number of parameters must be a number, got {n_params!r}."
    n = float(n_params)
    if math.isnan(n) or n < 0:
        return "The number of parameters must be a number ≥ 0."
    if n > MAX_PARAMS:
        got = f"{format_count(n)} is" if math.isfinite(n) else "that is"
        return (f"At most {MAX_PARAMS_TEXT} parameters, please: {got} more than any model has "
                f"(GPT-3 has 175B; 10¹⁵ float32 parameters would already take "
                f"{format_gb(MAX_PARAMS * DTYPES['float32'])}).")
    return None


def side_problem(side: Any) -> str | None:
    """Why ``side`` (the typical matrix side) cannot be used (None: it can)."""
    if isinstance(side, bool) or not isinstance(side, (int, float)) or not math.isfinite(side):
        return f"The matrix side must be a whole number from 1 to {MAX_SIDE:,}."
    if not 1 <= side <= MAX_SIDE or side != int(side):
        return f"The matrix side must be a whole number from 1 to {MAX_SIDE:,}, got {side:g}."
    return None


def optimizer_variants(names: Iterable[str] | None = None, variants: bool = True) -> list[OptimizerVariant]:
    """Every registry optimizer (or those in ``names``) at its defaults, each followed by the
    settings that change its memory: a bool flipped (AMSGrad, centered) or a float that
    defaults to 0/None set to 0.9 (SGD's momentum, Adafactor's β₁). Found by asking
    ``state_bytes``, not by a list, so a new optimizer gets its rows by itself."""
    from optim_core import registry

    table = registry.optimizers()
    names = list(table) if names is None else [n for n in names if n in table]
    rows = []
    for name in names:
        info = table[name]
        rows.append(OptimizerVariant(name, name, {}))
        if not variants:
            continue
        base = _state_per_param(info, 4, DEFAULT_SIDE, {})
        for h in info.hypers:
            if h.kind == "bool":
                value: Any = not h.default
            elif h.kind == "float" and (h.default is None or h.default == 0):
                value = 0.9
                if h.low is not None:
                    value = max(value, h.low)
                if h.high is not None:
                    value = min(value, h.high)
            else:
                continue
            try:
                changed = _state_per_param(info, 4, DEFAULT_SIDE, {h.name: value}) != base
            except Exception:  # a combination the formula does not take: not a memory variant
                continue
            if changed:
                setting = h.display if h.kind == "bool" else f"{h.display} = {fmt(value)}"
                rows.append(OptimizerVariant(f"{name} ({setting})", name, {h.name: value}))
    return rows


def memory_row(n_params: float, dtype: str = "float32", optimizer: str | OptimizerVariant = "Adam",
               side: int = DEFAULT_SIDE, hypers: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Bytes of parameters, gradients and optimizer state for ``n_params`` in ``dtype``.

    Returns a dict with ``optimizer`` (the row label), ``params_bytes``, ``grads_bytes``,
    ``state_bytes``, ``total_bytes``, the same in GB (``*_gb``), ``state_bytes_per_param``
    and ``state_buffers`` (the state in units of the parameters' size: Adam 2, SGD with
    momentum 1).
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    problem = count_problem(n_params) or side_problem(side)
    if problem:
        raise ValueError(problem)
    variant = optimizer if isinstance(optimizer, OptimizerVariant) else OptimizerVariant(optimizer, optimizer, {})
    hp = {**variant.hypers, **(hypers or {})}
    info = _info(variant.name)
    itemsize = DTYPES[dtype]
    per_param = _state_per_param(info, itemsize, side, hp)
    params = float(n_params) * itemsize
    state = float(n_params) * per_param
    row = {
        "optimizer": variant.label,
        "name": variant.name,
        "family": info.family,
        "params_bytes": params,
        "grads_bytes": params,
        "state_bytes": state,
        "total_bytes": 2 * params + state,
        "state_bytes_per_param": per_param,
        "state_buffers": per_param / itemsize,
        "state_note": info.state_note,
    }
    for key in ("params", "grads", "state", "total"):
        row[f"{key}_gb"] = row[f"{key}_bytes"] / GB
    return row


def memory_table(n_params: float, dtype: str = "float32", names: Iterable[str] | None = None,
                 side: int = DEFAULT_SIDE, variants: bool = True) -> list[dict[str, Any]]:
    """One :func:`memory_row` per optimizer (and memory-changing variant), registry order."""
    return [memory_row(n_params, dtype, v, side) for v in optimizer_variants(names, variants)]


def format_count(n: float) -> str:
    """``10e9`` → ``"10B"``, ``25.6e6`` → ``"25.6M"``, ``1250`` → ``"1,250"``; past 10¹⁵ as a power of ten."""
    if not math.isfinite(n):
        return "too many to count"
    if n >= 1e18:
        return fmt(n, power=True)  # "2.5·10¹⁸"
    if n >= 1e15:
        return f"{n:,.0f}"
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if n >= scale:
            return f"{fmt(n / scale, 3)}{suffix}"
    return f"{n:,.0f}"


def format_gb(n_bytes: float) -> str:
    """Bytes as decimal GB with sensible digits: ``40 GB``, ``0.44 GB``, ``1,400 GB``; tiny sizes in kB/MB."""
    if not math.isfinite(n_bytes):
        return "more than any machine holds"
    gb = n_bytes / GB
    if gb >= 100:
        return f"{gb:,.0f} GB"
    if gb >= 0.1:
        return f"{fmt(gb, 3)} GB"
    if n_bytes >= 1e6:
        return f"{fmt(n_bytes / 1e6, 3)} MB"
    return f"{fmt(n_bytes / 1e3, 3)} kB"


def _buffers(k: float) -> str:
    if abs(k - round(k)) < 1e-4:
        k = int(round(k))
        return "no buffer" if k == 0 else f"{k} buffer{'s' if k != 1 else ''} the size of the parameters"
    return f"{fmt(k, 2)}× the parameters' size"


def course_sentence(n_params: float, dtype: str = "float32", optimizer: str = "Adam",
                    side: int = DEFAULT_SIDE, compare: str | None = "SGD") -> str:
    """The course's question answered for this model, e.g. "10B float32 parameters with Adam:
    40 GB of parameters + 80 GB of optimizer state = 120 GB ...". ``compare`` adds SGD with
    momentum (one buffer) when it is registered."""
    row = memory_row(n_params, dtype, optimizer, side)
    text = (
        f"{format_count(n_params)} {dtype} parameters with {row['optimizer']}: "
        f"{format_gb(row['params_bytes'])} of parameters + {format_gb(row['state_bytes'])} of optimizer state "
        f"({_buffers(row['state_buffers'])}) = {format_gb(row['params_bytes'] + row['state_bytes'])}, "
        f"plus {format_gb(row['grads_bytes'])} of gradients during each step."
    )
    if compare:
        try:
            other = memory_row(n_params, dtype, compare, side, hypers={"momentum": 0.9})
        except (KeyError, TypeError, ValueError):
            return text
        text += (
            f" {compare} with momentum keeps {_buffers(other['state_buffers'])}: "
            f"{format_gb(other['state_bytes'])} of state, {format_gb(other['params_bytes'] + other['state_bytes'])} "
            f"with the parameters."
        )
    return text
