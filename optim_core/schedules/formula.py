r"""A schedule typed as a formula of the step: ``FormulaLR``, torch's LambdaLR with the formula as its lambda.

The formula is the multiplier of each group's base lr, as LambdaLR's ``lr_lambda``: after
``t`` calls of ``scheduler.step()`` the lr is ``base_lr * f(t)``, ``t = 0, 1, 2, ...``. Besides
``t`` it may use ``T``, the run's length (a parameter declared with the role ``run_length``, so
pages set it to their number of steps), the constants ``pi`` and ``e`` and the functions of
:data:`optim_core.formula.FUNCTIONS`:

    0.5*(1 + cos(pi*t/T))          cosine annealing to 0 over the run
    min(1, t/100) * 0.99**t        a linear warm-up over 100 steps times an exponential decay
    1/sqrt(max(t, 1))              inverse square root

It goes through the same parser as a custom surface (:func:`optim_core.formula.parse_expression`):
nothing typed is evaluated as Python, the same length, nesting, size and exponent limits hold,
and a refusal says what is wrong and at which column. A multiplier that is not a finite number
or is negative at some step is refused with that step: by the pure curve for the steps it spans,
by the class at the ``step()`` that reaches it (torch's LambdaLR would set a NaN or negative lr).

The pure curve evaluates the formula once on the whole step array; the class calls it once
per step, as LambdaLR calls its lambda. The "copy as PyTorch" snippet writes the formula as a
Python function over NumPy (``np.cos``, ``np.minimum``...), which gives inf or NaN where the app
does instead of raising as ``math`` would, and builds ``torch.optim.lr_scheduler.LambdaLR`` with it.
"""

from __future__ import annotations

import functools
import math
import re
from typing import TYPE_CHECKING

import numpy as np

from optim_core.entries import Hyper, ScheduleInfo
from optim_core.schedules._base import check_declared, check_steps, torch_snippet
from optim_core.schedules.lambdas import LambdaLR

if TYPE_CHECKING:
    from optim_core.formula import Expression

# optim_core.formula is imported where it is used: it imports optim_core.surfaces, which the package
# imports after the schedules.

__all__ = ["FormulaLR", "formula_lr", "compile_schedule_formula", "formula_multipliers", "formula_latex",
           "formula_python", "VARIABLES", "DEFAULT_FORMULA"]

OWNER = "FormulaLR"
VARIABLES = ("t", "T")  # the step (0-based, as LambdaLR's epoch) and the run's length
DEFAULT_FORMULA = "0.5*(1 + cos(pi*t/T))"


def compile_schedule_formula(formula) -> Expression:
    """``formula`` parsed as a function of ``t`` and ``T``, or a :class:`~optim_core.formula.FormulaError`
    (a ValueError) that says what is wrong and where."""
    if not isinstance(formula, str):
        from optim_core.formula import FormulaError

        raise FormulaError(f"the formula must be text, not {type(formula).__name__}")
    return _compiled(formula)


@functools.lru_cache(maxsize=256)
def _compiled(formula: str) -> Expression:
    from optim_core.formula import parse_expression

    return parse_expression(formula, VARIABLES)


def _refusal(value: float, step: int, T: int) -> ValueError:
    where = f"at step t = {step} (T = {T}) the formula gives"
    if math.isnan(value):
        return ValueError(f"{where} NaN (undefined: a log or square root of a negative number, 0/0, ...); "
                          "the multiplier must be a finite number >= 0")
    if math.isinf(value):
        return ValueError(f"{where} {'-' if value < 0 else ''}inf (it overflows or divides by zero); "
                          "the multiplier must be a finite number >= 0")
    return ValueError(f"{where} {value:.3g}, below 0: a negative multiplier makes the lr negative "
                      "(steps would climb the loss)")


def formula_multipliers(formula, n, T) -> np.ndarray:
    """``f(t)`` for ``t = 0..n-1`` at ``T``, float64; a ValueError at the first step where it is not a
    finite number >= 0."""
    expr = compile_schedule_formula(formula)
    n = check_steps(n)
    T = check_declared(OWNER, "T", T, why=" (the run's length)")
    m = np.asarray(expr(np.arange(n, dtype=np.float64), float(T)), dtype=np.float64)
    bad = ~(m >= 0)  # NaN included
    bad |= np.isinf(m)
    if bad.any():
        k = int(np.argmax(bad))
        raise _refusal(float(m[k]), k, T)
    return m


def formula_lr(n, base_lr, formula=DEFAULT_FORMULA, T=1000):
    """FormulaLR's lr for steps ``0..n-1``: ``base_lr * f(t)``, with ``T`` the run's length."""
    return {"lr": float(base_lr) * formula_multipliers(formula, n, T)}


class FormulaMultiplier:
    """A FormulaLR's ``lr_lambda``: ``f(step)`` at ``T``, a float. It holds only the formula's text and
    ``T`` (so a scheduler's ``state_dict`` saves them, as torch saves a callable object's ``__dict__``)."""

    def __init__(self, formula: str, T: int):
        compile_schedule_formula(formula)
        self.formula, self.T = formula, T

    def __call__(self, step) -> float:
        value = float(compile_schedule_formula(self.formula)(float(step), float(self.T)))
        if not (value >= 0 and math.isfinite(value)):
            raise _refusal(value, int(step), self.T)
        return value

    def __repr__(self):
        return f"FormulaMultiplier({self.formula!r}, T={self.T})"


