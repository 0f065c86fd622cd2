"""The torch-shaped shell around the pure update functions.

An optimizer here is two things, as in torch.optim: a class that gathers
``(param, grad, state)`` from its ``param_groups`` and a kernel that does the math.
The kernel is declared in the optimizer's own module as a function of arrays that
broadcast; :func:`apply_update` calls it for the classes (and the engine's scheduled
runs), :func:`bound_kernel` prepares it for the engine's many calls with the same
hyperparameters. Nothing else calls a kernel.
"""

from __future__ import annotations

import copy
import functools
import math
import types
from typing import Any, Iterable, Mapping

import numpy as np

from optim_core import registry
from optim_core.entries import Hyper, OptimizerInfo, valid_interval

__all__ = [
    "Parameter",
    "Optimizer",
    "HyperparameterError",
    "apply_update",
    "bound_kernel",
    "check_hyper",
    "CHUNK_BYTES",
    "nonzero",
    "l2_grad",
    "apply_weight_decay",
    "zeros_like",
    "clone",
    "sqrt",
    "sqrt_",
    "maximum_",
    "sign",
]

# Elementwise kernels on large tensors run over slices of this many bytes, so that the
# temporaries of one slice stay in cache. The size is set by glibc's malloc rather than by
# the cache: with larger temporaries, freeing and allocating them can hand memory back to
# the system and fault it in again on every slice. An Adam step on 1e7 float32 parameters
# took 20-22 ms with 128 kB slices in every process tried on this machine; with 256 kB it
# took 20 ms in some processes and 100-110 ms in others, with 512 kB 19 ms or 104-117 ms
# (it depended on what the process had allocated before, and on the machine's state).
# Smaller slices pay NumPy's per-call cost more often (64 kB: 25 ms).
CHUNK_BYTES = 1 << 17


class HyperparameterError(ValueError, TypeError):
    """An invalid or unknown hyperparameter.

    A ``ValueError`` as the app expects, and a ``TypeError`` too, since torch raises
    that for an unknown keyword.
    """


class Parameter:
    """A tensor the optimizers update: ``.data`` (float64 unless given float32) and ``.grad``."""

    __slots__ = ("data", "grad", "name")

    def __init__(self, data: Any, name: str | None = None):
        # np.array (not np.ascontiguousarray, which returns at least 1-d) keeps a 0-d
        # parameter 0-d, as torch does; a fresh copy is always C-contiguous.
        dtype = np.float32 if np.asarray(data).dtype == np.float32 else np.float64
        self.data: np.ndarray = np.array(data, dtype=dtype, copy=True, order="C")
        self.grad: np.ndarray | None = None
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"Parameter{label}(shape={self.data.shape}, dtype={self.data.dtype})"


# torch.optim's wording for the hyperparameters it validates; others get a generic line.
_MESSAGES = {
    "lr": "Invalid learning rate: {v}",
    "eps": "Invalid epsilon value: {v}",
    "beta1": "Invalid beta parameter at index 0: {v}",
    "beta2": "Invalid beta parameter at index 1: {v}",
    "weight_decay": "Invalid weight_decay value: {v}",
    "momentum": "Invalid momentum value: {v}",
}


