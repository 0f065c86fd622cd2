r"""Custom surfaces from a typed formula in x and y, parsed safely and differentiated exactly.

``parse_formula("x**2 + 10*sin(y)")`` returns a :class:`Formula` with vectorized ``value``,
``grad``, ``hessian`` and ``value_and_grad`` on ``(..., 2)`` arrays, a normalized ``text``
and a ``latex`` rendering.

Safety: nothing typed reaches Python's evaluator. A hand-written tokenizer accepts only
ASCII numbers, names, ``+ - * / ** ^ ( ) ,`` and spaces; a recursive-descent parser builds
a tree over a whitelist of names (``x``, ``y``, ``pi``, ``e`` and the functions in
:data:`FUNCTIONS`), looked up in dictionaries, never as attributes. Evaluation runs a list
of NumPy calls compiled from the tree. Limits, checked before anything is computed:

- at most :data:`MAX_LENGTH` (500) characters, :data:`MAX_DEPTH` (40) levels of nesting
  (parentheses, function calls, unary signs, powers) and :data:`MAX_NODES` (200) numbers,
  names and operations;
- a constant exponent must satisfy ``|p| <= MAX_EXPONENT`` (32): ``9**9**9`` is refused at
  the outer ``**`` because the inner ``9**9 = 387420489`` exceeds it;
- constant subexpressions are folded in float64 and refused if the result is not finite
  (``1/0``, ``log(0)``, ``exp(1000)``, ``1e300*1e300``): a constant division by zero is an
  error, not NaN. Division by an expression that vanishes somewhere (``1/x``) is allowed:
  its value there is inf or NaN.

:func:`parse_expression` parses the same language with other variables (a schedule's step ``t``
and run length ``T``) into an :class:`Expression` that gives values only.

Grammar (Python's precedence; ``^`` means ``**``, which is right-associative and binds
tighter than a unary minus on its left: ``-x**2 = -(x**2)``, ``2**-1 = 0.5``)::

    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/") unary)*
    unary   := ("+" | "-") unary | power
    power   := primary (("**" | "^") unary)?
    primary := number | "x" | "y" | "pi" | "e" | function "(" expr ("," expr)* ")" | "(" expr ")"

The gradient and Hessian are derived symbolically from the tree (with ``0``/``1``
simplification and structural sharing, so common subexpressions are computed once) and are
exact up to rounding. Non-smooth functions take the usual one-sided choices: ``abs'(0) =
sign(0) = 0``; ``max(a, b)`` follows ``a`` on ties. Evaluation never raises on bad values:
it returns inf or NaN (under ``np.errstate(all="ignore")``).
"""

from __future__ import annotations

import difflib
import keyword
import math
import unicodedata
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from optim_core.surfaces.base import _fill as fill_blocks

__all__ = [
    "Formula",
    "FormulaError",
    "parse_formula",
    "Expression",
    "parse_expression",
    "FUNCTIONS",
    "CONSTANTS",
    "MAX_LENGTH",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_EXPONENT",
]

MAX_LENGTH = 500
MAX_DEPTH = 40
MAX_NODES = 200
MAX_EXPONENT = 32
MAX_NUMBER_CHARS = 40
MAX_DERIVED_NODES = 20_000

CONSTANTS = {"pi": math.pi, "e": math.e}
VARIABLES = ("x", "y")
# name -> number of arguments
FUNCTIONS = {
    "sin": 1, "cos": 1, "tan": 1, "exp": 1, "log": 1, "ln": 1, "sqrt": 1, "abs": 1,
    "tanh": 1, "sinh": 1, "cosh": 1, "arctan": 1, "atan": 1, "sigmoid": 1, "softplus": 1,
    "sign": 1, "max": 2, "min": 2,
}
_ALIASES = {"ln": "log", "atan": "arctan"}


class FormulaError(ValueError):
    """A formula was refused. ``str(err)`` says what is wrong and where ("... at column 7").

    ``reason`` is the message without the position, ``column`` the 1-based column (or
    None), ``text`` the formula, and ``caret`` the formula with a ``^`` under the column.
    """

    def __init__(self, reason: str, column: int | None = None, text: str | None = None):
        self.reason, self.column, self.text = reason, column, text
        super().__init__(reason if column is None else f"{reason} at column {column}")

    @property
    def caret(self) -> str:
        if self.text is None or self.column is None or len(self.text) > 200:
            return str(self)
        return f"{self.text}\n{' ' * (self.column - 1)}^"


# ---------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Tok:
    kind: str  # "num", "name", "op", "end", "error"
    text: str
    col: int
    value: float = 0.0


