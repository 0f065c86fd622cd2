r"""Parameters and optimizer state stored in low precision: rounding, lost updates and three remedies.

A number stored in float32, bfloat16 or float16 keeps 24, 8 or 11 significant bits. Next to a
value :math:`x` the representable numbers are one *ulp* apart (:func:`ulp`), so an update
:math:`\Delta x` smaller than half an ulp is rounded away: :math:`\mathrm{fl}(x + \Delta x) = x`
(round to nearest, ties to even, as torch and ml_dtypes round). A run whose every update is that
small *stalls*. Three remedies:

* **float32 master weights** (``"master"``): the parameters and the optimizer state are kept in
  float32; the gradient is taken at a low-precision copy :math:`\mathrm{fl}_{lo}(\theta)` and stored
  in the low precision (mixed-precision training, Micikevicius et al. 2018).
* **stochastic rounding** (``"stochastic"``): the updated parameter is rounded up or down to a
  neighbouring representable value, up with probability equal to the distance from the lower one
  in ulps (:func:`stochastic_round`): unbiased, :math:`\mathbb E[\mathrm{SR}(x)] = x`.
* **Kahan-compensated summation** (``"kahan"``): a second low-precision buffer :math:`c` holds what
  the last rounding dropped and adds it back in the next step (:func:`kahan_add`), as the "Kahan
  summation" optimizers do for bfloat16 training (Zamirai et al. 2020).

How a step is modelled (:class:`Precision`, run by :mod:`optim_core.engine`): the optimizer's own
update function runs in float64 on the stored values, and then the parameters and every state
buffer are rounded once to their storage type. That is what torch's fused CPU kernels do for
bfloat16 and float16 (``torch.optim.SGD/Adam(fused=True)``: every value is read, computed on in
float32 and stored once), and the tests compare them step by step. Lone torch ops (the default
``foreach`` and for-loop implementations) round after *every* op instead (``buf.mul_(μ)`` then
``.add_(g)``), a different thing.

Every helper works on arrays of any shape that broadcast (0-d, ``(n, 2)``, batches of
trajectories) and returns float64 arrays holding values representable in the dtype. Nothing here
imports torch or Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import ml_dtypes
import numpy as np

__all__ = [
    "DTYPES",
    "REMEDIES",
    "Precision",
    "dtype_of",
    "round_to",
    "ulp",
    "stochastic_round",
    "kahan_add",
    "attach",
]

# The storage types a run may choose, by the name the app and URLs use.
DTYPES: dict[str, np.dtype] = {
    "float64": np.dtype(np.float64),
    "float32": np.dtype(np.float32),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float16": np.dtype(np.float16),
}
REMEDIES: tuple[str, ...] = ("none", "master", "stochastic", "kahan")
MASTER_DTYPE = "float32"  # the master copy's type (the remedy "master")


def dtype_of(name: Any) -> np.dtype:
    """The NumPy dtype of a storage type given by name (``"bfloat16"``) or dtype."""
    if isinstance(name, str):
        try:
            return DTYPES[name]
        except KeyError:
            raise ValueError(f"unknown precision {name!r}: choose one of {', '.join(DTYPES)}") from None
    dt = np.dtype(name)
    if dt not in DTYPES.values():
        raise ValueError(f"unknown precision {dt}: choose one of {', '.join(DTYPES)}")
    return dt


def round_to(x: Any, dtype: Any) -> np.ndarray:
    """``x`` rounded to the nearest value of ``dtype`` (ties to even; beyond the largest finite
    value, ±inf), as a float64 array of ``x``'s shape.

    The cast goes straight from float64 (ml_dtypes and NumPy round correctly; ``torch.Tensor.to``
    from float64 goes through float32 first and can round a value just past a midpoint the wrong
    way).
    """
    dt = dtype_of(dtype)
    a = np.asarray(x, dtype=np.float64)
    if dt == np.float64:
        return a.copy()
    with np.errstate(over="ignore"):
        return _round(a, dt)


def _round(a: np.ndarray, dt: np.dtype) -> np.ndarray:
    """:func:`round_to` on a float64 array and a dtype, without checks (the engine's hot path)."""
    return a.astype(dt).astype(np.float64)


def ulp(x: Any, dtype: Any) -> np.ndarray:
    """The gap between ``|fl(x)|`` and the next larger value of ``dtype``: one *unit in the last
    place* at ``x`` (the smallest subnormal at 0; NaN at ±inf and NaN). An update of ``x`` by less
    than half of it is rounded away (by less than a quarter going down from a power of two, where
    the gap below is half the gap above)."""
    dt = dtype_of(dtype)
    a = np.abs(np.asarray(x, dtype=np.float64))
    with np.errstate(over="ignore", invalid="ignore"):
        r = a.astype(dt)
        up = np.nextafter(r, np.array(np.inf, dtype=dt))
        gap = up.astype(np.float64) - r.astype(np.float64)
    return np.where(np.isfinite(r.astype(np.float64)), gap, np.nan)


def _neighbours(x: np.ndarray, dt: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The representable values of ``dt`` just below and just above each ``x`` (both ``x`` when it is
    representable), as float64."""
    with np.errstate(over="ignore", invalid="ignore"):
        r = x.astype(dt)
        rf = r.astype(np.float64)
        lower = np.nextafter(r, np.array(-np.inf, dtype=dt)).astype(np.float64)
        upper = np.nextafter(r, np.array(np.inf, dtype=dt)).astype(np.float64)
    down = np.where(rf > x, lower, rf)
    up = np.where(rf < x, upper, rf)
    return down, up


def stochastic_round(x: Any, dtype: Any, rng: np.random.Generator) -> np.ndarray:
    r"""``x`` rounded to one of its two neighbouring values of ``dtype`` at random: up with
    probability :math:`(x - \lfloor x\rfloor)/(\lceil x\rceil - \lfloor x\rfloor)`, so
    :math:`\mathbb E[\mathrm{SR}(x)] = x` however small the update that led to ``x``.

    ``rng`` draws one uniform number per element (``rng.random(shape)``), so a seeded generator
    gives the same result every time. A representable ``x`` is returned as is; a value beyond the
    largest finite one rounds to nearest (±inf past the midpoint), as :func:`round_to`.
    """
    return _stochastic(np.asarray(x, dtype=np.float64), dtype_of(dtype), rng)


def _stochastic(a: np.ndarray, dt: np.dtype, rng: np.random.Generator) -> np.ndarray:
    down, up = _neighbours(a, dt)
    u = rng.random(a.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = up - down
        p_up = np.where(gap > 0, (a - down) / np.where(gap > 0, gap, 1.0), 0.0)
    out = np.where(u < p_up, up, down)
    # NaN, ±inf and values past the largest finite one: no two finite neighbours to choose between.
    return np.where(np.isfinite(gap), out, _round(a, dt))


def kahan_add(param: Any, comp: Any, delta: Any, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""``param + delta`` stored in ``dtype`` with Kahan compensation: ``comp`` (also stored in
    ``dtype``) carries what earlier roundings dropped.

    .. math::
        c \leftarrow \mathrm{fl}(c + \Delta),\quad
        \theta' = \mathrm{fl}(\theta + c),\quad
        c \leftarrow \mathrm{fl}\big(c - (\theta' - \theta)\big)

    (the "Kahan summation" optimizers' order: add the update to the buffer, the buffer to the
    parameter, and keep what did not arrive). Returns ``(param, comp)``, new float64 arrays.
    """
    return _kahan(np.asarray(param, dtype=np.float64), np.asarray(comp, dtype=np.float64), delta, dtype_of(dtype))


def _kahan(p: np.ndarray, comp: np.ndarray, delta, dt: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    c = _round(comp + delta, dt)
    new = _round(p + c, dt)
    return new, _round(c - (new - p), dt)


@dataclass(frozen=True)
class Precision:
    """How one run stores its numbers: ``dtype`` (a :data:`DTYPES` name) and ``remedy`` (one of
    :data:`REMEDIES`). ``seed`` seeds stochastic rounding. float64 (the default) is today's engine,
    bit for bit, whatever the remedy; ``"master"`` keeps parameters and state in float32 and takes
    gradients at a ``dtype`` copy. Run k of a race draws its stochastic roundings from
    ``numpy.random.default_rng([seed, k])``, so a race is reproducible from its seed."""

    dtype: str = "float64"
    remedy: str = "none"
    seed: int = 0

    def __post_init__(self):
        dtype_of(self.dtype)
        if self.remedy not in REMEDIES:
            raise ValueError(f"unknown remedy {self.remedy!r}: choose one of {', '.join(REMEDIES)}")

    @property
    def exact(self) -> bool:
        """Whether nothing is rounded (float64): the engine then runs as it always has."""
        return self.dtype == "float64"

    @property
    def low(self) -> np.dtype:
        """The type the gradient is taken at and stored in."""
        return DTYPES[self.dtype]

    @property
    def store(self) -> np.dtype:
        """The type the parameters and the optimizer state are kept in."""
        if self.remedy == "master" and DTYPES[self.dtype].itemsize < 4:
            return DTYPES[MASTER_DTYPE]
        return DTYPES[self.dtype]


# -- the engine's hook -------------------------------------------------------------------------


def _per_run(precision, n_runs: int) -> list[Precision]:
    if precision is None or isinstance(precision, (Precision, str)):
        precision = [precision] * n_runs
    runs = list(precision)
    if len(runs) != n_runs:
        raise ValueError(f"{len(runs)} precisions for {n_runs} runs")
    out = []
    for p in runs:
        if p is None:
            p = Precision()
        elif isinstance(p, str):
            p = Precision(p)
        elif not isinstance(p, Precision):
            raise ValueError(f"a precision must be a Precision, a dtype name or None, not {type(p).__name__}")
        out.append(p)
    return out


class _Hook:
    """The engine's per-step work for the rounded runs of one race (see :func:`attach`).

    ``lost[t, row, i]``: step t+1 moved coordinate i by a nonzero amount in exact arithmetic,
    and the stored value did not change (rounded away; for Kahan, held back in the buffer).
    """

    def __init__(self, race, configs: list[Precision]):
        self.race = race
        self.configs = configs
        n_rows, m_total, T = race.n_rows, race.m_total, race.steps
        # Per step only when the race keeps its path (a map over 40,000 starts would need 80 MB);
        # otherwise one step's scratch, and the totals.
        self.per_step = race.keep_path
        self.moved = np.zeros((T if self.per_step else 1, n_rows, 2), dtype=bool)
        self.lost = np.zeros_like(self.moved)
        self.moved_total = np.zeros((n_rows, 2), dtype=np.int64)
        self.lost_total = np.zeros((n_rows, 2), dtype=np.int64)
        self.comp = np.zeros((n_rows, 2))
        self.rngs: dict[int, np.random.Generator] = {}
        # Per group: (rows within the group, rows of the race, precision, run index) of every rounded run.
        self.parts: dict[int, list] = {}
        for g in race.groups:
            parts = []
            for j, k in enumerate(g.spec_index):
                p = configs[k]
                if p.exact:
                    continue
                local = slice(j * m_total, (j + 1) * m_total)
                rows = slice(g.rows.start + local.start, g.rows.start + local.stop)
                parts.append((local, rows, p, k, p.store, p.low))
                if p.remedy == "stochastic":
                    self.rngs[k] = np.random.default_rng([int(p.seed), k])
                race.P[rows] = round_to(race.P[rows], p.store)
            if parts:
                self.parts[g.index] = parts
        for lane in race.lanes:
            self._wrap(lane)
        self.saved: dict[int, np.ndarray] = {}

    def _wrap(self, lane) -> None:
        """The lane's gradients taken at the runs' low-precision points and stored in their dtype."""
        parts = [(slice(rows.start - lane.rows.start, rows.stop - lane.rows.start), store, low)
                 for g in lane.groups for _, rows, _, _, store, low in self.parts.get(g.index, [])]
        if not parts:
            return
        inner = lane.evaluate
        copies = [(sl, low) for sl, store, low in parts if store != low]  # master weights: a low-precision copy

        def evaluate(xy, t, rows):
            point = xy
            if copies:
                point = np.array(xy, dtype=np.float64)
                for sl, low in copies:
                    point[sl] = _round(point[sl], low)
            value, grad = inner(point, t, rows)
            grad = np.array(grad, dtype=np.float64)
            for sl, _, low in parts:
                grad[sl] = _round(grad[sl], low)
            return value, grad

        lane.evaluate = evaluate

    def before(self, g) -> None:
        if g.index in self.parts:
            self.saved[g.index] = g.positions.copy()

    def after(self, g, t: int) -> None:
        """Round group ``g``'s rounded runs after step t+1: parameters by their remedy, state to nearest."""
        parts = self.parts.get(g.index)
        if not parts:
            return
        old_all = self.saved[g.index]
        buffers = [v for v in g.state.values()
                   if isinstance(v, np.ndarray) and v.shape == g.positions.shape and v.dtype.kind == "f"]
        for local, rows, p, k, store, _ in parts:
            old, exact = old_all[local], g.positions[local]
            if p.remedy == "stochastic":
                new = _stochastic(exact, store, self.rngs[k])
            elif p.remedy == "kahan":
                new, self.comp[rows] = _kahan(old, self.comp[rows], exact - old, store)
            else:
                new = _round(exact, store)
            i = t if self.per_step else 0
            moved = np.not_equal(exact, old, out=self.moved[i, rows])
            lost = np.logical_and(moved, new == old, out=self.lost[i, rows])
            self.moved_total[rows] += moved
            self.lost_total[rows] += lost
            g.positions[local] = new
            for value in buffers:
                value[local] = _round(value[local], store)

    def report(self) -> dict[str, Any]:
        """What the runs lost, in the order of the runs: ``moved`` and ``lost`` ``(K, M, T, 2)`` per step
        (None when the race keeps no path), their totals over the steps ``(K, M, 2)``."""
        race = self.race
        K, m_total, T = len(race.specs), race.m_total, race.steps

        def order(a):
            if race.inverse is not None:
                a = a[:, race.inverse]
            return np.moveaxis(a, 0, 1).reshape(K, m_total, T, 2)

        def totals(a):
            return (a if race.inverse is None else a[race.inverse]).reshape(K, m_total, 2)

        return {"dtype": [p.dtype for p in self.configs], "remedy": [p.remedy for p in self.configs],
                "moved": order(self.moved) if self.per_step else None,
                "lost": order(self.lost) if self.per_step else None,
                "moved_total": totals(self.moved_total), "lost_total": totals(self.lost_total)}


# What rounding costs the engine, per rounded run and step, and per trajectory and step (on top of the
# array loop, which a rounded race always takes). Measured: 6 bfloat16 runs (two Kahan, one master, one
# stochastic) x 5000 steps on Rosenbrock took 1.97 s, the same runs in float64 arrays 0.36 s.
HOOK_STEP_S = 55e-6
HOOK_ROW_S = 30e-9


def attach(race, precision, limits=None):
    """The hook that makes the engine's race ``race`` store numbers as ``precision`` says (one
    :class:`Precision`, a dtype name, or one per run), or None when every run is float64: the
    engine then does exactly what it did before precisions existed. A request whose rounding
    would take it past ``limits.max_seconds`` (:mod:`optim_core.budget`) is refused."""
    configs = _per_run(precision, len(race.specs))
    if all(p.exact for p in configs):
        return None
    if limits is not None:
        from optim_core.budget import surface_nodes

        rounded = sum(not p.exact for p in configs)
        seconds = (limits.seconds(surface_nodes(race.surface, limits), race.n_rows, race.steps)
                   + race.steps * rounded * (HOOK_STEP_S + race.m_total * HOOK_ROW_S))
        if seconds > limits.max_seconds:
            raise ValueError(f"{rounded} low-precision runs x {race.steps:,} steps would take about {seconds:.1f} s "
                             f"of CPU, more than the {limits.max_seconds:g} s one request may use: race fewer "
                             "runs or steps, or in float64")
    for k, p in enumerate(configs):
        if not p.exact and race.specs[k].lookahead is not None:
            raise ValueError(f"{race.specs[k].display_label()}: Lookahead's slow weights are not modelled in "
                             f"{p.dtype}; race it in float64")
    if race.dtype != np.float64:
        raise ValueError("a low-precision race keeps its positions in float64 (dtype=float64)")
    return _Hook(race, configs)