def check_hyper(h: Hyper, value: Any) -> None:
    """Raise :class:`HyperparameterError` unless ``value`` is valid for ``h``."""
    message = _MESSAGES.get(h.name, "Invalid " + h.name + " value: {v}")
    if h.kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise HyperparameterError(message.format(v=value) + " (expected True or False)")
        return
    if h.kind == "choice":
        if value not in h.choices:
            raise HyperparameterError(message.format(v=value) + f" (expected one of {list(h.choices)})")
        return
    if value is None and h.default is None:
        return
    if type(value) in (int, float):
        # The common case, a plain number: the same checks without NumPy's per-call cost
        # (every run of a race is checked each time a slider moves).
        if not math.isfinite(value) or (h.kind == "int" and value != round(value)):
            raise HyperparameterError(message.format(v=value) + (" (expected an integer)" if math.isfinite(value) else ""))
        if h.valid:
            lo, hi, lo_closed, hi_closed = valid_interval(h.valid)
            if not ((value >= lo if lo_closed else value > lo) and (value <= hi if hi_closed else value < hi)):
                raise HyperparameterError(message.format(v=value))
        return
    try:
        arr = np.asarray(value)
        # Numbers only: NumPy would read the text "1" as 1.0, and a kernel then fails on the string.
        if arr.dtype.kind not in "biuf":
            raise TypeError
        arr = arr.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        raise HyperparameterError(message.format(v=value) + " (expected a number)") from None
    if h.kind == "int" and not np.all(arr == np.round(arr)):
        raise HyperparameterError(message.format(v=value) + " (expected an integer)")
    if not np.all(np.isfinite(arr)):
        raise HyperparameterError(message.format(v=value))
    if h.valid:
        lo, hi, lo_closed, hi_closed = valid_interval(h.valid)
        ok_lo = arr >= lo if lo_closed else arr > lo
        ok_hi = arr <= hi if hi_closed else arr < hi
        if not (np.all(ok_lo) and np.all(ok_hi)):
            raise HyperparameterError(message.format(v=value))


def _items(n: int, dtype) -> int:
    return n * np.dtype(dtype).itemsize


def apply_update(
    info: OptimizerInfo,
    param: np.ndarray,
    grad: np.ndarray,
    state: dict,
    step: int,
    hypers: Mapping[str, Any],
    batch_ndim: int = 0,
) -> None:
    """Run ``info``'s kernel once, in place on ``param`` and ``state``.

    ``maximize`` is handled here for every optimizer, since torch flips the gradient
    before anything else. Elementwise kernels on large contiguous tensors run slice by
    slice (the result is identical; only the temporaries shrink). ``batch_ndim`` leading
    axes are independent problems: kernels that take a norm reduce over the rest only.
    """
    hp = hypers
    if "maximize" in hypers:
        hp = dict(hypers)
        if hp.pop("maximize"):
            grad = -grad
    if not info.elementwise:
        info.update(param, grad, state, step, batch_ndim=batch_ndim, **hp)
        return
    n = param.size
    per_slice = CHUNK_BYTES // param.itemsize
    if n <= per_slice or not _chunkable(param, grad, state):
        info.update(param, grad, state, step, **hp)
        return
    flat_p = param.reshape(-1)
    flat_g = grad.reshape(-1)
    big = {k: v.reshape(-1) for k, v in state.items() if isinstance(v, np.ndarray) and v.shape == param.shape}
    for start in range(0, n, per_slice):
        sl = slice(start, start + per_slice)
        sub = {k: (big[k][sl] if k in big else v) for k, v in state.items()}
        info.update(flat_p[sl], flat_g[sl], sub, step, **hp)


def bound_kernel(info: OptimizerInfo, hypers: Mapping[str, Any], batch_ndim: int = 0):
    """``info``'s kernel with ``hypers`` bound: ``kernel(param, grad, state, step)``.

    For callers that take many steps with the same hyperparameters: the trajectory engine
    calls a kernel thousands of times on small arrays or on floats, where a call costs about
    a microsecond and passing seven keywords (``**hypers``, or a ``functools.partial``,
    which merges a dict per call) is a quarter of it. The hyperparameters become the
    defaults of the kernel's keyword-only parameters, which the interpreter binds without
    a dict. Unlike :func:`apply_update` it neither slices large tensors (a speed measure
    only) nor handles ``maximize``, which must not be among ``hypers``.
    """
    if hypers.get("maximize"):
        raise ValueError("bound_kernel does not handle maximize; use apply_update")
    bound = {k: v for k, v in hypers.items() if k != "maximize"}
    if not info.elementwise:
        bound["batch_ndim"] = batch_ndim
    kernel = info.update
    if isinstance(kernel, functools.partial) and not kernel.args:
        bound = {**kernel.keywords, **bound}
        kernel = kernel.func
    code = getattr(kernel, "__code__", None)
    keyword_only = () if code is None else code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
    if not isinstance(kernel, types.FunctionType) or not set(bound) <= set(keyword_only):
        return functools.partial(kernel, **bound)  # a default only stands in for a keyword-only parameter
    with_defaults = types.FunctionType(kernel.__code__, kernel.__globals__, kernel.__name__, kernel.__defaults__,
                                       kernel.__closure__)
    with_defaults.__kwdefaults__ = {**(kernel.__kwdefaults__ or {}), **bound}
    return with_defaults