_SINGLE = {"+", "-", "/", "(", ")", ","}
_BAD_CHARS = {
    "'": "strings are not allowed (found a quote)",
    '"': "strings are not allowed (found a quote)",
    "#": "comments ('#') are not allowed",
    "\\": "backslashes are not allowed",
    "[": "square brackets are not allowed; use parentheses for grouping",
    "]": "square brackets are not allowed; use parentheses for grouping",
    "{": "braces are not allowed; use parentheses for grouping",
    "}": "braces are not allowed; use parentheses for grouping",
    ";": "';' is not allowed: enter a single expression",
    ":": "':' is not allowed: enter a single expression",
    "=": "'=' is not allowed: enter an expression, not an assignment or comparison",
    "<": "comparisons are not allowed", ">": "comparisons are not allowed",
    "!": "'!' is not allowed",
    "@": "the '@' operator is not allowed",
    "%": "'%' (remainder) is not allowed",
    "&": "bitwise operators are not allowed", "|": "bitwise operators are not allowed (write abs(...))",
    "~": "bitwise operators are not allowed",
    "$": "'$' is not allowed", "?": "'?' is not allowed", "`": "backquotes are not allowed",
}
_UNICODE_HINTS = {
    "\u2212": "use '-'", "\u2013": "use '-'", "\u00d7": "use '*'", "\u00b7": "use '*'", "\u22c5": "use '*'",
    "\u00f7": "use '/'", "\u00b2": "write **2", "\u00b3": "write **3", "\u03c0": "write pi",
    "\u221a": "write sqrt(...)",
}


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _is_name_start(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or c == "_"


def _is_name_char(c: str) -> bool:
    return _is_name_start(c) or _is_digit(c)


def _tokenize(text: str) -> list[_Tok]:
    """Tokens of ``text``; stops at the first bad character with an ``error`` token, so
    errors are reported in reading order (the parser raises when it reaches it)."""
    toks: list[_Tok] = []
    i, n = 0, len(text)

    def error(msg: str, at: int) -> list[_Tok]:
        toks.append(_Tok("error", msg, at + 1))
        return toks

    while i < n:
        c = text[i]
        if c == " " or c == "\t":
            i += 1
        elif _is_digit(c) or (c == "." and i + 1 < n and _is_digit(text[i + 1])):
            j = i
            while j < n and _is_digit(text[j]):
                j += 1
            if j < n and text[j] == ".":
                j += 1
                while j < n and _is_digit(text[j]):
                    j += 1
            if j < n and text[j] in "eE":
                k = j + 1
                if k < n and text[k] in "+-":
                    k += 1
                if k < n and _is_digit(text[k]):
                    while k < n and _is_digit(text[k]):
                        k += 1
                    j = k
            lit = text[i:j]
            if j < n and (_is_name_char(text[j]) or text[j] == "."):
                if lit == "0" and text[j] in "xXbBoO":
                    return error("hexadecimal, binary and octal numbers are not allowed", i)
                if text[j] == ".":
                    return error(f"malformed number '{text[i:j + 1]}'", i)
                if text[j] == "_":
                    return error("underscores in numbers are not allowed", j)
                return error(f"missing operator between the number '{lit}' and '{text[j]}' "
                             f"(write {lit}*{text[j]} for a product)", j)
            if len(lit) > MAX_NUMBER_CHARS:
                return error(f"number too long ({len(lit)} characters, at most {MAX_NUMBER_CHARS})", i)
            value = float(lit)  # an ASCII literal checked above: float() only converts it
            if not math.isfinite(value):
                return error(f"number '{lit}' is too large", i)
            toks.append(_Tok("num", lit, i + 1, value))
            i = j
        elif _is_name_start(c):
            j = i
            while j < n and _is_name_char(text[j]):
                j += 1
            if j < n and text[j] in "'\"":
                return error(f"strings are not allowed (found {text[i:j]}{text[j]}...)", i)
            toks.append(_Tok("name", text[i:j], i + 1))
            i = j
        elif c == "*":
            if i + 1 < n and text[i + 1] == "*":
                toks.append(_Tok("op", "**", i + 1))
                i += 2
            else:
                toks.append(_Tok("op", "*", i + 1))
                i += 1
        elif c == "^":
            toks.append(_Tok("op", "**", i + 1))
            i += 1
        elif c in _SINGLE:
            if c == "/" and i + 1 < n and text[i + 1] == "/":
                return error("'//' (floor division) is not allowed", i)
            toks.append(_Tok("op", c, i + 1))
            i += 1
        elif c == ".":
            return error("attribute access ('.') is not allowed", i)
        elif c in _BAD_CHARS:
            return error(_BAD_CHARS[c], i)
        elif c in "\n\r":
            return error("line breaks are not allowed: write the formula on one line", i)
        elif ord(c) > 127:
            try:
                uname = unicodedata.name(c)
            except ValueError:
                uname = "unnamed"
            hint = _UNICODE_HINTS.get(c, "type plain ASCII")
            return error(f"non-ASCII character {c!r} (U+{ord(c):04X} {uname}) is not allowed; {hint}", i)
        else:
            return error(f"character {c!r} (U+{ord(c):04X}) is not allowed", i)
    toks.append(_Tok("end", "", n + 1))
    return toks


# ---------------------------------------------------------------------------------------
# Parser: tokens -> syntax tree (keeps the user's structure, for text and LaTeX)
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Ast:
    kind: str           # num, const, var, neg, add, sub, mul, div, pow, call
    col: int            # column where the node's text starts
    args: tuple = ()
    name: str = ""      # literal text, constant, variable or function name
    value: float = 0.0
    op_col: int = 0     # column of a binary operator


class _Parser:
    def __init__(self, text: str, variables: tuple[str, ...] = VARIABLES):
        self.text = text
        self.variables = variables
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.nodes = 0

    # -- helpers ---------------------------------------------------------------------
    def fail(self, msg: str, col: int):
        raise FormulaError(msg, col, self.text)

    @property
    def tok(self) -> _Tok:
        t = self.toks[self.i]
        if t.kind == "error":
            self.fail(t.text, t.col)
        return t

    def is_op(self, *ops) -> bool:
        t = self.tok
        return t.kind == "op" and t.text in ops

    def node(self, kind: str, col: int, *args, **kw) -> _Ast:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.fail(f"formula too large: more than {MAX_NODES} numbers, names and operations",
                      kw.get("op_col") or col)
        return _Ast(kind, col, *args, **kw)

    def enter(self, col: int):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"nesting too deep (more than {MAX_DEPTH} levels of parentheses, calls, signs or powers)", col)

    def describe(self, t: _Tok) -> str:
        return "the end of the formula" if t.kind == "end" else repr(t.text)

    # -- grammar ---------------------------------------------------------------------
    def parse(self) -> _Ast:
        if self.tok.kind == "end":
            self.fail(f"empty formula: type an expression in {' and '.join(self.variables)}", 1)
        tree = self.expr()
        t = self.tok
        if t.kind != "end":
            if t.kind == "op" and t.text == ")":
                self.fail("unbalanced parenthesis: ')' without a matching '('", t.col)
            if t.kind == "op" and t.text == ",":
                self.fail("',' is only allowed between the arguments of max(a, b) or min(a, b)", t.col)
            if t.kind == "name" and keyword.iskeyword(t.text):
                self.fail(f"Python keyword '{t.text}' is not allowed", t.col)
            self.fail(f"missing operator before {self.describe(t)}", t.col)
        return tree

    def expr(self) -> _Ast:
        left = self.term()
        while self.is_op("+", "-"):
            op = self.tok
            self.i += 1
            right = self.term()
            left = self.node("add" if op.text == "+" else "sub", left.col, (left, right), op_col=op.col)
        return left

    def term(self) -> _Ast:
        left = self.unary()
        while self.is_op("*", "/"):
            op = self.tok
            self.i += 1
            right = self.unary()
            left = self.node("mul" if op.text == "*" else "div", left.col, (left, right), op_col=op.col)
        return left

    def unary(self) -> _Ast:
        if self.is_op("+", "-"):
            op = self.tok
            self.enter(op.col)
            self.i += 1
            operand = self.unary()
            self.depth -= 1
            if op.text == "+":
                return operand
            return self.node("neg", op.col, (operand,), op_col=op.col)
        return self.power()

    def power(self) -> _Ast:
        base = self.primary()
        if self.is_op("**"):
            op = self.tok
            self.enter(op.col)
            self.i += 1
            exponent = self.unary()
            self.depth -= 1
            return self.node("pow", base.col, (base, exponent), op_col=op.col)
        return base

    def primary(self) -> _Ast:
        t = self.tok
        if t.kind == "num":
            self.i += 1
            return self.node("num", t.col, name=t.text, value=t.value)
        if t.kind == "name":
            return self.name(t)
        if t.kind == "op" and t.text == "(":
            self.enter(t.col)
            self.i += 1
            if self.is_op(")"):
                self.fail("empty parentheses", t.col)
            inner = self.expr()
            if not self.is_op(")"):
                nt = self.tok
                if nt.kind == "end":
                    self.fail("unbalanced parenthesis: '(' is never closed", t.col)
                if nt.kind == "op" and nt.text == ",":
                    self.fail("',' is only allowed between the arguments of max(a, b) or min(a, b)", nt.col)
                self.fail(f"expected ')' or an operator, found {self.describe(nt)}", nt.col)
            self.i += 1
            self.depth -= 1
            return inner
        if t.kind == "end":
            prev = self.toks[self.i - 1] if self.i else None
            after = f" after '{prev.text}'" if prev is not None else ""
            self.fail(f"formula ends too early: expected a value{after}", t.col)
        if t.text == ")":
            self.fail("expected a value, found ')'", t.col)
        self.fail(f"expected a value before '{t.text}'", t.col)

    def name(self, t: _Tok) -> _Ast:
        name = t.text
        self.i += 1
        nxt = self.toks[self.i]  # peek without raising: an unknown name is reported first...
        if nxt.kind == "error" and nxt.col == t.col + len(name) and ord(self.text[nxt.col - 1]) > 127:
            self.fail(nxt.text, nxt.col)  # ...unless a look-alike letter cut the name short ("sіn")
        calls = nxt.kind == "op" and nxt.text == "("
        if name in self.variables:
            if calls:
                self.fail(f"missing operator between '{name}' and '(' (write {name}*(...) for a product)", nxt.col)
            return self.node("var", t.col, name=name)
        if name in CONSTANTS:
            if calls:
                self.fail(f"missing operator between '{name}' and '(' (write {name}*(...) for a product)", nxt.col)
            return self.node("const", t.col, name=name, value=CONSTANTS[name])
        if name in FUNCTIONS:
            if not calls:
                self.fail(f"function '{name}' needs its argument in parentheses: {name}(...)", t.col)
            return self.call(t)
        self.fail(self.unknown(name, calls), t.col)

    def unknown(self, name: str, calls: bool) -> str:
        what = "function" if calls else "name"
        msg = f"unknown {what} '{name}'"
        if keyword.iskeyword(name) or keyword.issoftkeyword(name):
            return msg + " (Python keywords are not allowed)"
        if name.startswith("_"):
            return msg + " (names starting with '_' are not allowed)"
        if name.lower() in ("nan", "inf", "infinity"):
            return msg + " (only finite numbers are allowed)"
        pool = list(FUNCTIONS) if calls else [*self.variables, *CONSTANTS, *FUNCTIONS]
        close = difflib.get_close_matches(name, pool, n=1, cutoff=0.75)
        if close:
            return msg + f" (did you mean '{close[0]}'?)"
        if calls:
            return msg + f" (allowed: {', '.join(sorted(FUNCTIONS))})"
        return msg + f" (the variables are {' and '.join(self.variables)}; constants pi and e)"

    def call(self, t: _Tok) -> _Ast:
        name = t.text
        paren = self.tok
        self.enter(paren.col)
        self.i += 1
        args = []
        if not self.is_op(")"):
            args.append(self.expr())
            while self.is_op(","):
                self.i += 1
                args.append(self.expr())
        if not self.is_op(")"):
            nt = self.tok
            if nt.kind == "end":
                self.fail("unbalanced parenthesis: '(' is never closed", paren.col)
            self.fail(f"expected ')' or ',' in the call of {name}, found {self.describe(nt)}", nt.col)
        self.i += 1
        self.depth -= 1
        want = FUNCTIONS[name]
        if len(args) != want:
            self.fail(f"{name} takes {want} argument{'s' if want > 1 else ''}, got {len(args)}", t.col)
        return self.node("call", t.col, tuple(args), name=_ALIASES.get(name, name))


