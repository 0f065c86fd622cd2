"""Live training of a tiny MLP with PyTorch, stepped by any optim_core optimizer or by torch.optim.

PyTorch is an optional extra: importing this module never imports torch (every function
imports it when called), so the other pages stay fast and work without it. Check
:func:`torch_available` first and show :data:`INSTALL_HINT` when it is False.

The pieces, from the bottom up:

* :func:`build_mlp`: a 2-input, 2-class MLP with seeded NumPy initialization.
* :class:`ParameterAdapter`: the model's weights and gradients as optim_core
  :class:`~optim_core.Parameter` objects *sharing memory* with the torch tensors. All
  weights live in one flat NumPy buffer and all gradients in another; each torch
  parameter and each ``Parameter.data`` is a view of the first, each ``tensor.grad`` and
  ``Parameter.grad`` a view of the second. So an optim_core kernel updating ``p.data`` in
  place moves the torch model, ``loss.backward()`` accumulates straight into
  ``p.grad``, and the weight and gradient norms are one dot product each.
* :class:`Race`: several :class:`TrainingRunConfig` runs trained side by side from the same
  initial weights on the same sequence of mini-batches, with per-run schedule,
  gradient clipping and accumulation, and a history for the plots.

Per-user state: a :class:`Race` belongs in ``st.session_state``, never in a module global
or a cached resource. It is not meant to be pickled (the shared views would become copies).
"""

from __future__ import annotations

import gc
import inspect
import itertools
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from app.ui.controls import NO_SCHEDULE

__all__ = [
    "INSTALL_HINT",
    "DISABLE_ENV",
    "ACTIVATIONS",
    "BACKENDS",
    "DEFAULT_BACKEND",
    "SCHEDULE_STEPS",
    "MAX_HIDDEN_LAYERS",
    "WIDTH_RANGE",
    "import_torch",
    "torch_available",
    "torch_optimizer_class",
    "torch_backend_available",
    "ModelSpec",
    "init_values",
    "build_mlp",
    "ParameterAdapter",
    "TrainingRunConfig",
    "Run",
    "Race",
]

INSTALL_HINT = (
    "Live Training needs PyTorch, an optional extra of this project. Install it with "
    '`pip install -e ".[torch]"` (it pins torch==2.13.0, the CPU build), then restart the app.'
)
# Set to 1 to behave as if torch were not installed (tests, or a machine where it misbehaves).
DISABLE_ENV = "OPTEX_DISABLE_TORCH"

# Every activation, once: its name (the key pages use), its label and its torch.nn class.
_ACTIVATION_TABLE = (("relu", "ReLU", "ReLU"), ("tanh", "tanh", "Tanh"), ("sigmoid", "sigmoid", "Sigmoid"),
                     ("gelu", "GELU", "GELU"))
ACTIVATIONS = {name: label for name, label, _ in _ACTIVATION_TABLE}
_ACTIVATION_CLASSES = {name: cls for name, _, cls in _ACTIVATION_TABLE}
BACKENDS = {"optim_core": "optim_core (NumPy)", "torch": "torch.optim"}
DEFAULT_BACKEND = "optim_core"
SCHEDULE_STEPS = 1000  # a schedule's curve spans this many steps unless told otherwise; then its last lr holds
MAX_HIDDEN_LAYERS = 4
WIDTH_RANGE = (2, 64)
# Race.train_within: the longest stretch of training between two looks at "keep going?" (a Pause).
CHUNK_SECONDS = 0.015
# Race.logit_grid: logit differences beyond ±LOGIT_CLIP (P < 0.0003 or > 0.9997) are drawn as that; its
# levels are spaced as asinh(z / LOGIT_SCALE): finest near the boundary z = 0.
LOGIT_CLIP = 8.0
LOGIT_SCALE = 0.002
_RACE_IDS = itertools.count(1)


# -- torch, lazily ---------------------------------------------------------------------
def import_torch():
    """Import torch (once per process, single-threaded: fastest for models this small)."""
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        raise ImportError(f"torch disabled by {DISABLE_ENV}")
    import torch

    if not getattr(torch, "_optex_threads_set", False):
        # A process-wide setting; at this size a second thread only adds overhead.
        torch.set_num_threads(1)
        torch._optex_threads_set = True
        # Streamlit runs a full garbage collection after every script run (runner.postScriptGC): with
        # torch's ~200,000 objects loaded that holds the interpreter ~80 ms per Live Training redraw, and
        # drops the redraw's output when the next run starts before it was sent. The objects alive now
        # (modules, classes) live as long as the process: leave them out of every later collection.
        gc.freeze()
    return torch