def _chunkable(param: np.ndarray, grad: np.ndarray, state: dict) -> bool:
    # A state entry still None is created by the kernel from the whole gradient (torch's
    # lazily cloned momentum buffer), so that step must see the whole tensor.
    if any(v is None for v in state.values()):
        return False
    arrays = [param, grad] + [v for v in state.values() if isinstance(v, np.ndarray) and v.shape == param.shape]
    return all(a.flags.c_contiguous for a in arrays) and grad.shape == param.shape


class _RegistryEntry:
    """``cls.info``: the registry entry naming ``cls`` (or its nearest registered base class).

    Looked up by class in :func:`optim_core.registry.optimizer_of_class` (cached there),
    so the entry, declared once in the optimizer's module, never writes to its class.
    """

    def __get__(self, obj, owner) -> OptimizerInfo:
        try:
            return registry.optimizer_of_class(owner)
        except LookupError as exc:
            raise AttributeError(str(exc)) from None


class Optimizer:
    """Base class with the torch.optim API over a registered kernel.

    Subclasses set nothing but, where torch checks relations between hyperparameters,
    :meth:`check_relations`; their kernel and hyperparameters come from their registry
    entry (``INFO`` in their module, whose ``cls`` names them), as ``cls.info``.
    Hyperparameters are read from ``param_groups`` at every step, so a scheduler or a
    user may change ``group["lr"]`` between steps.
    """

    info: OptimizerInfo = _RegistryEntry()  # type: ignore[assignment]
    # Keyword tuples torch exposes as one argument, unpacked into kernel names.
    packed: Mapping[str, tuple[str, ...]] = {"betas": ("beta1", "beta2")}

    def __init__(self, params: Iterable, lr: Any = None, **hyperparams: Any):
        if lr is not None:
            hyperparams["lr"] = lr
        self.defaults = self._public_defaults()
        unknown = set(hyperparams) - set(self.defaults)
        if unknown:
            raise HyperparameterError(
                f"{type(self).__name__} got unknown keyword(s) {sorted(unknown)}; accepted: {sorted(self.defaults)}"
            )
        self.defaults.update(hyperparams)
        self.state: dict[Parameter, dict] = {}
        self.param_groups: list[dict] = []
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    # -- hyperparameters -------------------------------------------------------------
    @classmethod
    def keywords(cls, hypers: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Kernel-named hyperparameters over the defaults, as this class's (torch's) keywords.

        ``{"beta1": 0.8}`` gives ``{..., "betas": (0.8, 0.999)}``: the form the engine and
        the registry use, turned into the one ``cls(params, **keywords)`` takes.
        """
        kw = {**cls.info.defaults(), **(hypers or {})}
        for packed_name, parts in cls.packed.items():
            if all(p in kw for p in parts):
                kw[packed_name] = tuple(kw.pop(p) for p in parts)
        return kw

    @classmethod
    def _public_defaults(cls) -> dict[str, Any]:
        """The defaults under torch's keyword names (``betas`` rather than ``beta1``)."""
        return cls.keywords()

    def _kernel_hypers(self, group: Mapping[str, Any]) -> dict[str, Any]:
        hp = {}
        for h in self.info.hypers:
            hp[h.name] = group[h.name] if h.name in group else None
        for packed_name, parts in self.packed.items():
            if packed_name in group:
                for part, value in zip(parts, group[packed_name]):
                    hp[part] = value
        return hp

    def _validate(self, group: Mapping[str, Any]) -> None:
        for packed_name, parts in self.packed.items():
            if packed_name in group:
                value = group[packed_name]
                if not isinstance(value, (tuple, list)) or len(value) != len(parts):
                    raise HyperparameterError(f"Invalid {packed_name}: {value!r} (expected {len(parts)} values)")
        hp = self._kernel_hypers(group)
        for h in self.info.hypers:
            check_hyper(h, hp[h.name])
        self.check_relations(hp)

    @classmethod
    def check_relations(cls, hp: Mapping[str, Any]) -> None:
        """Relations between hyperparameters that torch checks (override where needed)."""

    # -- torch.optim API -------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Parameter):
            params = [params]
        params = list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer can only optimize Parameters, got {type(p).__name__}")
        if len(set(map(id, params))) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing & set(map(id, params)):
            raise ValueError("some parameters appear in more than one parameter group")
        unknown = set(group) - set(self.defaults) - {"params"} - _SCHEDULER_KEYS
        if unknown:
            raise HyperparameterError(f"param group has unknown keyword(s) {sorted(unknown)}")
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._validate(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = np.zeros_like(p.data)

    def step(self, closure=None):
        """Perform one optimization step; ``closure`` re-evaluates the loss (as in torch)."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            hp = self._kernel_hypers(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = np.asarray(p.grad, dtype=p.data.dtype)
                if grad.shape != p.data.shape:
                    raise ValueError(f"gradient of shape {grad.shape} for a parameter of shape {p.data.shape}")
                state = self.state.get(p)
                if not state:
                    state = self.state[p] = {"step": 0}
                    state.update(self.info.init_state(p.data, **hp))
                state["step"] += 1
                self._update_one(p, grad, state, hp)
        return loss

    def _update_one(self, p: Parameter, grad: np.ndarray, state: dict, hp: dict) -> None:
        apply_update(self.info, p.data, grad, state, state["step"], hp)

    def state_dict(self) -> dict:
        """Torch's layout: ``{"state": {index: {...}}, "param_groups": [{..., "params": [index...]}]}``."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = copy.deepcopy(self.state[p])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for mine, saved in zip(self.param_groups, groups):
            if len(mine["params"]) != len(saved["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of optimizer's group")
        new_state: dict[Parameter, dict] = {}
        for mine, saved in zip(self.param_groups, groups):
            for p, idx in zip(mine["params"], saved["params"]):
                if idx in state_dict["state"]:
                    entry = copy.deepcopy(state_dict["state"][idx])
                    for k, v in entry.items():
                        if isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.shape == p.data.shape:
                            entry[k] = np.asarray(v, dtype=p.data.dtype, order="C")  # keeps a 0-d buffer 0-d
                    new_state[p] = entry
            mine.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


# Keys torch's schedulers add to param groups; an optimizer must accept them back.
_SCHEDULER_KEYS = frozenset({"initial_lr", "max_lr", "min_lr", "base_lr", "max_momentum", "base_momentum"})


def elementwise_bytes(n_buffers: int):
    """``state_bytes`` for optimizers keeping ``n_buffers`` arrays the size of the parameter."""

    def state_bytes(shape, itemsize, **_):
        return n_buffers * itemsize * math.prod(shape)

    return state_bytes


def nonzero(value) -> bool:
    """Whether a hyperparameter (a number or a sweep array) is non-zero anywhere.

    Kernels branch on this every call; a plain Python number skips NumPy's ~2 us
    dispatch, which matters when the engine calls a kernel thousands of times.
    """
    if isinstance(value, (int, float)):
        return value != 0
    return bool(np.any(value))


def l2_grad(grad: np.ndarray, param: np.ndarray, weight_decay) -> np.ndarray:
    """Coupled (L2) weight decay as torch applies it: ``g + wd * p`` (a new array)."""
    if isinstance(weight_decay, (int, float)):  # the common scalar case, without NumPy's per-call cost
        return grad if weight_decay == 0 else grad + weight_decay * param
    if not np.any(weight_decay):
        return grad
    return grad + weight_decay * param


# Kernels with ``runs_on_floats`` take either arrays (updated in place) or one coordinate as
# Python floats (immutable: the new values are returned and stored back). Augmented
# assignments (``m *= b``) already do the right thing for both; the helpers below cover the
# NumPy calls that do not. They test ``type(x) is float`` first (half the cost of
# isinstance) so that a float never pays NumPy's per-call cost, and each float branch
# rounds exactly as the ufunc does. Only Python floats take the float branch.

# np.sqrt of a negative number is NaN (with the sign bit set), where math.sqrt raises.
with np.errstate(invalid="ignore"):
    _SQRT_OF_NEGATIVE = float(np.sqrt(np.array([-1.0]))[0])
# Bound once: on a (1, 2) array the ``np.`` lookup is a visible part of a helper's cost.
_np_sqrt, _np_maximum, _np_sign = np.sqrt, np.maximum, np.sign


def apply_weight_decay(param, grad, lr, weight_decay, decoupled: bool):
    """Weight decay as torch's Adam family applies it: returns ``(param, g)``.

    Decoupled (AdamW): ``θ ← θ(1 - ηλ)`` (in place for an array, the same object
    returned; a new value for a float) and the gradient unchanged; otherwise L2:
    ``g + λθ`` (see :func:`l2_grad`).
    """
    if decoupled:
        if nonzero(weight_decay):
            param *= 1 - lr * weight_decay
        return param, grad
    return param, l2_grad(grad, param, weight_decay)


def zeros_like(param):
    """A zero state buffer for ``param``: ``0.0`` for a float, else ``np.zeros_like``."""
    return 0.0 if type(param) is float else np.zeros_like(param)


def clone(x, like=None):
    """A copy of ``x`` the caller may update in place, as ``like``'s dtype if given.

    A float is immutable, so it is its own copy.
    """
    if type(x) is float:
        return x
    return np.array(x, dtype=None if like is None else like.dtype, copy=True)


def sqrt(x):
    """``√x`` as a new array, or as a float (NaN for a negative float, as NumPy gives)."""
    if type(x) is float:
        return math.sqrt(x) if x >= 0.0 or x != x else _SQRT_OF_NEGATIVE
    return _np_sqrt(x)


def sqrt_(x):
    """``√x`` in place for an array (a temporary: never a state buffer), else as a new value.

    A Python float takes the exact float branch of :func:`sqrt`; a NumPy scalar (what
    arithmetic on a 0-d parameter gives) gets ``np.sqrt`` without ``out``.
    """
    if type(x) is float:
        return math.sqrt(x) if x >= 0.0 or x != x else _SQRT_OF_NEGATIVE
    if type(x) is np.ndarray:
        return _np_sqrt(x, x)  # out passed positionally: the keyword costs ~40 ns more per call
    return _np_sqrt(x)  # a NumPy scalar: arithmetic on a 0-d parameter gives one, and it has no buffer


def maximum_(a, b):
    """``np.maximum(a, b)`` into ``a`` for an array (returned), else as a new value.

    The float branch keeps np.maximum's semantics: a NaN on either side propagates, and
    a tie gives ``b`` (``max(0.0, -0.0)`` is ``-0.0``).
    """
    if type(a) is float:
        return a if a > b or a != a else b
    if type(a) is np.ndarray:
        return _np_maximum(a, b, out=a)
    return _np_maximum(a, b)  # a NumPy scalar (from arithmetic on a 0-d parameter) has no buffer


def sign(x):
    """``np.sign(x)``: a new array, or a float (``sign(±0.0)`` is ``0.0``, ``sign(nan)`` is NaN)."""
    if type(x) is float:
        if x > 0.0:
            return 1.0
        if x < 0.0:
            return -1.0
        return 0.0 if x == 0.0 else x
    return _np_sign(x)