# ---------------------------------------------------------------------------------------
# Expression graph: interned nodes with simplification and constant folding
# ---------------------------------------------------------------------------------------

class _FoldError(Exception):
    pass


class _Node:
    __slots__ = ("op", "args", "value", "id")

    def __init__(self, op, args, value, ident):
        self.op, self.args, self.value, self.id = op, args, value, ident

    @property
    def is_const(self) -> bool:
        return self.op == "const"

    def __repr__(self):  # for debugging only
        return f"<{self.op} {self.value if self.op == 'const' else ''} #{self.id}>"


def _softplus(u: float) -> float:
    return max(u, 0.0) + math.log1p(math.exp(-abs(u)))


def _sigmoid(u: float) -> float:
    return 1.0 / (1.0 + math.exp(-u)) if u >= 0 else math.exp(u) / (1.0 + math.exp(u))


def _sign(u: float) -> float:
    return (u > 0) - (u < 0) + 0.0


_FOLD1 = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "exp": math.exp, "log": math.log,
    "sqrt": math.sqrt, "abs": math.fabs, "tanh": math.tanh, "sinh": math.sinh, "cosh": math.cosh,
    "arctan": math.atan, "sigmoid": _sigmoid, "softplus": _softplus, "sign": _sign,
}


def _fmt(v: float) -> str:
    if v == int(v) and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