class FormulaLR(LambdaLR):
    """``torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=f)`` with ``f(t)`` typed as a formula.

    ``formula`` is text in ``t`` (the number of ``step()`` calls) and ``T`` (the run's length),
    parsed safely (module docstring); every param group gets ``initial_lr * f(t)``. Refused: a
    formula the parser refuses (at construction, a ``FormulaError``), ``T < 1``, and a multiplier
    that is not a finite number >= 0 (at the ``step()`` that reaches it, a ValueError naming the step).
    """

    def __init__(self, optimizer, formula=DEFAULT_FORMULA, T=1000, last_epoch=-1):
        T = check_declared(OWNER, "T", T, why=" (the run's length)")
        self.formula, self.T = formula, T
        super().__init__(optimizer, FormulaMultiplier(formula, T), last_epoch)

    @staticmethod
    def latex_for(formula=DEFAULT_FORMULA, T=1000) -> str:
        """This schedule's formula with ``formula`` written out (the registry's ``latex`` is the general form)."""
        return formula_latex(formula)


def formula_latex(formula) -> str:
    """``η_t = η_0 · f(t)`` with the parsed formula, in LaTeX."""
    return r"\eta_t = \eta_0 \cdot \left(" + compile_schedule_formula(formula).latex + r"\right)"


# -- "copy as PyTorch" -------------------------------------------------------------------------------
# Every name the parser lets through, as the snippet writes it (NumPy: inf and NaN instead of exceptions).
_PYTHON_NAMES = {
    "t": "t", "T": "T", "pi": "np.pi", "e": "np.e",
    "sin": "np.sin", "cos": "np.cos", "tan": "np.tan", "exp": "np.exp", "log": "np.log", "sqrt": "np.sqrt",
    "abs": "np.abs", "sign": "np.sign", "tanh": "np.tanh", "sinh": "np.sinh", "cosh": "np.cosh",
    "arctan": "np.arctan", "max": "np.maximum", "min": "np.minimum", "sigmoid": "sigmoid", "softplus": "softplus",
}
_HELPERS = {
    "sigmoid": "def sigmoid(u):\n    return 1.0 / (1.0 + np.exp(-u))\n",
    "softplus": "def softplus(u):  # log(1 + e^u)\n    return np.logaddexp(0.0, u)\n",
}
_NAME = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*")  # a number's exponent ("1e-05") is inside a word: not matched


def formula_python(formula) -> tuple[str, list[str]]:
    """The parsed formula as a Python expression over NumPy, and the helper functions it calls.

    Written from the parser's normalized text (only whitelisted names, numbers that round-trip,
    ``+ - * / **`` and parentheses, in Python's precedence), never from the typed text.
    """
    text = compile_schedule_formula(formula).text
    used: list[str] = []

    def name(m: re.Match) -> str:
        word = m.group(0)
        if word not in _PYTHON_NAMES:  # pragma: no cover - the parser lets no other name through
            raise ValueError(f"no Python spelling for {word!r}")
        if word in _HELPERS and word not in used:
            used.append(word)
        return _PYTHON_NAMES[word]

    return _NAME.sub(name, text), [_HELPERS[w] for w in used]


def _formula_pytorch(base_lr=0.1, n_steps=1000, optimizer=None, hypers=None, formula=DEFAULT_FORMULA, T=1000):
    T = check_declared(OWNER, "T", T, why=" (the run's length)")
    expr = compile_schedule_formula(formula)
    code, helpers = formula_python(formula)
    body = "import numpy as np\n\n\n" + "".join(h + "\n\n" for h in helpers) + f'''def lr_lambda(step, T={T}):
    """f(t) = {expr.text}, the multiplier of each group's initial lr after `step` calls of scheduler.step()."""
    t = np.float64(step)
    with np.errstate(all="ignore"):  # inf or NaN where undefined, as in the app (which refuses such a schedule)
        return float({code})

'''
    return torch_snippet("scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)",
                         base_lr=base_lr, n_steps=n_steps, optimizer=optimizer, hypers=hypers, preamble=body)


INFO = ScheduleInfo(
    name=OWNER,
    curve=formula_lr,
    params=(
        Hyper("formula", DEFAULT_FORMULA, kind="text", label="f(t) =",
              help="The multiplier of the base lr after t steps (t = 0, 1, 2, …), as LambdaLR's lr_lambda. "
                   "Use t, T (the run's length), pi, e, numbers, + - * / ** ( ) and sin, cos, exp, log, sqrt, "
                   "abs, min, max, tanh, sigmoid…; e.g. min(1, t/100) * 0.99**t."),
        Hyper("T", 1000, kind="int", low=1, high=20000, label="T (run length)",
              help="The value of T in the formula: the run's length by default.", valid="[1, inf)",
              role="run_length"),
    ),
    latex=r"\eta_t = \eta_0 \cdot f(t), \qquad f \text{ typed as a formula of the step } t"
          r" \text{ and the run length } T",
    summary="Your own schedule: type the multiplier of the base lr as a formula of the step t and the run "
            "length T; in PyTorch it is LambdaLR with that function.",
    pytorch=_formula_pytorch,
    cls=FormulaLR,
)