def torch_available() -> bool:
    """Whether torch can be imported (and is not disabled by ``OPTEX_DISABLE_TORCH=1``)."""
    try:
        import_torch()
    except Exception:  # ImportError, or a broken install raising anything at import
        return False
    return True


def torch_optimizer_class(name: str):
    """torch.optim's twin of the optim_core optimizer ``name`` (its registry entry's ``torch_twin``:
    the same name *and* the same keywords), or None.

    Adafactor, say, exists in both but with different hyperparameters, so it is not
    offered as a torch.optim twin. The installed torch must agree: a class it lacks, or whose
    keywords differ from ours, is None too.
    """
    from optim_core import registry

    info = registry.get_optimizer(name)
    if not info.torch_twin:
        return None
    torch = import_torch()
    cls = getattr(torch.optim, name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        return None
    accepted = set(inspect.signature(cls.__init__).parameters)
    if set(info.cls.keywords()) - accepted:
        return None
    return cls


def torch_backend_available(name: str) -> bool:
    try:
        return torch_optimizer_class(name) is not None
    except ImportError:
        return False


# -- the model ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """A 2 → width × hidden_layers → 2 MLP (0 hidden layers: logistic regression)."""

    hidden_layers: int = 2
    width: int = 32
    activation: str = "tanh"

    def __post_init__(self):
        if not 0 <= self.hidden_layers <= MAX_HIDDEN_LAYERS:
            raise ValueError(f"hidden_layers must be 0-{MAX_HIDDEN_LAYERS}, got {self.hidden_layers}")
        if not WIDTH_RANGE[0] <= self.width <= WIDTH_RANGE[1]:
            raise ValueError(f"width must be {WIDTH_RANGE[0]}-{WIDTH_RANGE[1]}, got {self.width}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {self.activation!r}")

    @property
    def sizes(self) -> list[int]:
        return [2] + [self.width] * self.hidden_layers + [2]

    @property
    def sizes_text(self) -> str:
        """The layer sizes as written: ``"2-32-32-2"``."""
        return "-".join(map(str, self.sizes))

    @property
    def n_params(self) -> int:
        s = self.sizes
        return sum(a * b + b for a, b in zip(s[:-1], s[1:]))

    def describe(self) -> str:
        return f"{self.sizes_text} ({ACTIVATIONS[self.activation]}, {self.n_params:,} parameters)"


def init_values(spec: ModelSpec, seed: int = 0) -> list[np.ndarray]:
    """Initial ``[W1, b1, W2, b2, ...]`` (float64), drawn as torch.nn.Linear does: U(±1/√fan_in).

    Drawn with NumPy from ``seed`` alone, so the same seed gives the same network on any
    machine and torch's global random state is left untouched.
    """
    rng = np.random.default_rng(seed)
    values = []
    for fan_in, fan_out in zip(spec.sizes[:-1], spec.sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        values.append(rng.uniform(-bound, bound, size=(fan_out, fan_in)))
        values.append(rng.uniform(-bound, bound, size=(fan_out,)))
    return values


def _activation(torch, name: str):
    return getattr(torch.nn, _ACTIVATION_CLASSES[name])()


def _torch_dtype(torch, dtype: str):
    try:
        return {"float32": torch.float32, "float64": torch.float64}[dtype]
    except KeyError:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None


def build_mlp(spec: ModelSpec, seed: int = 0, dtype: str = "float32"):
    """A ``torch.nn.Sequential`` MLP for ``spec``, initialized by :func:`init_values`."""
    torch = import_torch()
    tdtype = _torch_dtype(torch, dtype)
    layers = []
    sizes = spec.sizes
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        # skip_init: no throw-away default initialization, no draw from torch's global RNG.
        layers.append(torch.nn.utils.skip_init(torch.nn.Linear, a, b, dtype=tdtype))
        if i < len(sizes) - 2:
            layers.append(_activation(torch, spec.activation))
    model = torch.nn.Sequential(*layers)
    with torch.no_grad():
        for t, v in zip(model.parameters(), init_values(spec, seed)):
            t.copy_(torch.from_numpy(v))
    return model


# -- the adapter -------------------------------------------------------------------------
class ParameterAdapter:
    """A torch model's parameters as optim_core Parameters that share its memory.

    ``optim_core.Parameter`` copies what it is given, so each one is built and then
    pointed at a view: ``p.data`` is the same memory as the torch parameter, ``p.grad``
    the same memory as its ``.grad``. Gradients therefore need no copy before a step;
    :meth:`sync_grads` checks after each backward that torch really accumulated into the
    shared buffer (it does, in place, while ``.grad`` exists) and copies if it did not.
    """

    def __init__(self, model):
        import optim_core

        torch = import_torch()
        self.tensors = list(model.parameters())
        self.names = [name for name, _ in model.named_parameters()]
        dtypes = {t.dtype for t in self.tensors}
        if len(dtypes) != 1 or next(iter(dtypes)) not in (torch.float32, torch.float64):
            raise ValueError(f"the adapter needs float32 or float64 parameters of one dtype, got {dtypes}")
        np_dtype = np.float32 if next(iter(dtypes)) == torch.float32 else np.float64
        n = sum(t.numel() for t in self.tensors)
        self.flat = np.empty(n, dtype=np_dtype)
        self.flat_grad = np.zeros(n, dtype=np_dtype)
        self.params: list = []
        self._grad_tensors = []
        self._grad_views: list[np.ndarray] = []
        offset = 0
        for t, name in zip(self.tensors, self.names):
            size = t.numel()
            view = self.flat[offset : offset + size].reshape(tuple(t.shape))
            gview = self.flat_grad[offset : offset + size].reshape(tuple(t.shape))
            offset += size
            view[...] = t.detach().cpu().numpy()
            t.data = torch.from_numpy(view)  # the torch parameter now lives in self.flat
            g = torch.from_numpy(gview)
            t.grad = g
            self._grad_tensors.append(g)
            self._grad_views.append(gview)
            p = optim_core.Parameter(view, name=name)
            p.data = view  # Parameter copied its input: point it back at the shared memory
            p.grad = gview
            self.params.append(p)
        self._grad_ptrs = [g.data_ptr() for g in self._grad_tensors]

    def zero_grad(self) -> None:
        self.flat_grad.fill(0)

    def sync_grads(self) -> None:
        """Make sure every ``tensor.grad`` and ``param.grad`` is the shared buffer (copy into it otherwise)."""
        for t, g, ptr, p, gview in zip(self.tensors, self._grad_tensors, self._grad_ptrs, self.params,
                                       self._grad_views):
            if p.grad is not gview:  # someone rebound it (zero_grad(set_to_none=True), say)
                p.grad = gview
            tg = t.grad
            if tg is None:
                p.grad[...] = 0
                t.grad = g
            elif tg.data_ptr() != ptr:
                p.grad[...] = tg.detach().numpy()
                t.grad = g

    def grad_norm(self) -> float:
        return math.sqrt(float(np.dot(self.flat_grad, self.flat_grad)))

    def weight_norm(self) -> float:
        return math.sqrt(float(np.dot(self.flat, self.flat)))


# -- runs ----------------------------------------------------------------------------------
class _Rows:
    """Rows of floats appended one at a time into a growing NumPy array (compact and fast:
    a long live session keeps 48 bytes per step and run, not Python lists of floats)."""

    def __init__(self, *names: str):
        self.names = names
        self._index = {n: j for j, n in enumerate(names)}
        self._data = np.empty((256, len(names)))
        self.n = 0

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def append(self, *values: float) -> None:
        if self.n == len(self._data):
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        self._data[self.n] = values
        self.n += 1

    def columns(self) -> dict[str, np.ndarray]:
        """``{name: column}``: read-only views of the rows so far."""
        out = {}
        for j, name in enumerate(self.names):
            col = self._data[: self.n, j]
            col.flags.writeable = False
            out[name] = col
        return out

    def last(self, name: str, default: float = float("nan")) -> float:
        return float(self._data[self.n - 1, self._index[name]]) if self.n else default


@dataclass
class TrainingRunConfig:
    """One contestant: an optimizer and how it is driven.

    ``hypers`` uses the registry's kernel names (``beta1``, ``beta2``, not ``betas``) and
    overrides the registry defaults. ``schedule`` is a registry schedule name (its pure
    curve sets ``lr`` before every step, the same way for both backends) or a function
    ``(n_steps, base_lr) -> array``; after ``schedule_steps`` steps the last lr is kept.
    ``clip_norm`` clips the total gradient norm (None: off); ``accumulate`` is the number
    of micro-batches whose gradients are summed (each loss divided by it) per step.
    (The Playground's :class:`app.playground.scene.RunConfig` is another thing: a racer on a loss surface.)
    """

    optimizer: str = "Adam"
    hypers: dict = field(default_factory=dict)
    backend: str = DEFAULT_BACKEND
    schedule: str | Callable | None = None
    schedule_params: dict = field(default_factory=dict)
    schedule_steps: int = SCHEDULE_STEPS
    clip_norm: float | None = None
    accumulate: int = 1
    label: str = ""
    # An app.training.groups.GroupSpec: an lr per layer, no weight decay on biases (None: one group).
    groups: Any = None

    def title(self) -> str:
        return self.label or f"{self.optimizer} · {BACKENDS.get(self.backend, self.backend)}"


def _class_kwargs(info, hypers: Mapping[str, Any]) -> dict[str, Any]:
    """Kernel-named hyperparameters → the class keywords (``beta1``/``beta2`` → ``betas``)."""
    known = {h.name for h in info.hypers}
    unknown = set(hypers) - known
    if unknown:
        raise ValueError(f"{info.name} has no hyperparameter(s) {sorted(unknown)}; known: {sorted(known)}")
    return info.cls.keywords(hypers)


class Run:
    """One model + optimizer of a :class:`Race`, with its history.

    ``history`` has one row per optimizer step (``step, loss, lr, grad_norm,
    grad_norm_clipped, weight_norm``; ``loss`` is the mean training loss of the step's
    batch) and ``evals`` one row per evaluation on the whole sets (``step, train_loss,
    train_acc, test_loss, test_acc``), both as ``{column: float64 array}``.
    """

    def __init__(self, config: TrainingRunConfig, spec: ModelSpec, init: Sequence[np.ndarray], dtype: str, seed: int):
        from optim_core import registry

        torch = import_torch()
        self.config = config
        self.info = registry.get_optimizer(config.optimizer)
        if config.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {list(BACKENDS)}, got {config.backend!r}")
        if int(config.accumulate) < 1:
            raise ValueError(f"accumulation needs at least 1 micro-batch per step, got {config.accumulate}")
        if config.clip_norm is not None and not config.clip_norm > 0:
            raise ValueError(f"the clipping norm must be > 0, got {config.clip_norm}")
        self.accumulate = int(config.accumulate)
        self.model = build_mlp(spec, dtype=dtype)
        with torch.no_grad():
            for t, v in zip(self.model.parameters(), init):
                t.copy_(torch.from_numpy(v))
        self.adapter = ParameterAdapter(self.model)
        kwargs = _class_kwargs(self.info, config.hypers)
        # None for optimizers that find their own step size (Adafactor's relative step).
        self.base_lr = float(kwargs["lr"]) if kwargs.get("lr") is not None else None
        from app.training.groups import param_groups

        if config.backend == "torch":
            cls = torch_optimizer_class(config.optimizer)
            if cls is None:
                raise ValueError(f"torch.optim has no {config.optimizer} with the same hyperparameters; "
                                 "use the optim_core backend")
            self.optimizer = cls(param_groups(self.adapter.tensors, self.adapter.names, config.groups, kwargs),
                                 **kwargs)
        else:
            self.optimizer = self.info.cls(param_groups(self.adapter.params, self.adapter.names, config.groups,
                                                        kwargs), **kwargs)
        self._hessian = self.info.needs_hessian and hasattr(self.optimizer, "update_hessian")
        self._rng = np.random.default_rng([seed, 7])  # labels sampled for Sophia's curvature
        self._lr_curve, self._mom_curve = self._schedule_curves()
        # As torch's schedulers: each group follows the schedule from its own initial lr (None: the run's).
        curves = {}
        self._group_curves = [
            None if self._lr_curve is None or g.get("lr") == self.base_lr
            else curves.setdefault(g["lr"], self._schedule_curves(g["lr"])[0]) for g in self.optimizer.param_groups]
        self.step = 0
        self.diverged = ""
        self._history = _Rows("step", "loss", "lr", "grad_norm", "grad_norm_clipped", "weight_norm")
        self._evals = _Rows("step", "train_loss", "train_acc", "test_loss", "test_acc")
        self.batch_log: list[np.ndarray] | None = None
        from app.training.diagnostics import Monitor

        self.monitor = Monitor(self)  # per-layer gradient and update norms, dead units, where a NaN began
        from app.training.amp import RunAmp

        self.amp = RunAmp("float32", self.optimizer, config.backend)  # Race(precision=...) sets another

    # -- schedule -----------------------------------------------------------------------
    def _schedule_curves(self, base_lr: float | None = None):
        cfg = self.config
        if cfg.schedule in (None, "", "constant", NO_SCHEDULE):
            return None, None
        if self.base_lr is None:
            raise ValueError(f"{cfg.optimizer} has no learning rate to schedule (set one, or choose no schedule)")
        base_lr = self.base_lr if base_lr is None else base_lr
        n = max(int(cfg.schedule_steps), 1)
        if callable(cfg.schedule):
            return np.asarray(cfg.schedule(n, base_lr), dtype=np.float64), None
        from optim_core import registry

        sched = registry.get_schedule(cfg.schedule)
        curve = sched.curve(n, base_lr, **{**sched.defaults(), **cfg.schedule_params})
        mom = curve.get("momentum") if isinstance(curve, Mapping) else None
        return np.asarray(curve["lr"], dtype=np.float64), (None if mom is None else np.asarray(mom, dtype=np.float64))

    def lr_at(self, step: int) -> float | None:
        if self._lr_curve is None:
            return self.base_lr
        return float(self._lr_curve[min(step, len(self._lr_curve) - 1)])

    def _apply_schedule(self) -> float:
        lr = self.lr_at(self.step)
        if self._lr_curve is not None:
            mom = None if self._mom_curve is None else float(self._mom_curve[min(self.step, len(self._mom_curve) - 1)])
            at = min(self.step, len(self._lr_curve) - 1)
            for g, curve in zip(self.optimizer.param_groups, self._group_curves):
                g["lr"] = lr if curve is None else float(curve[at])
                if mom is not None:  # as torch's OneCycleLR: momentum, or beta1 of betas
                    if "momentum" in g:
                        g["momentum"] = mom
                    elif "betas" in g:
                        g["betas"] = (mom, *tuple(g["betas"])[1:])
        return float("nan") if lr is None else lr

    # -- one step ---------------------------------------------------------------------------
    def train_step(self, micro_batches, clip_fn) -> None:
        torch = import_torch()
        F = torch.nn.functional
        a = self.adapter
        a.zero_grad()
        total = 0.0
        k = self.accumulate
        amp = self.amp  # app.training.amp: autocast, loss scaling (float32: neither)
        for xb, yb, _ in micro_batches:
            with amp.autocast():
                loss = F.cross_entropy(self.model(xb), yb)
            amp.backward(loss / k if k > 1 else loss)
            total += loss.item()
        loss_value = total / k
        a.sync_grads()
        if amp.unscale(a.flat_grad):  # scaled gradients overflowed: the step is skipped, the scale halved
            lr = self._apply_schedule()
            amp.step(self.step)
            self.step += 1
            self._history.append(self.step, loss_value, lr, math.nan, math.nan, a.weight_norm())
            return
        gn = a.grad_norm()
        if not (math.isfinite(loss_value) and math.isfinite(gn)):
            self.diverged = (f"stopped at step {self.step}: the loss became {loss_value:.3g} "
                             f"(gradient norm {gn:.3g}). Lower the learning rate or clip the gradients.")
            self.monitor.diverged(self, micro_batches)
            return
        self.monitor.before_step(self)
        gn_after = gn
        if self.config.clip_norm is not None:
            clip_fn(self, self.config.clip_norm)
            gn_after = a.grad_norm()
        lr = self._apply_schedule()
        amp.step(self.step)  # optimizer.step(), through GradScaler or app.training.amp.LossScaler if scaled
        self.step += 1
        if self._hessian and self.optimizer.hessian_due():
            self._refresh_hessian(micro_batches)
        self._history.append(self.step, loss_value, lr, gn, gn_after, a.weight_norm())
        self.monitor.after_step(self)
        if self.batch_log is not None:
            self.batch_log.extend(idx for _, _, idx in micro_batches)

    def _refresh_hessian(self, micro_batches) -> None:
        """Sophia's Gauss-Newton-Bartlett estimate: B·ĝ⊙ĝ for labels sampled from the model."""
        torch = import_torch()
        F = torch.nn.functional
        xb = micro_batches[0][0]
        self.adapter.zero_grad()
        logits = self.model(xb)
        p1 = torch.softmax(logits.detach(), dim=1)[:, 1].numpy()
        sampled = torch.from_numpy((self._rng.random(len(p1)) < p1).astype(np.int64))
        F.cross_entropy(logits, sampled).backward()
        self.adapter.sync_grads()
        self.optimizer.update_hessian(batch_size=len(p1))

    def evaluate(self, data) -> None:
        torch = import_torch()
        F = torch.nn.functional
        out = [float(self.step)]
        with torch.no_grad():
            for x, y in data:
                logits = self.model(x)
                out.append(F.cross_entropy(logits, y).item())
                out.append((logits.argmax(dim=1) == y).double().mean().item())
        self._evals.append(*out)
        self.monitor.evaluated(self, data[0][0])

    # -- views --------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return not self.diverged

    @property
    def history(self) -> dict[str, np.ndarray]:
        return self._history.columns()

    @property
    def evals(self) -> dict[str, np.ndarray]:
        return self._evals.columns()

    def history_arrays(self) -> dict[str, np.ndarray]:
        """``history`` and ``evals`` in one dict (the latter's columns prefixed ``eval_``)."""
        return {**self.history, **{"eval_" + k: v for k, v in self.evals.items()}}

    def last(self, key: str, default: float = float("nan")) -> float:
        """The latest value of an ``evals`` or ``history`` column."""
        rows = self._evals if key in self._evals.names else self._history
        return rows.last(key, default)

    def state_dict(self) -> dict:
        """The model's weights (copies), keyed as ``model.state_dict()``."""
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}


def _clip_with_optim_core(run: Run, max_norm: float) -> None:
    from optim_core.clip import clip_grad_norm_

    clip_grad_norm_(run.adapter.params, max_norm)


class Race:
    """Several runs trained side by side from the same initialization on the same batches.

    The mini-batch stream is one seeded shuffling of the training set per epoch (epoch
    ``e`` uses ``default_rng([seed, e])``), cut into batches of ``batch_size`` (the last
    one may be smaller; ``None`` or ``>= n_train`` means full batch). Micro-batch ``c``
    of the stream is the same for every run; a run accumulating ``k`` micro-batches
    consumes ``c = k·step, ..., k·step + k - 1`` at each step. Every run is evaluated on
    the whole training and test sets at step 0 and every ``eval_every`` steps.
    """

    def __init__(
        self,
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_test: np.ndarray,
        y_test: np.ndarray,
        runs: Sequence[TrainingRunConfig],
        model: ModelSpec = ModelSpec(),
        batch_size: int | None = None,
        seed: int = 0,
        dtype: str = "float32",
        eval_every: int = 10,
        record_batches: bool = False,
        precision: str | Sequence[str] = "float32",
    ):
        torch = import_torch()
        if not runs:
            raise ValueError("a race needs at least one run")
        # Names this race for whoever keeps a copy of what it drew (the live view in the browser).
        self.uid = f"{os.getpid():x}-{next(_RACE_IDS):x}"
        self.step_seconds = float("nan")  # CPU seconds per race step, measured by train_within
        self._grid_points: dict[int, Any] = {}  # grid_points' tensors by size
        if len(X_train) < 1 or len(X_test) < 1:
            raise ValueError("need at least one training and one test point")
        self.spec = model
        self.seed = int(seed)
        self.dtype = dtype
        self.eval_every = max(int(eval_every), 1)
        np_dtype = np.float32 if dtype == "float32" else np.float64
        _torch_dtype(torch, dtype)
        self.X_train = np.ascontiguousarray(X_train, dtype=np_dtype)
        self.y_train = np.ascontiguousarray(y_train, dtype=np.int64)
        self.X_test = np.ascontiguousarray(X_test, dtype=np_dtype)
        self.y_test = np.ascontiguousarray(y_test, dtype=np.int64)
        self._Xt = torch.from_numpy(self.X_train)
        self._yt = torch.from_numpy(self.y_train)
        self._eval_data = ((self._Xt, self._yt), (torch.from_numpy(self.X_test), torch.from_numpy(self.y_test)))
        n = len(self.y_train)
        self.batch_size = n if batch_size is None else max(1, min(int(batch_size), n))
        self.full_batch = self.batch_size >= n
        self.batches_per_epoch = math.ceil(n / self.batch_size)
        self._perms: dict[int, np.ndarray] = {}
        self._batches: dict[int, tuple] = {}
        self._all_idx = np.arange(n)
        init = init_values(model, self.seed)
        self.runs = [Run(cfg, model, init, dtype, self.seed) for cfg in runs]
        # Called as hook(run) after each step of a run that did not diverge (app.training.sharpness and
        # net_landscape record there); their time counts in train_within's budget.
        self.step_hooks: list[Callable[[Run], None]] = []
        from app.training import amp

        # app.training.amp: one precision for every run (the page's choice), or one per run.
        self.precision = precision if isinstance(precision, str) else tuple(precision)
        if not isinstance(precision, str) and len(self.precision) != len(self.runs):
            raise ValueError(f"one precision per run: {len(self.runs)} runs, {len(self.precision)} precisions")
        for run, prec in zip(self.runs, [precision] * len(self.runs) if isinstance(precision, str) else precision):
            problem = amp.precision_problem(prec, dtype)
            if problem:
                raise ValueError(problem)
            if prec != run.amp.name:
                run.amp = amp.RunAmp(prec, run.optimizer, run.config.backend)
        for run in self.runs:
            if record_batches:
                run.batch_log = []
            run.evaluate(self._eval_data)

    # -- the shared batch stream ------------------------------------------------------------
    def batch_indices(self, c: int) -> np.ndarray:
        """Indices (into the training set) of micro-batch ``c`` of the shared stream."""
        if self.full_batch:
            return self._all_idx
        epoch, i = divmod(c, self.batches_per_epoch)
        perm = self._perms.get(epoch)
        if perm is None:
            if len(self._perms) > 4:
                self._perms.clear()
            perm = self._perms[epoch] = np.random.default_rng([self.seed, epoch]).permutation(len(self.y_train))
        return perm[i * self.batch_size : (i + 1) * self.batch_size]

    def _batch(self, c: int):
        if self.full_batch:
            return self._Xt, self._yt, self._all_idx
        b = self._batches.get(c)
        if b is None:
            torch = import_torch()
            idx = self.batch_indices(c)
            t_idx = torch.from_numpy(idx)
            b = self._batches[c] = (self._Xt[t_idx], self._yt[t_idx], idx)
        return b

    # -- training --------------------------------------------------------------------------
    def train(self, n_steps: int) -> None:
        """Advance every active run by ``n_steps`` optimizer steps.

        Floating-point warnings are silenced: a run that overflows is caught by its own
        divergence check and shown as diverged, not as a warning in the server's log.
        """
        with np.errstate(all="ignore"):
            self._train(n_steps)

    def _train(self, n_steps: int) -> None:
        for _ in range(int(n_steps)):
            for run in self.runs:
                if run.diverged:
                    continue
                k = run.accumulate
                c0 = run.step * k
                run.train_step([self._batch(c0 + j) for j in range(k)], _clip_with_optim_core)
                if run.step % self.eval_every == 0 and not run.diverged:
                    run.evaluate(self._eval_data)
                if self.step_hooks and not run.diverged:
                    for hook in self.step_hooks:
                        hook(run)
            if len(self._batches) > 256:
                self._batches.clear()

    def train_within(self, max_steps: int, budget_s: float, keep_going: Callable[[], bool] | None = None,
                     wall_factor: float = 2.0) -> int:
        """Train up to ``max_steps`` race steps in chunks, stopping early when ``budget_s`` seconds of this
        thread's CPU time are spent (or ``wall_factor`` times that of wall time, on a busy machine) or
        when ``keep_going()`` turns False; returns the steps taken.

        Chunks last about :data:`CHUNK_SECONDS` (sized from :attr:`step_seconds`, measured as it goes),
        so ``keep_going`` is asked that often. A chunk is not started when the estimate says it would
        overrun the budget, except the first step: each call advances at least one step (if asked to and
        allowed to), so the worst case is ``max(budget_s, one race step)``.
        """
        done = 0
        max_steps = int(max_steps)
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        while done < max_steps and self.active:
            if keep_going is not None and not keep_going():
                break
            cost = self.step_seconds
            spent = time.thread_time() - cpu0
            if done:
                if spent >= budget_s or time.perf_counter() - wall0 >= wall_factor * budget_s:
                    break
                if math.isfinite(cost) and spent + cost > budget_s:
                    break
            if math.isfinite(cost) and cost > 0:
                room = budget_s - spent if done else budget_s
                n = int(max(1.0, min(CHUNK_SECONDS, room) / cost))
            else:
                n = 1  # measure first
            n = min(n, max_steps - done)
            c0 = time.thread_time()
            self.train(n)
            per_step = (time.thread_time() - c0) / n
            self.step_seconds = per_step if not math.isfinite(cost) else 0.5 * cost + 0.5 * per_step
            done += n
        return done

    def hook(self, kind: type, create: bool = True):
        """The step hook of class ``kind`` among :attr:`step_hooks`; with ``create``, a new ``kind(self)``
        hooked in when there is none (it then sees the steps from the race's current one on)."""
        for h in self.step_hooks:
            if isinstance(h, kind):
                return h
        if not create:
            return None
        h = kind(self)
        self.step_hooks.append(h)
        return h

    @property
    def step(self) -> int:
        return max(run.step for run in self.runs)

    def stop_step(self, stop_epochs: float, max_steps: int) -> int:
        """The step at which training pauses by itself: when a run has seen ``stop_epochs`` epochs
        (the one accumulating most micro-batches gets there first), or at ``max_steps``."""
        if stop_epochs > 0:
            acc = max(run.accumulate for run in self.runs)
            return min(max_steps, math.ceil(stop_epochs * self.batches_per_epoch / acc))
        return max_steps

    @property
    def epoch(self) -> float:
        """Epochs of the training set seen by the first run."""
        run = self.runs[0]
        return run.step * run.accumulate / self.batches_per_epoch

    @property
    def active(self) -> bool:
        return any(run.active for run in self.runs)

    # -- pictures ------------------------------------------------------------------------------
    def bounds(self, margin: float = 0.15) -> tuple[float, float, float, float]:
        X = np.concatenate([self.X_train, self.X_test])
        lo, hi = X.min(axis=0).astype(np.float64), X.max(axis=0).astype(np.float64)
        pad = (hi - lo) * margin + 1e-6
        return lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1]

    def grid_points(self, n: int):
        """The ``n × n`` grid over :meth:`bounds` as a torch tensor of points, row ``j·n + i`` at
        ``(x[i], y[j])`` (x and y ascending); built once per race and size."""
        pts = self._grid_points.get(n)
        if pts is None:
            torch = import_torch()
            x0, x1, y0, y1 = self.bounds()
            gx, gy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
            pts = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1).astype(self.X_train.dtype))
            self._grid_points[n] = pts
        return pts

    def logit_grid(self, run: Run | int, n: int = 64, clip: float = LOGIT_CLIP,
                   scale: float = LOGIT_SCALE) -> np.ndarray:
        """``run``'s logit difference ``z = logit₁ - logit₀`` (``P(class 1) = σ(z)``) on the ``n × n`` grid of
        :meth:`grid_points`, as ``uint8`` levels ``round(127.5 + 127.5·asinh(z/scale) / asinh(clip/scale))``
        with ``z`` clipped to ``±clip`` (128, undecided, where the model gives no number); shape ``(n, n)``,
        ``[j, i]`` at ``(x[i], y[j])``.

        One byte a cell. Unlike a probability it varies smoothly across a sharp boundary, so the browser can
        interpolate it; the level 127.5 is the boundary ``z = 0``, and asinh spends the levels where the
        boundary is: ``z`` to about 0.0001 near it (an untrained network's slopes are ~0.001 a grid step),
        7% of ``|z|`` farther out.
        """
        torch = import_torch()
        run = self.runs[run] if isinstance(run, int) else run
        with torch.no_grad():
            logits = run.model(self.grid_points(n))
            z = (logits[:, 1] - logits[:, 0]).numpy().astype(np.float64)
        with np.errstate(invalid="ignore"):
            u = np.arcsinh(np.clip(np.nan_to_num(z, nan=0.0), -clip, clip) / scale) / np.arcsinh(clip / scale)
        return np.rint(127.5 + 127.5 * u).astype(np.uint8).reshape(n, n)

    def decision_grid(self, run: Run | int, n: int = 100) -> dict[str, np.ndarray]:
        """Class-1 probability of ``run``'s model on an ``n × n`` grid covering the data.

        Returns ``{"x": (n,), "y": (n,), "prob": (n, n) float32}`` with ``prob[j, i]`` at
        ``(x[i], y[j])``, ready for a heatmap.
        """
        torch = import_torch()
        run = self.runs[run] if isinstance(run, int) else run
        x0, x1, y0, y1 = self.bounds()
        xs = np.linspace(x0, x1, n)
        ys = np.linspace(y0, y1, n)
        gx, gy = np.meshgrid(xs, ys)
        pts = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(self.X_train.dtype)
        with torch.no_grad():
            logits = run.model(torch.from_numpy(pts)).numpy().astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            prob = 1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))
        return {"x": xs, "y": ys, "prob": prob.reshape(n, n).astype(np.float32)}