class _Graph:
    """Builds interned expression nodes; structurally equal nodes are the same object."""

    def __init__(self):
        self.table: dict = {}

    def _make(self, op, args=(), value=None) -> _Node:
        key = (op, value, *(a.id for a in args))
        node = self.table.get(key)
        if node is None:
            if len(self.table) >= MAX_DERIVED_NODES:
                # Stop as soon as the derivatives grow past the cap, not after building them all.
                raise _FoldError(f"the formula is too complex (more than {MAX_DERIVED_NODES:,} intermediate results)")
            node = self.table[key] = _Node(op, args, value, len(self.table))
        return node

    def const(self, v: float) -> _Node:
        v = float(v)
        if not math.isfinite(v):
            raise _FoldError("a constant overflows")
        return self._make("const", value=v + 0.0)  # -0.0 -> 0.0

    def fold(self, a: float, sym: str, b: float, v: float) -> _Node:
        if not math.isfinite(v):
            raise _FoldError(f"the constant {_fmt(a)}{sym}{_fmt(b)} overflows")
        return self.const(v)

    def var(self, name: str) -> _Node:
        return self._make(name)

    @staticmethod
    def _is(n: _Node, v: float) -> bool:
        return n.op == "const" and n.value == v

    def add(self, a, b):
        if a.is_const and b.is_const:
            return self.fold(a.value, " + ", b.value, a.value + b.value)
        if self._is(a, 0.0):
            return b
        if self._is(b, 0.0):
            return a
        if a is b:
            return self.mul(self.const(2.0), a)
        if b.op == "neg":
            return self.sub(a, b.args[0])
        if a.op == "neg":
            return self.sub(b, a.args[0])
        if a.id > b.id:
            a, b = b, a
        return self._make("add", (a, b))

    def sub(self, a, b):
        if a.is_const and b.is_const:
            return self.fold(a.value, " - ", b.value, a.value - b.value)
        if self._is(b, 0.0):
            return a
        if self._is(a, 0.0):
            return self.neg(b)
        if a is b:
            return self.const(0.0)
        if b.op == "neg":
            return self.add(a, b.args[0])
        return self._make("sub", (a, b))

    def neg(self, a):
        if a.is_const:
            return self.const(-a.value)
        if a.op == "neg":
            return a.args[0]
        if a.op == "sub":
            return self.sub(a.args[1], a.args[0])
        return self._make("neg", (a,))

    def mul(self, a, b):
        if b.is_const and not a.is_const:
            a, b = b, a
        if a.is_const:
            if b.is_const:
                return self.fold(a.value, "*", b.value, a.value * b.value)
            if a.value == 0.0:
                return a
            if a.value == 1.0:
                return b
            if a.value == -1.0:
                return self.neg(b)
            if b.op == "mul" and b.args[0].is_const:
                c = b.args[0].value
                return self.mul(self.fold(a.value, "*", c, a.value * c), b.args[1])
            if b.op == "neg":
                return self.mul(self.const(-a.value), b.args[0])
            return self._make("mul", (a, b))
        if a.op == "neg":
            return self.neg(self.mul(a.args[0], b))
        if b.op == "neg":
            return self.neg(self.mul(a, b.args[0]))
        if a is b:
            return self.powc(a, 2.0)
        if a.id > b.id:
            a, b = b, a
        return self._make("mul", (a, b))

    def div(self, a, b):
        if self._is(b, 0.0):
            raise _FoldError("division by zero")
        if a.is_const and b.is_const:
            return self.fold(a.value, "/", b.value, a.value / b.value)
        if self._is(a, 0.0):
            return a
        if self._is(b, 1.0):
            return a
        if b.is_const:
            inv = 1.0 / b.value
            if math.isfinite(inv) and inv != 0.0:
                return self.mul(self.const(inv), a)
        if a is b:
            return self.const(1.0)
        return self._make("div", (a, b))

    def powc(self, a, c: float):
        """a ** c for a constant c (bounds are checked by the caller for user input)."""
        if c == 0.0:
            return self.const(1.0)
        if c == 1.0:
            return a
        if a.is_const:
            return self.const(_fold_pow(a.value, c))
        return self._make("powc", (a,), float(c))

    def pow(self, a, b):
        if b.is_const:
            return self.powc(a, b.value)
        if self._is(a, 1.0):
            return a
        return self._make("pow", (a, b))

    def func(self, name, *args):
        if all(a.is_const for a in args):
            vals = [a.value for a in args]
            if name == "max":
                return self.const(max(vals))
            if name == "min":
                return self.const(min(vals))
            arg = _fmt(vals[0])
            try:
                v = _FOLD1[name](vals[0])
            except OverflowError:
                raise _FoldError(f"{name}({arg}) overflows") from None
            except (ValueError, ZeroDivisionError):
                raise _FoldError(f"{name}({arg}) is undefined") from None
            if not math.isfinite(v):
                raise _FoldError(f"{name}({arg}) is not finite")
            return self.const(v)
        if name in ("max", "min") and args[0] is args[1]:
            return args[0]
        return self._make(name, tuple(args))

    def select(self, a, b, p, q):
        """where(a >= b, p, q)."""
        if p is q:
            return p
        return self._make("sel", (a, b, p, q))

    # -- differentiation (iterative: derived graphs can be deep) ---------------------------
    def diff(self, root: _Node, var: str) -> _Node:
        d: dict[int, _Node] = {}
        zero, one = self.const(0.0), self.const(1.0)
        for n in _postorder([root]):
            op, A = n.op, n.args
            if op == "const":
                r = zero
            elif op in ("x", "y"):
                r = one if op == var else zero
            elif op == "add":
                r = self.add(d[A[0].id], d[A[1].id])
            elif op == "sub":
                r = self.sub(d[A[0].id], d[A[1].id])
            elif op == "neg":
                r = self.neg(d[A[0].id])
            elif op == "mul":
                r = self.add(self.mul(d[A[0].id], A[1]), self.mul(A[0], d[A[1].id]))
            elif op == "div":  # (u/v)' = (u' - (u/v) v') / v
                u1, v1 = d[A[0].id], d[A[1].id]
                r = self.div(self.sub(u1, self.mul(n, v1)), A[1])
            elif op == "powc":
                c = n.value
                r = self.mul(self.mul(self.const(c), self.powc(A[0], c - 1.0)), d[A[0].id])
            elif op == "pow":  # (u^v)' = u^v (v' log u + v u'/u)
                u, v = A
                u1, v1 = d[u.id], d[v.id]
                inner = self.add(self.mul(v1, self.func("log", u)) if not self._is(v1, 0.0) else zero,
                                 self.mul(v, self.div(u1, u)) if not self._is(u1, 0.0) else zero)
                r = self.mul(n, inner)
            elif op == "sel":
                r = self.select(A[0], A[1], d[A[2].id], d[A[3].id])
            elif op == "max":
                r = self.select(A[0], A[1], d[A[0].id], d[A[1].id])
            elif op == "min":
                r = self.select(A[1], A[0], d[A[0].id], d[A[1].id])
            else:
                u = A[0]
                u1 = d[u.id]
                if self._is(u1, 0.0):
                    r = zero
                else:
                    r = self.mul(self._dfunc(op, u, n), u1)
            d[n.id] = r
        return d[root.id]

    def _dfunc(self, op: str, u: _Node, w: _Node) -> _Node:
        """d/du of w = op(u)."""
        one = self.const(1.0)
        if op == "sin":
            return self.func("cos", u)
        if op == "cos":
            return self.neg(self.func("sin", u))
        if op == "tan":
            return self.add(one, self.powc(w, 2.0))
        if op == "exp":
            return w
        if op == "log":
            return self.div(one, u)
        if op == "sqrt":
            return self.div(self.const(0.5), w)
        if op == "abs":
            return self.func("sign", u)
        if op == "sign":
            return self.const(0.0)
        if op == "tanh":
            return self.sub(one, self.powc(w, 2.0))
        if op == "sinh":
            return self.func("cosh", u)
        if op == "cosh":
            return self.func("sinh", u)
        if op == "arctan":
            return self.div(one, self.add(one, self.powc(u, 2.0)))
        if op == "sigmoid":
            return self.mul(w, self.sub(one, w))
        if op == "softplus":
            return self.func("sigmoid", u)
        raise AssertionError(op)


