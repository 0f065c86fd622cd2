"""A Playground scene as a standalone PyTorch script a teacher can download and run.

:func:`torch_script` writes one Python file that needs only NumPy, torch and the reference
package of each non-torch.optim optimizer in the scene (named in the script with its pip
line). It never imports ``optim_core`` or ``app``. The script

- writes the surface as a torch function ``f(theta)`` of a 2-element float64 tensor, so
  autograd gives the gradient (a custom formula is compiled from its parsed expression graph,
  :mod:`optim_core.formula`, one torch call per node: no user text is evaluated anywhere);
- builds each run's optimizer (``torch.optim.<Name>`` where torch has it, otherwise the
  library the tests compare optim_core with), its lr schedule (``torch.optim.lr_scheduler``,
  built by the same code as the Schedules page's "copy as PyTorch"), gradient clipping
  (``clip_grad_value_`` then ``clip_grad_norm_``, the engine's order) and Lookahead
  (``pytorch_optimizer.Lookahead``);
- adds the app's seeded gradient noise, re-implemented in a few lines of NumPy with the same
  SplitMix64 constants (:mod:`optim_core.stochastic`): mini-batch offsets, then Gaussian noise,
  added to the exact gradient before clipping, as the engine's oracle does;
- stops a run as the engine does (:func:`optim_core.engine.run_trajectories`): at a step whose
  loss is not finite, or after a step that leaves the box ``|x|, |y| <= bound``; its path is
  NaN from that step on;
- prints each run's final position and loss, saves the paths to ``paths.npz`` (``--out``) and
  draws them with ``--plot`` (matplotlib, imported only then);
- in a low-precision scene (``Scene.precision``), stores every parameter and state buffer as the
  engine does (:mod:`optim_core.precision`): the optimizer's float64 step, then one rounding to the
  dtype (correctly: torch's float64 -> bfloat16 cast rounds twice), the gradient taken at the stored
  point (fp32 master weights: at a low-precision copy) and rounded; each run's remedy written out
  (Kahan's buffer, stochastic rounding from the app's own NumPy stream, so the same roundings), and
  the updates rounded away counted and printed. Every torch.optim optimizer and the references are
  reproduced so; Adam8bit only approximately (:func:`precision_notes`: the header says so). A run
  with Lookahead is refused in low precision, as the engine refuses it.

What it refuses (:class:`ValueError` naming the run): a scene the app refuses; Adafactor with a
schedule (transformers' Adafactor keeps ``beta1``, not ``betas``, so torch's schedulers cannot
cycle it, and its relative step ignores the lr); Sophia with a non-default ε (SophiaG hard-codes
``1e-15``) or with Lookahead (the reference Lookahead syncs inside its step, before the Hessian
refresh the app does at the fast weights); Adam8bit with a block size other than 256
(bitsandbytes' only one); ``maximize``. Where a reference's numbers differ from the app's, the
script says so in a comment: Adam8bit (bitsandbytes computes in float32: the paths agree to
float32 precision, not to float64's) and Sophia (SophiaG divides by ``ρh + 1e-15``: the same
while the Hessian estimate is non-negative, a step up the gradient where it is negative).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from app.playground.scene import RunConfig, Scene, SceneError, make_surface, scene_start, unique_labels
from app.ui.controls import batch_size_of
from optim_core import registry

__all__ = ["torch_script", "TORCH_OPTIMIZERS", "REFERENCE_OPTIMIZERS"]

# torch.optim's classes with the registry's keywords (OptimizerInfo.torch_twin).
TORCH_OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "NAdam", "RAdam", "Adamax")
# The others: the library the tests compare optim_core with, and its pip line.
REFERENCE_OPTIMIZERS = {
    "Lion": "lion-pytorch",
    "LAMB": "timm",
    "LARS": "timm",
    "Adafactor": "transformers",
    "Sophia": "sophia-opt",
    "Adam8bit": "bitsandbytes",
}
_LOOKAHEAD_PIP = "pytorch-optimizer"
_SOPHIA_EPS = 1e-15  # SophiaG's floor: ρ·bs·h + 1e-15
_BNB_BLOCK = 256
# Low precision (Scene.precision): the torch dtype of each storage type, and the runs whose step the
# script cannot round exactly as the app does, with the reason the script's header and the menu give.
_TORCH_DTYPES = {"float32": "torch.float32", "bfloat16": "torch.bfloat16", "float16": "torch.float16"}
_APPROXIMATE = {
    "Adam8bit": "bitsandbytes computes in float32, so now and then a value is stored one ulp away from the "
                "app's, and the paths drift apart from there",
}
_REMEDY_WORDS = {"master": "fp32 master weights", "kahan": "Kahan summation", "stochastic": "stochastic rounding"}


def _lit(v: Any) -> str:
    """A Python literal that round-trips exactly (floats by repr)."""
    if isinstance(v, (bool, np.bool_)):
        return repr(bool(v))
    if v is None:
        return "None"
    if isinstance(v, (int, np.integer)):
        return repr(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "math.nan"
        if math.isinf(v):
            return "math.inf" if v > 0 else "-math.inf"
        return repr(v)
    if isinstance(v, (tuple, list)):
        inner = ", ".join(_lit(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, str):
        return repr(v)
    raise TypeError(f"cannot write {v!r} as a literal")


def _kw(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_lit(v)}" for k, v in params.items())


# ---------------------------------------------------------------------------------------
# Surfaces
# ---------------------------------------------------------------------------------------

def _quadratic(s) -> list[str]:
    return [
        f"dx = x - {_lit(s._cx)}",
        f"dy = y - {_lit(s._cy)}",
        f"gx = {_lit(s._a)} * dx + {_lit(s._b)} * dy",
        f"gy = {_lit(s._b)} * dx + {_lit(s._c)} * dy",
        f"return 0.5 * (dx * gx + dy * gy) + {_lit(s.min_value)}",
    ]


def _surface_body(name: str, s) -> list[str]:
    """The lines of ``f``'s body (``x, y`` are 0-d tensors): the expression of the surface's ``_fg``."""
    if name in ("Quadratic bowl", "Ravine", "Rotated ravine", "Booth", "Matyas"):
        return _quadratic(s)
    if name == "Saddle":
        return ["return x * x - y * y"]
    if name == "Monkey saddle":
        return ["x2 = x * x", "y2 = y * y", "return x * (x2 - 3.0 * y2)"]
    if name == "Plateau cliff":
        return [
            f"k, H, a = {_lit(s.sharpness)}, {_lit(s.height)}, {_lit(s.curvature)}",
            "alpha = a / H",
            f"s = torch.sigmoid(k * (x - {_lit(s.center)}))  # 1/(1 + exp(k(c - x))): the cliff",
            f"d = x - {_lit(s.bowl_x)}",
            "G = torch.exp(-0.5 * alpha * (d * d + y * y))  # the well",
            "return H - H * (s * G)",
        ]
    if name == "Rosenbrock":
        return [f"u = {_lit(s.a)} - x", "w = y - x * x", f"bw = {_lit(s.b)} * w", "return u * u + bw * w"]
    if name == "Beale":
        return [
            "y2 = y * y",
            "y3 = y2 * y",
            "t1 = 1.5 - x + x * y",
            "t2 = 2.25 - x + x * y2",
            "t3 = 2.625 - x + x * y3",
            "return t1 * t1 + t2 * t2 + t3 * t3",
        ]
    if name == "McCormick":
        return ["s = x + y", "d = x - y", "return torch.sin(s) + d * d - 1.5 * x + 2.5 * y + 1.0"]
    if name == "Goldstein-Price":
        return [
            "a = x + y + 1.0",
            "b = 2.0 * x - 3.0 * y",
            "P = 19.0 - 14.0 * x + 3.0 * x * x - 14.0 * y + 6.0 * x * y + 3.0 * y * y",
            "Q = 18.0 - 32.0 * x + 12.0 * x * x + 48.0 * y - 36.0 * x * y + 27.0 * y * y",
            "A = 1.0 + (a * a) * P",
            "B = 30.0 + (b * b) * Q",
            "return A * B",
        ]
    if name == "Himmelblau":
        return ["u = x * x + y - 11.0", "v = x + y * y - 7.0", "return u * u + v * v"]
    if name == "Three-hump camel":
        return ["x2 = x * x", "x4 = x2 * x2", "return x2 * (2.0 - 1.05 * x2 + x4 / 6.0) + x * y + y * y"]
    if name == "Six-hump camel":
        return ["x2 = x * x", "y2 = y * y",
                "return x2 * (4.0 - 2.1 * x2 + x2 * x2 / 3.0) + x * y + y2 * (4.0 * y2 - 4.0)"]
    if name == "Styblinski-Tang":
        return ["x2 = x * x", "y2 = y * y", "return 0.5 * (x2 * (x2 - 16.0) + y2 * (y2 - 16.0) + 5.0 * (x + y))"]
    if name == "Rastrigin":
        return [
            f"A = {_lit(s.A)}",
            "tx = 2.0 * math.pi * x",
            "ty = 2.0 * math.pi * y",
            "return 2.0 * A + x * x + y * y - A * (torch.cos(tx) + torch.cos(ty))",
        ]
    if name == "Ackley":
        return [
            "s = 0.5 * (x * x + y * y)",
            "# sqrt(s), with the cone's symmetric subgradient 0 at its tip (where sqrt's derivative is infinite)",
            "r = torch.where(s > 0.0, torch.sqrt(torch.where(s > 0.0, s, 1.0)), 0.0)",
            "m1 = torch.expm1(-0.2 * r)",
            "E = torch.exp(0.5 * (torch.cos(2.0 * math.pi * x) + torch.cos(2.0 * math.pi * y)))",
            "return (math.e - E) - 20.0 * m1",
        ]
    if name == "Ripple bowl":
        return ["s = x * x + y * y", "q = 1.0 / (s + 1.0)", "return torch.sin(s) * q + 0.1 * s"]
    raise ValueError(f"The surface {name!r} has no torch version yet.")


_TORCH_FUNCS = {
    "sin": "torch.sin", "cos": "torch.cos", "tan": "torch.tan", "exp": "torch.exp", "log": "torch.log",
    "sqrt": "torch.sqrt", "abs": "torch.abs", "sign": "torch.sign", "tanh": "torch.tanh", "sinh": "torch.sinh",
    "cosh": "torch.cosh", "arctan": "torch.atan", "sigmoid": "torch.sigmoid", "softplus": "softplus",
    "max": "fmax", "min": "fmin",
}
_BINARY = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_FORMULA_HELPERS = '''
def fmax(a, b):
    """max(a, b), its derivative following a on ties (as the app's); NaN stays NaN."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    return torch.where(torch.isnan(a) | torch.isnan(b), a + b, torch.where(a >= b, a, b))


def fmin(a, b):
    """min(a, b), its derivative following a on ties (as the app's); NaN stays NaN."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    return torch.where(torch.isnan(a) | torch.isnan(b), a + b, torch.where(b >= a, a, b))


def softplus(u):
    """log(1 + e^u), as numpy.logaddexp(0, u) (torch's softplus turns linear above 20)."""
    return torch.logaddexp(torch.zeros_like(u), u)

'''


def _formula_body(text: str) -> list[str]:
    """``f``'s body for a custom formula: one line per node of the app's simplified expression graph.

    The graph is the one the app evaluates (constants folded, ``x/3`` read as ``0.333...*x``), so
    the values are the app's operation for operation; autograd then differentiates it.
    """
    from optim_core import formula as F

    try:
        tree = F._Parser(text).parse()
        graph = F._Graph()
        root = F._build(tree, graph, text)
    except F.FormulaError as exc:
        raise ValueError(f"The formula was refused: {exc}") from None
    names: dict[int, str] = {}
    lines: list[str] = []
    for n in F._postorder([root]):
        op, args = n.op, [names.get(a.id, "") for a in n.args]
        if op == "const":
            names[n.id] = _lit(n.value)
            continue
        if op in ("x", "y"):
            names[n.id] = op
            continue
        if op in _BINARY:
            expr = f"{args[0]} {_BINARY[op]} {args[1]}"
        elif op == "neg":
            expr = f"-{args[0]}"
        elif op == "powc":
            c = n.value
            expr = (f"torch.square({args[0]})" if c == 2.0 else f"torch.sqrt({args[0]})" if c == 0.5
                    else f"1.0 / {args[0]}" if c == -1.0 else f"torch.pow({args[0]}, {_lit(c)})")
        elif op == "pow":
            expr = f"torch.pow(torch.as_tensor({args[0]}), {args[1]})"
        elif op in _TORCH_FUNCS:
            expr = f"{_TORCH_FUNCS[op]}({', '.join(args)})"
        else:  # pragma: no cover - every op of the parser is listed above
            raise ValueError(f"The formula uses {op!r}, which has no torch version yet.")
        name = f"v{len(lines)}"
        lines.append(f"{name} = {expr}")
        names[n.id] = name
    result = names[root.id]
    if root.op == "const" or root.op in ("x", "y"):
        lines.append(f"return x * 0.0 + {result}" if root.op == "const" else f"return {result} + 0.0")
    else:
        lines[-1] = "return " + lines[-1].split(" = ", 1)[1]
    return lines


# ---------------------------------------------------------------------------------------
# Optimizers and schedules
# ---------------------------------------------------------------------------------------

def _refuse(i: int, run: RunConfig, why: str):
    return ValueError(f"Run {i + 1} ({run.optimizer}): {why}")


def _optimizer_lines(i: int, run: RunConfig, hp: dict[str, Any]) -> tuple[list[str], set[str], list[str]]:
    """``(lines building `optimizer` from `theta`, pip packages, notes)``."""
    name = run.optimizer
    if hp.pop("maximize", False):
        raise _refuse(i, run, "maximize makes no sense on a loss surface.")
    info = registry.get_optimizer(name)
    kw = info.cls.keywords(hp)
    kw.pop("maximize", None)
    if name in TORCH_OPTIMIZERS:
        return [f"optimizer = torch.optim.{name}([theta], {_kw(kw)})"], set(), []
    if name == "Lion":
        return ["from lion_pytorch import Lion  # pip install lion-pytorch",
                f"optimizer = Lion([theta], {_kw(kw)})"], {"lion-pytorch"}, []
    if name == "LAMB":
        kw.update(max_grad_norm=None, always_adapt=True, trust_clip=False, bias_correction=True,
                  grad_averaging=True, decoupled_decay=False)
        return ['Lamb = timm_optimizer("lamb", "Lamb")  # pip install timm',
                "# timm's Lamb without its global clipping, the trust ratio on every tensor: optax.lamb, the app's",
                f"optimizer = Lamb([theta], {_kw(kw)})"], {"timm"}, []
    if name == "LARS":
        kw["trust_coeff"] = kw.pop("trust_coefficient")
        kw.update(dampening=0.0, nesterov=False, always_adapt=True, trust_clip=False)
        return ['Lars = timm_optimizer("lars", "Lars")  # pip install timm',
                f"optimizer = Lars([theta], {_kw(kw)})"], {"timm"}, []
    if name == "Adafactor":
        if run.schedule:
            raise _refuse(i, run, f"a schedule ({run.schedule}) cannot drive transformers' Adafactor the way the "
                                  "app does: its relative step ignores the lr, and torch's schedulers cannot "
                                  "cycle its beta1 (it keeps no `betas`).")
        return ["from transformers.optimization import Adafactor  # pip install transformers",
                f"optimizer = Adafactor([theta], {_kw(kw)})"], {"transformers"}, []
    if name == "Sophia":
        eps = kw.pop("eps")
        kw.pop("hessian_interval")
        if eps != _SOPHIA_EPS:
            raise _refuse(i, run, f"SophiaG's floor under ρh is fixed at {_SOPHIA_EPS:g}; the app's ε = {eps:g} "
                                  "cannot be reproduced with it (set ε back to its default).")
        if run.lookahead is not None:
            raise _refuse(i, run, "Sophia with Lookahead: the reference Lookahead syncs inside its step, before "
                                  "the Hessian refresh the app does at the fast weights.")
        return ["from sophia_opt import SophiaG  # pip install sophia-opt",
                "# SophiaG divides by rho*bs*h + 1e-15 (bs=1 here), the app by max(rho*h, 1e-15): the same while",
                "# the Hessian estimate is >= 0; where it is negative SophiaG steps up the gradient (the app: a sign",
                "# step).",
                f"optimizer = SophiaG([theta], {_kw(kw)})"], {"sophia-opt"}, []
    if name == "Adam8bit":
        block = kw.pop("block_size")
        if block != _BNB_BLOCK:
            raise _refuse(i, run, f"bitsandbytes' 8-bit Adam always uses blocks of {_BNB_BLOCK} (asked for {block}).")
        kw["min_8bit_size"] = 0
        return ["import bitsandbytes as bnb  # pip install bitsandbytes",
                "# bitsandbytes' CPU kernel computes in float32: this path agrees with the app's to float32",
                "# precision (about 1e-7 per step, compounding), not to float64's like the other runs.",
                f"optimizer = bnb.optim.Adam8bit([theta], {_kw(kw)})"], {"bitsandbytes"}, []
    raise _refuse(i, run, "this optimizer has no PyTorch version in the script yet.")


def _snippet_parts(snippet: str) -> tuple[list[str], list[str], str | None]:
    """``(preamble, scheduler lines, metric)`` of a schedule's "copy as PyTorch" snippet."""
    lines = snippet.splitlines()
    model = next(k for k, ln in enumerate(lines) if ln.startswith("model = "))
    first = next(k for k, ln in enumerate(lines) if k > model and ln.startswith("optimizer = "))
    end = next(k for k, ln in enumerate(lines) if k > first and ln == "lrs = []")
    body = 0
    while body < model and (lines[body].startswith("import ") or lines[body].startswith("from ") or not lines[body]):
        body += 1
    preamble = [ln for k, ln in enumerate(lines[body:model], body) if ln.strip() or lines[k - 1].strip()]
    while preamble and not preamble[-1].strip():
        preamble.pop()
    sched = [ln for ln in lines[first + 1:end]]
    while sched and not sched[-1].strip():
        sched.pop()
    metric = "scheduler.step(val_loss)" if any("scheduler.step(val_loss)" in ln for ln in lines[end:]) else None
    return preamble, sched, metric


def _schedule_lines(i: int, run: RunConfig, lr: Any, steps: int) -> tuple[list[str], bool]:
    """Lines building `scheduler` for `optimizer` (the base optimizer), and whether it steps on the loss."""
    name = run.schedule
    try:
        info = registry.get_schedule(name)
    except KeyError:
        raise _refuse(i, run, f"unknown schedule {name!r}.") from None
    if lr is None:
        raise _refuse(i, run, f"{name} needs an lr to schedule (this run has none).")
    params = dict(run.schedule_params)
    opt = registry.get_optimizer(run.optimizer)
    if info.cycles_momentum and opt.with_role("cycled_momentum") is None and params.get("cycle_momentum", True):
        # The engine leaves an optimizer without a momentum alone; torch would raise.
        params["cycle_momentum"] = False
    if not info.needs_metric:
        try:
            info.curve(steps, float(lr), **params)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise _refuse(i, run, f"the schedule {name} was refused: {exc}") from None
    try:
        snippet = info.pytorch(base_lr=float(lr), n_steps=int(steps), optimizer=None, hypers=None, **params)
        preamble, sched, metric = _snippet_parts(snippet)
    except (TypeError, ValueError, StopIteration) as exc:
        raise _refuse(i, run, f"the schedule {name} cannot be written for torch: {exc}") from None
    if not any(ln.startswith("scheduler = ") for ln in sched):
        raise _refuse(i, run, f"the schedule {name} cannot be written for torch.")
    return [*preamble, *sched], metric is not None


# ---------------------------------------------------------------------------------------
# The script
# ---------------------------------------------------------------------------------------

_HEADER = '''#!/usr/bin/env python3
"""{title}

An Optimizer Explorer scene reproduced with PyTorch: the same surface, start, optimizers,
hyperparameters, schedules, clipping{noise_words}, {stored}. Every run is raced on its own.
{precision_note}
    python {filename} [--out paths.npz] [--plot]

Needs: {needs}
Prints each run's final position and loss, saves the paths (runs x steps+1 x 2, NaN after a
divergence) to paths.npz, and with --plot draws them with matplotlib (if installed).
"""

import argparse
import math

import numpy as np
import torch

torch.set_default_dtype(torch.float64)  # torch keeps some optimizer scalars (steps) in the default dtype

STEPS = {steps}
# A run has diverged when its loss is not finite, or once |x| or |y| exceeds BOUND: its path
# ends there (NaN from that step on), as in the app.
BOUND = {bound}
'''

_NOISE_CODE = '''

# ---------------------------------------------------------------------------------------
# Gradient noise: the app's seeded draws (SplitMix64 hashing + Box-Muller), in NumPy.
# Every draw is a function of (seed, step, row) only; every run is row 0, so all runs
# meet the same noise at the same step.
# ---------------------------------------------------------------------------------------
SEED = {seed}
NOISE = {noise}  # sigma of the Gaussian noise added to each gradient coordinate
N_SAMPLES = 64  # the "dataset": f is the mean of 64 sub-losses f_i = f + c_i . theta
SPREAD = 1.0  # standard deviation of the offsets c_i
M64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15  # SplitMix64's golden-ratio increment
GAMMA2 = 0xD1B54A32D192ED03  # a second odd constant, for draw indices
SALT_NOISE = 0x6A09E667F3BCC909
SALT_BATCH = 0xBB67AE8584CAA73B
SALT_OFFSETS = 0x3C6EF372FE94F82B


def mix_int(z):
    """SplitMix64's finalizer on a Python int."""
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def mix(z):
    """SplitMix64's finalizer on a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def gaussian_pairs(keys):
    """Two standard normals per uint64 key (Box-Muller): shape keys.shape + (2,)."""
    with np.errstate(over="ignore"):
        a = mix(keys + np.uint64(GAMMA2))
        b = mix(keys + np.uint64((2 * GAMMA2) & M64))
    u1 = ((a >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0 ** -53  # (0, 1]
    u2 = (b >> np.uint64(11)).astype(np.float64) * 2.0 ** -53  # [0, 1)
    r = np.sqrt(-2.0 * np.log(u1))
    t = (2.0 * math.pi) * u2
    out = np.empty(keys.shape + (2,))
    out[..., 0] = r * np.cos(t)
    out[..., 1] = r * np.sin(t)
    return out


SEED_KEY = mix_int(mix_int(SEED) + GAMMA)


def step_key(step, salt):
    """The uint64 key of row 0 at ``step``."""
    return mix(np.array([mix_int(mix_int(SEED_KEY ^ salt) + (step & M64) * GAMMA2)], dtype=np.uint64))


def make_offsets():
    """The 64 offsets c_i: zero sum exactly, standard deviation SPREAD, on a power-of-two grid."""
    n = N_SAMPLES
    keys = np.uint64(mix_int(SEED_KEY ^ SALT_OFFSETS)) + np.arange(n, dtype=np.uint64) * np.uint64(GAMMA)
    with np.errstate(over="ignore"):
        z = gaussian_pairs(mix(keys))
    z -= z.mean(axis=0)
    z *= SPREAD / z.std(axis=0, ddof=1)
    quantum = 2.0 ** (math.floor(math.log2(SPREAD)) - 24)
    q = np.rint(z / quantum).astype(np.int64)
    q -= q.sum(axis=0) // n
    for k in range(2):
        r = int(q[:, k].sum())
        if r:
            q[np.argsort(q[:, k])[-r:], k] -= 1
    return q.astype(np.float64) * quantum


OFFSETS = make_offsets()


def batch_mean(step, b):
    """The mean offset of step ``step``'s mini-batch of ``b`` samples (drawn without replacement)."""
    draw = np.arange(1, N_SAMPLES + 1, dtype=np.uint64) * np.uint64(GAMMA2)
    with np.errstate(over="ignore"):
        keys = mix(step_key(step, SALT_BATCH)[:, None] + draw)[0]
    if 2 * b <= N_SAMPLES:
        total = OFFSETS[np.argpartition(keys, b - 1)[:b]].sum(axis=0)
    else:  # the batch sum is minus the sum left out
        total = -OFFSETS[np.argpartition(keys, b - 1)[b:]].sum(axis=0)
    return total / b


def gaussian_noise(step):
    """NOISE times two standard normals for ``step``."""
    return NOISE * gaussian_pairs(step_key(step, SALT_NOISE))[0]


def noisy(theta, loss, grad, step, batch):
    """The app's stochastic oracle: (loss, grad) of a mini-batch of ``batch`` samples (None: all),
    plus Gaussian noise. Changes ``grad`` in place; returns the loss it saw."""
    value = loss
    if batch is not None:
        c = batch_mean(step, batch)
        x, y = theta.detach().tolist()
        value = loss + (c[0] * x + c[1] * y)
        grad += torch.from_numpy(c)
    if NOISE > 0.0:
        grad += torch.from_numpy(gaussian_noise(step))
    return value
'''

_PRECISION_CODE = '''

# ---------------------------------------------------------------------------------------
# Storage in @DTYPE@: the app's model of a low-precision step
# ---------------------------------------------------------------------------------------
# Each step is computed in float64 by the optimizer; then the parameter and every state
# buffer are rounded once to the type they are stored in, as torch's fused CPU kernels
# (torch.optim.SGD/Adam(fused=True) on bfloat16 or float16 tensors) store each tensor once
# per step. The numbers are kept in float64 tensors, each one a @DTYPE@ value. The gradient
# is taken at the stored parameter (fp32 master weights: at a @DTYPE@ copy of it) and rounded
# to @DTYPE@, as a low-precision param.grad holds it.
DTYPE = @TORCH_DTYPE@  # parameters and optimizer state (with fp32 master weights: float32)
ROUNDING_SEED = @SEED@  # stochastic rounding: run k draws from default_rng([ROUNDING_SEED, k]), as the app


def round_to(x, dtype):
    """x (float64) rounded once to the nearest value of dtype (ties to even), back in float64.

    torch casts float64 to bfloat16 or float16 through float32, which can round twice (1 + 2**-8
    + 2**-30 becomes 1.0 in bfloat16, not 1 + 2**-7). Rounding to float32 "to odd" first (towards
    zero, its last bit set when anything was dropped) makes the second rounding the right one.
    """
    if dtype in (torch.float64, torch.float32):
        return x.to(dtype).to(torch.float64)
    y = x.to(torch.float32)
    dropped = y.to(torch.float64) != x
    y = torch.where(dropped & (y.to(torch.float64).abs() > x.abs()), torch.nextafter(y, torch.zeros_like(y)), y)
    y = torch.where(dropped & torch.isfinite(y), (y.view(torch.int32) | 1).view(torch.float32), y)
    return y.to(dtype).to(torch.float64)


def stochastic_round(x, dtype, rng):
    """x rounded to one of its two neighbouring dtype values at random: up with probability equal
    to its distance from the lower one, in ulps, so right on average. One uniform number per value
    from the NumPy generator rng, drawn as the app draws them: the same roundings as the app's."""
    r = round_to(x, dtype)
    near = r.to(dtype)
    lower = torch.nextafter(near, torch.full_like(near, -math.inf)).to(torch.float64)
    upper = torch.nextafter(near, torch.full_like(near, math.inf)).to(torch.float64)
    down, up = torch.where(r > x, lower, r), torch.where(r < x, upper, r)
    u = torch.from_numpy(rng.random(tuple(x.shape)))
    gap = up - down
    p_up = torch.where(gap > 0, (x - down) / torch.where(gap > 0, gap, 1.0), 0.0)
    return torch.where(torch.isfinite(gap), torch.where(u < p_up, up, down), r)


class Storage:
    """How one run stores its numbers: its remedy, its Kahan buffer and random stream, and how
    many updates of each coordinate were rounded away (moved in float64, stored unchanged)."""

    def __init__(self, run):
        self.remedy = run["remedy"]
        self.store = torch.float32 if self.remedy == "master" and DTYPE.itemsize < 4 else DTYPE
        self.rng = np.random.default_rng([ROUNDING_SEED, run["index"]])
        self.comp = torch.zeros(2)  # Kahan: what the last roundings dropped, itself stored in DTYPE
        self.lost = np.zeros(2, dtype=np.int64)

    def start(self, xy):
        return round_to(torch.tensor(xy), self.store).requires_grad_(True)

    def point(self, theta):
        """Where the gradient is taken: the stored parameter, or (master weights) its DTYPE copy."""
        if self.store == DTYPE:
            return theta
        return round_to(theta.detach(), DTYPE).requires_grad_(True)

    def round(self, optimizer, theta, before):
        """After optimizer.step(): the new parameter stored by the remedy, every state buffer to nearest."""
        with torch.no_grad():
            exact = theta.detach().clone()
            if self.remedy == "stochastic":
                new = stochastic_round(exact, self.store, self.rng)
            elif self.remedy == "kahan":  # add the update to the buffer, the buffer to theta; keep what did not arrive
                c = round_to(self.comp + (exact - before), self.store)
                new = round_to(before + c, self.store)
                self.comp = round_to(c - (new - before), self.store)
            else:
                new = round_to(exact, self.store)
            self.lost += ((exact != before) & (new == before)).numpy()
            theta.copy_(new)
            for value in optimizer.state[theta].values():
                if torch.is_tensor(value) and value.shape == theta.shape and value.is_floating_point():
                    value.copy_(round_to(value, self.store))
'''

# The race loop's lines that change in low precision (each must be in _RACE_CODE exactly once).
_PRECISION_RACE = (
    ('    theta = torch.tensor(run["start"], dtype=torch.float64, requires_grad=True)\n',
     '    storage = Storage(run)\n    theta = storage.start(run["start"])\n'),
    ('        loss = f(theta)\n        loss.backward()\n        value = loss.item()\n        if run["stochastic"]:\n'
     '            value = noisy(theta, value, theta.grad, t, run["batch"])\n',
     '        point = storage.point(theta)  # the parameter, or its DTYPE copy (master weights)\n'
     '        loss = f(point)\n        loss.backward()\n        value = loss.item()\n        if run["stochastic"]:\n'
     '            value = noisy(point, value, point.grad, t, run["batch"])\n'
     '        theta.grad = round_to(point.grad, DTYPE)  # the gradient as a DTYPE param.grad holds it\n'),
    ('        run["step"](optimizer, base, theta, t + 1)\n',
     '        run["step"](optimizer, base, theta, t + 1, storage)\n'),
    ('    return path, losses, diverged_at, why\n',
     '    run["lost"] = storage.lost\n    return path, losses, diverged_at, why\n'),
    ('labels=np.array([run["label"] for run in RUNS]))\n',
     'labels=np.array([run["label"] for run in RUNS]),\n'
     '             lost=np.stack([run["lost"] for run in RUNS]))\n'
     '    for run in RUNS:\n'
     '        x, y = run["lost"]\n'
     '        held = "held back in the Kahan buffer" if run["remedy"] == "kahan" else "rounded away"\n'
     '        print(f"{run[\'label\']}: {x} x and {y} y updates {held} (not zero, stored unchanged)")\n'),
)


def _low_precision_race(code: str) -> str:
    for old, new in _PRECISION_RACE:
        if code.count(old) != 1:  # pragma: no cover - _RACE_CODE was edited without this table
            raise RuntimeError(f"the race code has no single line {old.strip()!r} to store in low precision")
        code = code.replace(old, new)
    return code


_TIMM_CODE = '''

def timm_optimizer(module, name):
    """timm's optimizer ``name`` from timm/optim/<module>.py (pip install timm).

    Loaded from its file, in a stand-in package: timm's own __init__ imports torchvision, which
    must match your torch build exactly to import at all.
    """
    import importlib
    import importlib.util
    import os
    import sys
    import types

    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("This scene needs timm: pip install timm")
    package = sys.modules.get("_timm_optim_files")
    if package is None:
        package = types.ModuleType("_timm_optim_files")
        package.__path__ = [os.path.join(list(spec.submodule_search_locations)[0], "optim")]
        sys.modules["_timm_optim_files"] = package
    return getattr(importlib.import_module(f"_timm_optim_files.{module}"), name)
'''

_RACE_CODE = '''

# ---------------------------------------------------------------------------------------
# The race: one run at a time, the app's order of operations at every step.
# ---------------------------------------------------------------------------------------
def race(run):
    theta = torch.tensor(run["start"], dtype=torch.float64, requires_grad=True)
    optimizer, scheduler, base = run["build"](theta)
    path = np.full((STEPS + 1, 2), np.nan)
    losses = np.full(STEPS + 1, np.nan)
    diverged_at, why = -1, ""
    for t in range(STEPS + 1):
        optimizer.zero_grad()
        loss = f(theta)
        loss.backward()
        value = loss.item()
        if run["stochastic"]:
            value = noisy(theta, value, theta.grad, t, run["batch"])
        if not math.isfinite(value):
            diverged_at, why = t, "the loss became infinite or NaN"
            break
        path[t] = theta.detach().numpy()
        losses[t] = value
        if t == STEPS:
            break
        if run["clip_value"] is not None:
            torch.nn.utils.clip_grad_value_([theta], run["clip_value"])
        if run["clip_norm"] is not None:
            torch.nn.utils.clip_grad_norm_([theta], run["clip_norm"])
        run["step"](optimizer, base, theta, t + 1)
        if scheduler is not None:
            scheduler.step(value) if run["plateau"] else scheduler.step()
        with torch.no_grad():
            if not bool((theta.abs() <= BOUND).all()):
                diverged_at = t + 1
                why = f"left the region |x|, |y| <= {BOUND:g}" if bool(theta.isfinite().all()) else \\
                    "the position became infinite or NaN"
                break
    return path, losses, diverged_at, why


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--out", default="paths.npz", help="where to save the paths (default: paths.npz)")
    parser.add_argument("--plot", action="store_true", help="draw the paths (needs matplotlib)")
    args = parser.parse_args()
    results = [race(run) for run in RUNS]
    width = max(len(run["label"]) for run in RUNS)
    print(f"{'run':<{width}}  {'x':>12}  {'y':>12}  {'loss':>14}  note")
    for run, (path, losses, diverged_at, why) in zip(RUNS, results):
        last = STEPS if diverged_at < 0 else diverged_at - 1
        x, y = path[last] if last >= 0 else (math.nan, math.nan)
        note = "" if diverged_at < 0 else f"diverged at step {diverged_at}: {why}"
        loss = losses[last] if last >= 0 else math.nan
        print(f"{run['label']:<{width}}  {x:>12.6g}  {y:>12.6g}  {loss:>14.8g}  {note}")
    np.savez(args.out, paths=np.stack([r[0] for r in results]), losses=np.stack([r[1] for r in results]),
             diverged_at=np.array([r[2] for r in results]), labels=np.array([run["label"] for run in RUNS]))
    print(f"saved the paths to {args.out}")
    if args.plot:
        plot(results)


def plot(results):
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install matplotlib") from None
    (x0, x1), (y0, y1) = WINDOW
    X, Y = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    with torch.no_grad():
        Z = np.array([[f(torch.tensor([a, b])).item() for a, b in zip(xr, yr)] for xr, yr in zip(X, Y)])
    finite = Z[np.isfinite(Z)]
    fig, ax = plt.subplots(figsize=(7, 6))
    if finite.size:
        levels = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, 30)))
        ax.contour(X, Y, np.where(np.isfinite(Z), Z, np.nan), levels=levels if levels.size > 1 else 10,
                   cmap="viridis", linewidths=0.7)
    for run, (path, _, _, _) in zip(RUNS, results):
        ax.plot(path[:, 0], path[:, 1], ".-", color=run["color"] or None, label=run["label"], markersize=3)
        ax.plot(path[0, 0], path[0, 1], "o", color=run["color"] or None)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(TITLE)
    ax.legend(fontsize=8)
    plt.show()