def _fold_pow(a: float, c: float) -> float:
    try:
        v = math.pow(a, c)
    except OverflowError:
        raise _FoldError(f"{_fmt(a)}**{_fmt(c)} overflows") from None
    except (ValueError, ZeroDivisionError):
        if a == 0.0:
            raise _FoldError(f"division by zero in {_fmt(a)}**{_fmt(c)}") from None
        raise _FoldError(f"({_fmt(a)})**{_fmt(c)} is not a real number") from None
    if not math.isfinite(v):
        raise _FoldError(f"{_fmt(a)}**{_fmt(c)} overflows")
    return v


def _postorder(roots) -> list:
    """Nodes reachable from ``roots``, children before parents, each once (no recursion)."""
    seen: set[int] = set()
    out = []
    stack = [(r, False) for r in reversed(roots)]
    while stack:
        n, expanded = stack.pop()
        if expanded:
            out.append(n)
            continue
        if n.id in seen:
            continue
        seen.add(n.id)
        stack.append((n, True))
        for a in reversed(n.args):
            if a.id not in seen:
                stack.append((a, False))
    return out


def _ast_postorder(root: _Ast) -> list:
    out, stack = [], [(root, False)]
    while stack:
        n, expanded = stack.pop()
        if expanded:
            out.append(n)
        else:
            stack.append((n, True))
            stack.extend((a, False) for a in reversed(n.args))
    return out


def _build(tree: _Ast, graph: _Graph, text: str) -> _Node:
    """The syntax tree as an interned graph, folding constants and checking exponents."""
    built: dict[int, _Node] = {}
    for a in _ast_postorder(tree):
        k = a.kind
        args = [built[id(c)] for c in a.args]
        try:
            if k == "num" or k == "const":
                n = graph.const(a.value)
            elif k == "var":
                n = graph.var(a.name)
            elif k == "neg":
                n = graph.neg(args[0])
            elif k == "add":
                n = graph.add(*args)
            elif k == "sub":
                n = graph.sub(*args)
            elif k == "mul":
                n = graph.mul(*args)
            elif k == "div":
                if args[1].is_const and args[1].value == 0.0:
                    raise FormulaError("division by zero", a.op_col, text)
                n = graph.div(*args)
            elif k == "pow":
                base, ex = args
                if ex.is_const and abs(ex.value) > MAX_EXPONENT:
                    raise FormulaError(f"exponent {_fmt(ex.value)} too large (at most {MAX_EXPONENT})",
                                       a.args[1].col, text)
                n = graph.pow(base, ex)
            elif k == "call":
                n = graph.func(a.name, *args)
            else:
                raise AssertionError(k)
        except _FoldError as err:
            raise FormulaError(str(err), a.op_col or a.col, text) from None
        built[id(a)] = n
    return built[id(tree)]


# ---------------------------------------------------------------------------------------
# Printing: normalized text and LaTeX, from the syntax tree (the user's structure)
# ---------------------------------------------------------------------------------------

_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}


def _prec(a: _Ast) -> int:
    return _PREC.get(a.kind, 5)


def _to_text(tree: _Ast) -> str:
    s: dict[int, str] = {}

    def wrap(c: _Ast, paren: bool) -> str:
        return f"({s[id(c)]})" if paren else s[id(c)]

    for a in _ast_postorder(tree):
        k = a.kind
        if k == "num":
            out = _fmt(a.value)
        elif k in ("var", "const"):
            out = a.name
        elif k == "neg":
            c = a.args[0]
            out = "-" + wrap(c, _prec(c) <= 3)
        elif k == "call":
            out = f"{a.name}({', '.join(s[id(c)] for c in a.args)})"
        else:
            left, right = a.args
            p = _PREC[k]
            sym = {"add": " + ", "sub": " - ", "mul": "*", "div": "/", "pow": "**"}[k]
            lp = _prec(left) <= p if k == "pow" else _prec(left) < p
            rp = right.kind == "neg" or (_prec(right) < p if k == "pow" else _prec(right) <= p)
            out = wrap(left, lp) + sym + wrap(right, rp)
        s[id(a)] = out
    return s[id(tree)]


_LATEX_FUNCS = {
    "sin": r"\sin", "cos": r"\cos", "tan": r"\tan", "log": r"\ln", "tanh": r"\tanh", "sinh": r"\sinh",
    "cosh": r"\cosh", "arctan": r"\arctan", "sigmoid": r"\sigma", "softplus": r"\operatorname{softplus}",
    "sign": r"\operatorname{sign}", "max": r"\max", "min": r"\min",
}


def _latex_num(v: float) -> str:
    t = _fmt(v)
    if "e" in t:
        mant, ex = t.split("e")
        ex = str(int(ex))
        return (rf"10^{{{ex}}}" if mant == "1" else rf"{mant} \times 10^{{{ex}}}")
    return t