if __name__ == "__main__":
    main()
'''


def _indent(lines, n: int = 4) -> list[str]:
    pad = " " * n
    return [pad + ln if ln.strip() else "" for ln in lines]


def torch_script(scene: Scene, filename: str = "scene.py") -> str:
    """A standalone PyTorch script (its text) that reproduces ``scene``'s race.

    Raises :class:`ValueError` naming the run for what cannot be reproduced (see the module
    docstring), and with the app's own message for a scene the app refuses.
    """
    from app.playground.race import refusals, validate

    errors = validate(scene)
    if errors:
        raise ValueError("The app refuses this scene: " + " ".join(errors))
    refused = refusals(scene)
    if refused:
        raise ValueError(" ".join(f"Run {i + 1} ({scene.runs[i].optimizer}): {msg}." for i, msg in refused.items()))
    try:
        surface = make_surface(scene)
    except SceneError as exc:
        raise ValueError(str(exc)) from None
    start = scene_start(scene, surface)
    bound = float(getattr(surface, "bound", math.inf))
    steps = int(scene.steps)

    if scene.is_custom:
        body = _formula_body(scene.formula)
        surface_doc = f"The custom formula f(x, y) = {surface.formula.text}"
        helpers = _FORMULA_HELPERS
    else:
        body = _surface_body(scene.surface, surface)
        params = dict(scene.surface_params)
        info = registry.get_surface(scene.surface)
        shown = {**info.defaults(), **params}
        surface_doc = f"{scene.surface}" + (f" ({_kw(shown)})" if shown else "")
        helpers = ""

    labels = unique_labels(scene.runs)
    low = scene.precision != "float64"
    pip: set[str] = {"numpy", "torch"}
    run_blocks: list[str] = []
    needs_timm = False
    for i, (run, label) in enumerate(zip(scene.runs, labels)):
        own = run.start
        s = own if own is not None else start
        if max(abs(s[0]), abs(s[1])) > bound:
            raise _refuse(i, run, f"its start ({s[0]:g}, {s[1]:g}) is outside the region |x|, |y| <= {bound:g}.")
        hp = {**registry.get_optimizer(run.optimizer).defaults(), **dict(run.hypers)}
        opt_lines, packages, _ = _optimizer_lines(i, run, dict(hp))
        pip |= packages
        needs_timm |= "timm" in packages
        sched_lines, plateau = ([], False)
        if run.schedule:
            sched_lines, plateau = _schedule_lines(i, run, hp.get("lr"), steps)
        build = [f"def build_run_{i + 1}(theta):", f'    """{label}: its optimizer and schedule."""']
        build += _indent(opt_lines)
        build.append("    base = optimizer")
        if sched_lines:
            build += _indent(sched_lines)
        else:
            build.append("    scheduler = None")
        if run.lookahead is not None:
            if low:  # the engine's refusal (optim_core.precision.attach)
                raise _refuse(i, run, f"Lookahead's slow weights are not modelled in {scene.precision}; race it "
                                      "in float64.")
            k, alpha = run.lookahead
            pip.add(_LOOKAHEAD_PIP)
            build += _indent([f"from pytorch_optimizer import Lookahead  # pip install {_LOOKAHEAD_PIP}",
                              "# syncs after steps k, 2k, ...: slow += alpha (fast - slow), fast = slow",
                              f"optimizer = Lookahead(base, k={int(k)}, alpha={_lit(float(alpha))})"])
        build.append("    return optimizer, scheduler, base")
        step_fn = "plain_step"
        if run.optimizer == "Sophia":
            step_fn = f"sophia_step_{i + 1}"
            build += ["", "", f"def {step_fn}(optimizer, base, theta, step{', storage' if low else ''}):",
                      *(["    before = theta.detach().clone()", "    optimizer.step(bs=1)",
                         "    storage.round(base, theta, before)  # stored, then the Hessian at the stored point"]
                        if low else ["    optimizer.step(bs=1)"]),
                      f"    if step % {int(hp['hessian_interval'])} == 0:",
                      "        # The app's Hessian estimate: the exact diagonal at the new point, folded into the EMA.",
                      "        h = torch.diagonal(torch.autograd.functional.hessian(f, theta.detach()))",
                      "        ema = optimizer.state[theta][\"hessian\"]",
                      f"        ema.copy_(ema * {_lit(float(hp['beta2']))} + (1 - {_lit(float(hp['beta2']))}) * h)"]
        run_blocks.append("\n".join(build))
        batch = batch_size_of(run.batch or scene.batch_size)
        if batch is not None and batch >= 64:
            batch = None
        stochastic = scene.noise > 0 or batch is not None
        entry = {
            "label": label,
            "color": run.color,
            "start": (float(s[0]), float(s[1])),
            "build": f"build_run_{i + 1}",
            "step": step_fn,
            "clip_value": None if run.clip_value is None else float(run.clip_value),
            "clip_norm": None if run.clip_norm is None else float(run.clip_norm),
            "plateau": plateau,
            "stochastic": stochastic,
            "batch": batch,
        }
        if low:
            entry.update(index=i, remedy=run.remedy)
        run_blocks.append("RUNS.append({\n" + "".join(
            f"    {k!r}: {v if k in ('build', 'step') else _lit(v)},\n" for k, v in entry.items()) + "})")

    stochastic = scene.noise > 0 or any((r.batch or scene.batch_size) for r in scene.runs)
    extra = sorted(pip - {"numpy", "torch"})
    needs = "pip install numpy torch" + (" " + " ".join(extra) if extra else "")
    noise_words = ""
    if stochastic:
        noise_words = f", the gradient noise (σ = {scene.noise:g}, seed {scene.seed})"
    title = f"{surface_doc}: {len(scene.runs)} run{'s' if len(scene.runs) > 1 else ''}, {steps} steps"
    if low:
        title += f", in {scene.precision}"
    window = getattr(surface, "window", ((-2.0, 2.0), (-2.0, 2.0)))
    parts = [
        _HEADER.format(title=title.replace('"""', "'''"), noise_words=noise_words, filename=filename, needs=needs,
                       steps=steps, bound=_lit(bound), stored=f"stored in {scene.precision}" if low else "in float64",
                       precision_note=_precision_header(scene)),
        f"TITLE = {_lit(title)}",
        f"WINDOW = {_lit(tuple(tuple(float(v) for v in w) for w in window))}",
        f"START = {_lit(tuple(float(v) for v in start))}  # the scene's start (a run may have its own)",
        "",
        helpers.rstrip("\n") + ("\n" if helpers else ""),
        "",
        "def f(theta):",
        f'    """{surface_doc.replace(chr(92), "/")}; theta is a float64 tensor [x, y]."""',
        "    x, y = theta[0], theta[1]",
        *_indent(body),
    ]
    if stochastic:
        parts.append(_NOISE_CODE.format(seed=int(scene.seed), noise=_lit(float(scene.noise))).rstrip("\n"))
    if needs_timm:
        parts.append(_TIMM_CODE.rstrip("\n"))
    if not low:
        parts += ["", "", "def plain_step(optimizer, base, theta, step):", "    optimizer.step()"]
        return _script_text(parts, run_blocks, _RACE_CODE)
    parts.append(_PRECISION_CODE.replace("@DTYPE@", scene.precision).replace(
        "@TORCH_DTYPE@", _TORCH_DTYPES[scene.precision]).replace("@SEED@", str(int(scene.seed))).rstrip("\n"))
    parts += ["", "", "def plain_step(optimizer, base, theta, step, storage):",
              "    before = theta.detach().clone()", "    optimizer.step()", "    storage.round(base, theta, before)"]
    return _script_text(parts, run_blocks, _low_precision_race(_RACE_CODE))