def _to_latex(tree: _Ast) -> str:
    s: dict[int, str] = {}

    def par(c: _Ast, paren: bool) -> str:
        return rf"\left({s[id(c)]}\right)" if paren else s[id(c)]

    for a in _ast_postorder(tree):
        k = a.kind
        if k == "num":
            out = _latex_num(a.value)
        elif k == "var":
            out = a.name
        elif k == "const":
            out = r"\pi" if a.name == "pi" else "e"
        elif k == "neg":
            c = a.args[0]
            out = "-" + par(c, _prec(c) <= 3)
        elif k == "call":
            args = [s[id(c)] for c in a.args]
            if a.name == "sqrt":
                out = rf"\sqrt{{{args[0]}}}"
            elif a.name == "abs":
                out = rf"\left|{args[0]}\right|"
            elif a.name == "exp":
                out = rf"e^{{{args[0]}}}"
            else:
                out = rf"{_LATEX_FUNCS[a.name]}\left({', '.join(args)}\right)"
        elif k == "div":
            out = rf"\frac{{{s[id(a.args[0])]}}}{{{s[id(a.args[1])]}}}"
        elif k == "pow":
            base, ex = a.args
            out = par(base, _prec(base) <= 4 or base.kind == "call" or (base.kind == "num" and base.value < 0)) \
                + f"^{{{s[id(ex)]}}}"
        elif k == "mul":
            left, right = a.args
            ls = par(left, _prec(left) < 2)
            rs = par(right, _prec(right) <= 2)
            # "10 sin(y)", "2 x^{2}", "\pi x": a number or constant before a letter needs no dot.
            implicit = left.kind in ("num", "const") and (
                right.kind in ("var", "const", "call")
                or (right.kind == "pow" and right.args[0].kind in ("var", "const")))
            out = f"{ls} {rs}" if implicit else rf"{ls} \cdot {rs}"
        else:  # add, sub
            left, right = a.args
            sym = " + " if k == "add" else " - "
            out = s[id(left)] + sym + par(right, right.kind == "neg" or (k == "sub" and _prec(right) <= 1))
        s[id(a)] = out
    return s[id(tree)]


# ---------------------------------------------------------------------------------------
# Compiled evaluation: a straight-line list of NumPy calls
# ---------------------------------------------------------------------------------------

def _np_sigmoid(u):
    return 1.0 / (1.0 + np.exp(-u))


def _np_softplus(u):
    return np.logaddexp(0.0, u)


def _np_select(a, b, p, q):
    return np.where(a >= b, p, q)


def _np_powc(a, c):
    if c == 2.0:
        return np.square(a)
    if c == 0.5:
        return np.sqrt(a)
    if c == -1.0:
        return 1.0 / a
    return np.power(a, c)


_NP = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide, "neg": np.negative,
    "pow": np.power, "sin": np.sin, "cos": np.cos, "tan": np.tan, "exp": np.exp, "log": np.log,
    "sqrt": np.sqrt, "abs": np.abs, "sign": np.sign, "tanh": np.tanh, "sinh": np.sinh, "cosh": np.cosh,
    "arctan": np.arctan, "sigmoid": _np_sigmoid, "softplus": _np_softplus, "max": np.maximum,
    "min": np.minimum, "sel": _np_select,
}


class _Program:
    """Evaluates several roots of one graph together, each shared node once."""

    def __init__(self, roots, variables: tuple[str, ...] = VARIABLES):
        order = _postorder(roots)
        slot: dict[int, int] = {}
        self.consts: list[tuple[int, float]] = []
        self.code: list[tuple] = []
        inputs = {v: i for i, v in enumerate(variables)}
        self.n_slots = len(variables)  # the inputs first (0: x, 1: y)
        for n in order:
            if n.op in inputs:
                slot[n.id] = inputs[n.op]
            else:
                slot[n.id] = self.n_slots
                self.n_slots += 1
                if n.op == "const":
                    self.consts.append((slot[n.id], n.value))
                elif n.op == "powc":
                    self.code.append((_np_powc, slot[n.id], (slot[n.args[0].id],), n.value))
                else:
                    self.code.append((_NP[n.op], slot[n.id], tuple(slot[a.id] for a in n.args), None))
        self.out = [slot[r.id] for r in roots]
        # Free each intermediate array after its last use (large batches would otherwise keep all).
        last: dict[int, int] = {}
        for i, (_, _, ins, _) in enumerate(self.code):
            for j in ins:
                last[j] = i
        keep = set(self.out) | set(inputs.values())
        frees: list[list[int]] = [[] for _ in self.code]
        for j, i in last.items():
            if j not in keep:
                frees[i].append(j)
        self.code = [(fn, o, ins, c, tuple(frees[i])) for i, (fn, o, ins, c) in enumerate(self.code)]

    def run(self, *inputs):
        regs: list = [None] * self.n_slots
        regs[:len(inputs)] = inputs
        for j, v in self.consts:
            regs[j] = v
        with np.errstate(all="ignore"):
            for fn, o, ins, c, frees in self.code:
                if c is None:
                    regs[o] = fn(*[regs[j] for j in ins])
                else:
                    regs[o] = fn(regs[ins[0]], c)
                for j in frees:
                    regs[j] = None
        return [regs[j] for j in self.out]  # arrays, or floats for constant results


# ---------------------------------------------------------------------------------------
# The public object
# ---------------------------------------------------------------------------------------

class Formula:
    """A parsed formula f(x, y) with exact derivatives; build it with :func:`parse_formula`.

    Every method takes ``xy`` of shape ``(..., 2)`` (float64): ``value`` returns ``(...)``,
    ``grad`` ``(..., 2)``, ``hessian`` ``(..., 2, 2)``.
    """

    def __init__(self, source: str, tree: _Ast, graph: _Graph, root: _Node):
        self.text = _to_text(tree)
        self.latex = _to_latex(tree)
        try:
            fx, fy = graph.diff(root, "x"), graph.diff(root, "y")
            fxx, fxy, fyy = graph.diff(fx, "x"), graph.diff(fx, "y"), graph.diff(fy, "y")
        except _FoldError as err:
            raise FormulaError(f"cannot differentiate: {err}", None, source) from None
        if len(graph.table) > MAX_DERIVED_NODES:
            raise FormulaError(f"formula too complex to differentiate ({len(graph.table)} nodes)", None, source)
        self._value = _Program([root])
        self._vg = _Program([root, fx, fy])
        self._hess = _Program([fxx, fxy, fyy])
        self.node_count = len(graph.table)

    @staticmethod
    def _split(xy):
        xy = np.asarray(xy, dtype=np.float64)
        if xy.ndim == 0 or xy.shape[-1] != 2:
            raise ValueError(f"expected points of shape (..., 2), got shape {xy.shape}")
        return xy

    @staticmethod
    def _fill(program, xy, targets):
        """Run ``program`` on ``xy`` into ``targets``, in cache-sized blocks (as every surface does)."""
        fill_blocks(program.run, xy, targets)

    def value(self, xy):
        xy = self._split(xy)
        f = np.empty(xy.shape[:-1])
        self._fill(self._value, xy, ((f, ()),))
        return f if f.ndim else f[()]

    def value_and_grad(self, xy):
        xy = self._split(xy)
        f = np.empty(xy.shape[:-1])
        g = np.empty(xy.shape)
        self._fill(self._vg, xy, ((f, ()), (g, (0,)), (g, (1,))))
        return (f if f.ndim else f[()]), g

    def grad(self, xy):
        return self.value_and_grad(xy)[1]

    def hessian(self, xy):
        xy = self._split(xy)
        h = np.empty(xy.shape + (2,))
        self._fill(self._hess, xy, ((h, (0, 0)), (h, (0, 1)), (h, (1, 1))))
        h[..., 1, 0] = h[..., 0, 1]
        return h

    def __call__(self, xy):
        return self.value(xy)

    def __repr__(self):
        return f"Formula({self.text!r})"


def parse_formula(text: str) -> Formula:
    """Parse ``text`` (a formula in x and y) into a :class:`Formula`; raises :class:`FormulaError`.

    >>> f = parse_formula("x^2 + 10*sin(y)")
    >>> f.text
    'x**2 + 10*sin(y)'
    >>> float(f.value([1.0, 0.0]))
    1.0
    """
    tree, graph, root = _parse(text, VARIABLES)
    return Formula(text, tree, graph, root)


def _parse(text: str, variables: tuple[str, ...]):
    """``(syntax tree, graph, root)`` of ``text``, a formula of ``variables``; raises :class:`FormulaError`."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula too long: {len(text)} characters (at most {MAX_LENGTH})", MAX_LENGTH + 1)
    tree = _Parser(text, variables).parse()
    graph = _Graph()
    return tree, graph, _build(tree, graph, text)


# The graph's own operation names, which a variable cannot take.
_OPS = frozenset({"const", "add", "sub", "mul", "div", "neg", "pow", "powc", "sel", *FUNCTIONS, *_ALIASES.values()})


class Expression:
    """A parsed formula of named variables, for its values only (no derivatives): build it with
    :func:`parse_expression`.

    ``expr(*values)`` takes one float or array per variable, in the order of ``variables``
    (broadcast together, float64) and returns the values, inf or NaN where undefined (never an
    exception). ``text`` and ``latex`` are as :class:`Formula`'s.
    """

    def __init__(self, tree: _Ast, root: _Node, variables: tuple[str, ...]):
        self.variables = variables
        self.text = _to_text(tree)
        self.latex = _to_latex(tree)
        self._program = _Program([root], variables)

    def __call__(self, *values):
        if len(values) != len(self.variables):
            raise TypeError(f"expected {len(self.variables)} values ({', '.join(self.variables)}), got {len(values)}")
        arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in values))
        out = np.asarray(self._program.run(*arrays)[0], dtype=np.float64)
        out = np.broadcast_to(out, arrays[0].shape).copy() if arrays else out
        return out if out.ndim else out[()]

    def __repr__(self):
        return f"Expression({self.text!r}, variables={self.variables!r})"


def parse_expression(text: str, variables: Sequence[str] = VARIABLES) -> Expression:
    """Parse ``text`` as a formula of ``variables`` into an :class:`Expression`; raises :class:`FormulaError`.

    The tokenizer, grammar, names, limits and messages are :func:`parse_formula`'s, with
    ``variables`` in place of x and y (a schedule's ``("t", "T")``). A variable is an ASCII
    identifier that is none of the constants, functions or operations.

    >>> f = parse_expression("0.5*(1 + cos(pi*t/T))", ("t", "T"))
    >>> f.text, float(f(0, 100))
    ('0.5*(1 + cos(pi*t/T))', 1.0)
    """
    variables = tuple(variables)
    for v in variables:
        if not (isinstance(v, str) and v.isascii() and v.isidentifier() and not v.startswith("_")) \
                or v in CONSTANTS or v in _OPS or keyword.iskeyword(v) or variables.count(v) > 1:
            raise ValueError(f"{v!r} cannot be a variable")
    tree, _, root = _parse(text, variables)
    return Expression(tree, root, variables)