def precision_notes(scene: Scene) -> dict[int, str]:
    """The runs (by index) whose low-precision step the script reproduces only approximately, and why
    (empty in float64, and when every run is reproduced as the app computes it)."""
    if scene.precision == "float64":
        return {}
    return {i: _APPROXIMATE[r.optimizer] for i, r in enumerate(scene.runs) if r.optimizer in _APPROXIMATE}


def _precision_header(scene: Scene) -> str:
    """The header's paragraph on precision (empty in float64)."""
    if scene.precision == "float64":
        return ""
    from optim_core.precision import DTYPES

    bits = {"float32": 24, "bfloat16": 8, "float16": 11}[scene.precision]
    lines = [f"Precision: {scene.precision} ({bits} significant bits). Every run's parameter and optimizer state are "
             f"stored in {scene.precision}, so an update smaller than half an ulp is rounded away (the script "
             "prints how many were). The section \"Storage\" below computes each step and rounds it as the app "
             "does."]
    remedies = [f"run {i + 1} {_REMEDY_WORDS[r.remedy]}" for i, r in enumerate(scene.runs) if r.remedy != "none"]
    if remedies:
        lines.append("Remedies: " + ", ".join(remedies) + ".")
        if any(r.remedy == "master" for r in scene.runs) and DTYPES[scene.precision].itemsize >= 4:
            lines.append("(fp32 master weights change nothing in float32.)")
        if any(r.remedy == "stochastic" for r in scene.runs):
            lines.append(f"Stochastic rounding draws from NumPy's default_rng([{int(scene.seed)}, run index]), "
                         "the app's own random stream: the same roundings.")
    notes = precision_notes(scene)
    if notes:
        lines.append("NOT REPRODUCED EXACTLY: " + "; ".join(
            f"run {i + 1} ({scene.runs[i].optimizer}): {why}" for i, why in notes.items()) + ".")
    else:
        lines.append("Every path is the app's, except where a step lands exactly halfway between two "
                     f"{scene.precision} numbers and torch's float64 arithmetic breaks the tie the other way: the "
                     "paths are then one ulp apart for a few steps.")
    return "\n" + _wrap(" ".join(lines)) + "\n"


def _wrap(text: str, width: int = 96) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False))


def _script_text(head: list[str], run_blocks: list[str], tail: str) -> str:
    """A generated script: ``head``, then a "The runs" section appending each block to ``RUNS``,
    then ``tail``; at most two blank lines in a row."""
    parts = [*head, "", "",
             "# ---------------------------------------------------------------------------------------",
             "# The runs",
             "# ---------------------------------------------------------------------------------------",
             "RUNS = []", ""]
    for block in run_blocks:
        parts += ["", block, ""]
    parts.append(tail)
    text = "\n".join(parts)
    while "\n\n\n\n" in text:
        text = text.replace("\n\n\n\n", "\n\n\n")
    return text
