"""The network's own loss landscape: the training loss on a plane through the weights, with every run's path.

A network of n weights has an n-dimensional landscape; what can be drawn is a 2D slice of it,

    L(a, b) = L(θ* + a·d₁ + b·d₂),

through the weights θ* of one run at the step the race is at, spanned by two directions d₁, d₂ of R^n
(the MLP's weights flattened in ``parameters()`` order, as :class:`app.training.backend.ParameterAdapter`
lays them out). Two choices of directions (Li, Xu, Taylor, Studer and Goldstein, "Visualizing the loss
landscape of neural nets", NeurIPS 2018):

* **filter-normalised random** (:func:`filter_normalized`): Gaussian directions, each neuron's block rescaled
  to the norm of the same block of θ*, so that a step of 1 along d moves every neuron by as much as its own
  weights are large, whatever their scale. For a fully connected layer a neuron's "filter" is its row of W
  together with its bias (the paper's code leaves biases unperturbed by default; here they move with their
  neuron, so the plane moves every parameter). Random directions are almost orthogonal to any path in
  n dimensions: the runs' paths then project to little more than a point at the centre, which is itself
  the lesson (Li et al., Section 7).
* **PCA of the trajectories** (:func:`pca_directions`): the top two principal directions of the weight
  snapshots of every run (their differences from θ*, centred), orthonormal: the plane that holds most of
  the runs' movement, so their paths show.

Every run's snapshots are projected onto the plane (:func:`project`: least squares, ``(DᵀD)⁻¹Dᵀ(θ - θ*)``,
which for orthonormal directions is two dot products). A path lies off the plane in general: what is drawn
is its shadow, over the loss *on the plane*, not the loss the run saw (the caption says so).

The loss is evaluated on a ``G × G`` grid of (a, b) in batched forward passes (``torch.func.vmap`` over
``functional_call`` of the page's network, in float64, on the whole training set), ``G`` bounded by
:data:`app.budget.NET_LANDSCAPE_GRID` and by :data:`app.budget.NET_LANDSCAPE_MAX_WORK` (grid points x
training points x parameters): larger networks and data get a coarser grid, and the page says so. The
grid is interpolated bilinearly into the Playground's banded landscape picture
(:func:`app.playground.figures.landscape`), and the paths animate over it in the Playground's Plotly race
figure (:func:`app.playground.figures.race_figure`), whose slider is labelled with the training steps.

The weight snapshots come from a :class:`Trail`, a step hook of the race (``race.step_hooks``) hooked in
when the race is made: every run's flat weights (float32) at steps 0, s, 2s, ..., at most
:data:`app.budget.NET_TRAIL_SNAPSHOTS` per run and :data:`app.budget.NET_TRAIL_MAX_FLOATS` for all runs;
when full, every other snapshot is dropped and s doubles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from app import budget
from app.training.sharpness import FlatLoss

__all__ = [
    "KINDS",
    "Trail",
    "trail",
    "neuron_blocks",
    "filter_normalized",
    "pca_directions",
    "project",
    "grid_size",
    "plane_losses",
    "Slice",
    "compute_slice",
    "slice_figure",
    "caption",
    "cached_slice",
    "panel",
]

KINDS = {"pca": "PCA of the runs' paths", "random": "filter-normalised random"}
RANDOM_SPAN = 1.0  # the random plane is drawn over a, b in [-1, 1]: one neuron norm each way
CHUNK = 64  # weight vectors per batched forward pass (memory: CHUNK x points x width floats)


# -- the weights along the way ---------------------------------------------------------------------
class Trail:
    """Every run's weights at steps 0, s, 2s, ... (float32 copies of ``adapter.flat``): a race step hook."""

    def __init__(self, race, snapshots: int = budget.NET_TRAIL_SNAPSHOTS,
                 max_floats: float = budget.NET_TRAIL_MAX_FLOATS):
        n_params = len(race.runs[0].adapter.flat)
        room = int(max_floats // max(1, n_params * len(race.runs)))
        self.capacity = max(8, min(int(snapshots), room))
        self.stride = 1
        self.race = race
        self.steps: list[list[int]] = [[] for _ in race.runs]
        self.weights = [np.empty((self.capacity, n_params), dtype=np.float32) for _ in race.runs]
        for run in race.runs:
            self(run)

    def __call__(self, run) -> None:
        if run.step % self.stride:
            return
        i = self.race.runs.index(run)
        steps = self.steps[i]
        if steps and steps[-1] >= run.step:
            return
        if len(steps) == self.capacity:
            self._thin()
            steps = self.steps[i]
            if run.step % self.stride:
                return
        self.weights[i][len(steps)] = run.adapter.flat
        steps.append(int(run.step))

    def _thin(self) -> None:
        """Keep the snapshots at multiples of twice the stride (step 0 stays), for every run alike."""
        self.stride *= 2
        for i, steps in enumerate(self.steps):
            keep = [j for j, s in enumerate(steps) if s % self.stride == 0]
            self.weights[i][: len(keep)] = self.weights[i][keep]
            self.steps[i] = [steps[j] for j in keep]

    def path(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Run ``i``'s ``(steps (m,), weights (m, n) float64)``, ending with its current weights (unless it
        diverged)."""
        run = self.race.runs[i]
        steps = list(self.steps[i])
        W = self.weights[i][: len(steps)].astype(np.float64)
        if not run.diverged:  # the current weights exactly (a snapshot is float32)
            now = np.asarray(run.adapter.flat, dtype=np.float64)[None]
            if steps and steps[-1] == run.step:
                W[-1] = now
            else:
                steps.append(int(run.step))
                W = np.vstack([W, now])
        return np.asarray(steps, dtype=np.int64), W


def trail(race, create: bool = True) -> Trail | None:
    """The :class:`Trail` among ``race.step_hooks`` (a new one, hooked in, when there is none and ``create``:
    its paths then start at the race's current step)."""
    return race.hook(Trail, create)


# -- directions ------------------------------------------------------------------------------------
def neuron_blocks(sizes: Sequence[int]) -> list[np.ndarray]:
    """The flat indices of each neuron's block for an MLP of layer ``sizes`` (``[2, 32, 32, 2]``): for layer
    ``l`` and neuron ``j``, row ``j`` of ``W_l`` (``(out, in)``, row-major) and ``b_l[j]``."""
    blocks, at = [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w0, b0 = at, at + fan_in * fan_out
        for j in range(fan_out):
            blocks.append(np.concatenate([np.arange(w0 + j * fan_in, w0 + (j + 1) * fan_in), [b0 + j]]))
        at = b0 + fan_out
    return blocks


def filter_normalized(theta: np.ndarray, sizes: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """A Gaussian direction with each neuron's block ``d_B`` rescaled to ``d_B · ‖θ_B‖ / ‖d_B‖`` (Li et al.'s
    filter normalisation; a block of θ that is all zero gets a zero direction)."""
    theta = np.asarray(theta, dtype=np.float64)
    d = rng.standard_normal(theta.shape)
    for idx in neuron_blocks(sizes):
        dn = float(np.linalg.norm(d[idx]))
        d[idx] *= float(np.linalg.norm(theta[idx])) / dn if dn > 0 else 0.0
    return d


def pca_directions(points: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The top two principal directions of ``points - centre`` (``(m, n)``, centred on their mean): ``(D (2, n)
    orthonormal rows, the fraction of the variance each explains (2,))``. Fewer than two directions of
    variance (a path that has not moved) give zero rows after the ones there are."""
    M = np.asarray(points, dtype=np.float64) - np.asarray(centre, dtype=np.float64)
    M = M - M.mean(axis=0)
    D = np.zeros((2, M.shape[1]))
    frac = np.zeros(2)
    if len(M) < 2:
        return D, frac
    _, s, Vt = np.linalg.svd(M, full_matrices=False)
    total = float(np.sum(s ** 2))
    k = int(min(2, np.sum(s > 1e-12 * max(s[0], 1e-300))))
    D[:k] = Vt[:k]
    if total > 0:
        frac[:k] = s[:k] ** 2 / total
    # A sign convention (the largest entry positive) so the same plane is drawn the same way each time.
    for r in range(k):
        if D[r, np.argmax(np.abs(D[r]))] < 0:
            D[r] = -D[r]
    return D, frac


def project(points: np.ndarray, centre: np.ndarray, D: np.ndarray) -> np.ndarray:
    """The plane coordinates ``(a, b)`` of ``points`` ``(m, n)``: the least-squares solution of
    ``θ* + a·d₁ + b·d₂ ≈ θ``, i.e. ``(DᵀD)⁻¹ Dᵀ (θ - θ*)`` per point; shape ``(m, 2)``."""
    X = np.asarray(points, dtype=np.float64) - np.asarray(centre, dtype=np.float64)
    G = D @ D.T
    return np.linalg.lstsq(G, D @ X.T, rcond=None)[0].T


# -- the loss on the plane -------------------------------------------------------------------------
def grid_size(n_train: int, n_params: int, want: int = budget.NET_LANDSCAPE_GRID,
              max_work: float = budget.NET_LANDSCAPE_MAX_WORK) -> int:
    """The largest odd ``G ≤ want`` with ``G² · n_train · n_params ≤ max_work`` (at least 9): odd, so the
    centre θ* is a grid point."""
    g = int(math.isqrt(int(max_work // max(1, n_train * n_params))))
    g = max(9, min(int(want), g))
    return g if g % 2 else g - 1


def plane_losses(loss: FlatLoss, centre: np.ndarray, D: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``L(θ* + a_i·d₁ + b_j·d₂)`` for every ``a_i`` of ``a`` and ``b_j`` of ``b``: shape ``(len(b), len(a))``
    (row ``j``, column ``i``), float64; forward passes batched ``CHUNK`` weight vectors at a time."""
    torch = loss.torch
    A, B = np.meshgrid(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    thetas = (np.asarray(centre, dtype=np.float64)[None] + A.reshape(-1, 1) * D[0][None]
              + B.reshape(-1, 1) * D[1][None])
    batched = torch.func.vmap(loss.loss)
    out = np.empty(len(thetas))
    with torch.no_grad():
        for s in range(0, len(thetas), CHUNK):
            out[s: s + CHUNK] = batched(torch.from_numpy(thetas[s: s + CHUNK])).numpy()
    return out.reshape(A.shape)


class _GridSurface:
    """A landscape grid as the Playground's surfaces are read by :func:`app.playground.figures.landscape`:
    ``value(points (..., 2))``, bilinear between the grid's values (log10 spacing of the bands decided
    from the values, as for a custom formula)."""

    log_levels = None
    global_min_value = None

    def __init__(self, a: np.ndarray, b: np.ndarray, Z: np.ndarray):
        self.a, self.b, self.Z = a, b, Z

    def value(self, P: np.ndarray) -> np.ndarray:
        x = np.clip(P[..., 0], self.a[0], self.a[-1])
        y = np.clip(P[..., 1], self.b[0], self.b[-1])
        i = np.clip(np.searchsorted(self.a, x) - 1, 0, len(self.a) - 2)
        j = np.clip(np.searchsorted(self.b, y) - 1, 0, len(self.b) - 2)
        tx = (x - self.a[i]) / (self.a[i + 1] - self.a[i])
        ty = (y - self.b[j]) / (self.b[j + 1] - self.b[j])
        Z = self.Z
        return ((1 - tx) * (1 - ty) * Z[j, i] + tx * (1 - ty) * Z[j, i + 1] + (1 - tx) * ty * Z[j + 1, i]
                + tx * ty * Z[j + 1, i + 1])


@dataclass
class Slice:
    """One computed plane: its grid of losses, the runs' projected paths, and how it was made."""

    kind: str
    centre_run: int
    step: int  # the race step θ* is from
    a: np.ndarray  # (G,) grid coordinates along d₁
    b: np.ndarray  # (G,) along d₂
    Z: np.ndarray  # (G, G) loss, [j, i] at (a[i], b[j])
    steps: np.ndarray  # (T+1,) the training step of each frame
    paths: np.ndarray  # (K, T+1, 2) every run's (a, b) per frame, NaN where it has none (diverged)
    explained: np.ndarray  # (2,) PCA: variance fractions; random: NaN
    centre_loss: float
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def window(self) -> tuple[tuple[float, float], tuple[float, float]]:
        return (float(self.a[0]), float(self.a[-1])), (float(self.b[0]), float(self.b[-1]))


def _frames(trl: Trail, n_runs: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The steps every frame shows (the union of the runs' snapshot steps) and each run's weights at them
    (NaN rows where a run has none: it had diverged)."""
    paths = [trl.path(i) for i in range(n_runs)]
    steps = np.unique(np.concatenate([s for s, _ in paths]))
    out = []
    for s, W in paths:
        full = np.full((len(steps), W.shape[1]), np.nan)
        full[np.searchsorted(steps, s)] = W
        out.append(full)
    return steps, out


def _window(coords: np.ndarray, margin: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """A square-ish box around the finite ``coords`` (and the origin), ``margin`` of its size added per side."""
    pts = coords[np.all(np.isfinite(coords), axis=1)]
    pts = np.vstack([pts, np.zeros((1, 2))])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.maximum(hi - lo, 1e-3)
    span = np.maximum(span, 0.35 * span.max())  # a thin path still gets a plane around it
    mid = (lo + hi) / 2
    half = span * (0.5 + margin)
    return mid - half, mid + half


def compute_slice(race, trl: Trail, *, kind: str = "pca", centre_run: int = 0, seed: int = 0,
                  grid: int = budget.NET_LANDSCAPE_GRID) -> Slice:
    """The plane of ``kind`` (:data:`KINDS`) through run ``centre_run``'s current weights, its loss grid and
    every run's projected path. Raises ValueError for what cannot be drawn (a diverged centre run)."""
    import time

    if kind not in KINDS:
        raise ValueError(f"directions must be one of {list(KINDS)}, got {kind!r}")
    if not 0 <= centre_run < len(race.runs):
        raise ValueError(f"no run {centre_run + 1}")
    run = race.runs[centre_run]
    centre = np.asarray(run.adapter.flat, dtype=np.float64).copy()
    if run.diverged or not np.all(np.isfinite(centre)):
        raise ValueError(f"run {centre_run + 1} diverged: centre the plane on another run")
    t0 = time.thread_time()
    loss = FlatLoss(race.spec, race.X_train, race.y_train)
    steps, W = _frames(trl, len(race.runs))
    notes = []
    if kind == "pca":
        pts = np.vstack([w[np.all(np.isfinite(w), axis=1)] for w in W])
        D, explained = pca_directions(pts, centre)
        if not np.any(D[1]):
            raise ValueError("the runs have not moved yet: train a few steps, then draw the plane")
    else:
        rng = np.random.default_rng([int(seed), 2018])
        D = np.stack([filter_normalized(centre, race.spec.sizes, rng) for _ in range(2)])
        explained = np.full(2, np.nan)
    paths = np.stack([project(np.nan_to_num(w), centre, D) for w in W])
    for k, w in enumerate(W):
        paths[k][~np.all(np.isfinite(w), axis=1)] = np.nan
    g = grid_size(len(race.y_train), loss.n, grid)
    if g < min(int(grid), budget.NET_LANDSCAPE_GRID):
        notes.append(f"A {g} × {g} grid (not {grid} × {grid}): the network and the data are large, and one "
                     "drawing may take about a second of the server's time.")
    if kind == "pca":
        lo, hi = _window(paths.reshape(-1, 2))
    else:
        lo, hi = np.full(2, -RANDOM_SPAN), np.full(2, RANDOM_SPAN)
    a = np.linspace(lo[0], hi[0], g)
    b = np.linspace(lo[1], hi[1], g)
    Z = plane_losses(loss, centre, D, a, b)
    with loss.torch.no_grad():
        c_loss = float(loss.loss(loss.torch.from_numpy(centre)))
    return Slice(kind, int(centre_run), int(race.step), a, b, Z, steps, paths, explained, c_loss,
                 time.thread_time() - t0, notes)


def slice_figure(sl: Slice, labels: Sequence[str], colors: Sequence[str] | None = None, height: int = 620,
                 max_frames: int = 120):
    """The plane as the Playground draws a race: the banded loss picture (log-spaced bands when the loss spans
    decades), every run's path growing frame by frame (▶ Play), each run's start ring, and a slider
    labelled with the training step of each frame."""
    from app.playground import figures as PF

    land = PF.landscape(_GridSurface(sl.a, sl.b, sl.Z), sl.window, n=480)
    T = len(sl.steps) - 1
    fig = PF.race_figure(sl.paths, list(labels), window=sl.window, background=land, colors=colors,
                         starts=sl.paths[:, 0], title="", max_frames=max_frames, height=height, click_grid=False)
    # The race figure names its axes θ₁, θ₂ and its frames by index: here they are (a, b) and steps.
    ax = ("a (along d₁)", "b (along d₂)")
    fig.update_xaxes(title_text=ax[0])
    fig.update_yaxes(title_text=ax[1])
    for tr in fig.data:
        if getattr(tr, "hovertemplate", None):
            tr.hovertemplate = tr.hovertemplate.replace("θ₁", "a").replace("θ₂", "b")
    slider = fig.layout.sliders[0]
    steps = [s.to_plotly_json() for s in slider.steps]
    for s in steps:
        s["label"] = f"{int(sl.steps[min(int(s['label']), T)]):,}"
    fig.layout.sliders[0].steps = steps
    fig.layout.sliders[0].currentvalue.prefix = "training step "
    # The legend above the map (beside it, it took a third of the width from the picture).
    fig.update_layout(legend=dict(orientation="h", x=0.0, xanchor="left", y=1.02, yanchor="bottom"),
                      margin=dict(t=70))
    return fig


def caption(sl: Slice) -> str:
    """What the picture shows, in numbers."""
    if sl.kind == "pca":
        where = (f"d₁, d₂: the top two principal directions of every run's weights along the way "
                 f"({sl.explained[0]:.0%} and {sl.explained[1]:.0%} of their variance)")
    else:
        where = ("d₁, d₂: random directions, each neuron's block scaled to that neuron's weights (Li et al. 2018); "
                 "in this many dimensions they are almost orthogonal to every path, so the paths shrink to little "
                 "more than a point (choose PCA to see them)")
    return (f"The training loss on the plane θ* + a·d₁ + b·d₂ through run {sl.centre_run + 1}'s weights θ* at step "
            f"{sl.step:,} (loss {sl.centre_loss:.4g}, at a = b = 0); {where}. Each path is the shadow of a run's "
            f"weights on this plane: the colours are the loss on the plane, not the loss the run saw off it. "
            f"{len(sl.a)} × {len(sl.b)} grid, {sl.seconds:.2f} s.")


# -- the panel (Streamlit) -------------------------------------------------------------------------
CACHE_KEY = "_lt_land_cache"  # session state: the last few slices, by what they are of
CACHE_SIZE = 4


def cached_slice(state, race, *, kind: str, centre_run: int, seed: int) -> Slice:
    """The slice for these settings at the race's current step, from ``state``'s cache (computed and kept
    otherwise: the last :data:`CACHE_SIZE` slices)."""
    key = (race.uid, int(race.step), kind, int(centre_run), int(seed) if kind == "random" else 0)
    cache = state.get(CACHE_KEY)
    if not isinstance(cache, dict):
        cache = state[CACHE_KEY] = {}
    if key not in cache:
        cache[key] = compute_slice(race, trail(race), kind=kind, centre_run=centre_run, seed=seed)
        while len(cache) > CACHE_SIZE:
            cache.pop(next(iter(cache)))
    return cache[key]


def panel(race, lock) -> None:
    """The Landscape panel of ``race`` (inside its expander, drawn by whole-page runs only): the directions,
    the run the plane goes through, the picture and what it shows. Reads the race under the page's ``lock``."""
    import streamlit as st

    from app.training.sharpness import run_labels

    labels = run_labels(race)
    c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    kind = c1.radio("Directions", list(KINDS), format_func=KINDS.get, key="lt_land_kind", horizontal=True)
    centre = c2.selectbox("Through the weights of", range(len(race.runs)), format_func=lambda i: labels[i],
                          key="lt_land_run")
    seed = 0
    if kind == "random":
        seed = int(c3.number_input("Seed", 0, 10_000, key="lt_land_seed",
                                   help="Which random directions (a new seed: another plane through the same θ*)."))
    centre = int(centre) if centre is not None and 0 <= int(centre) < len(race.runs) else 0
    try:
        with lock:
            sl = cached_slice(st.session_state, race, kind=kind, centre_run=centre, seed=seed)
    except ValueError as exc:
        st.info(str(exc))
        return
    st.plotly_chart(slice_figure(sl, labels), theme=None, key="lt_land_chart", config={"displaylogo": False})
    for note in sl.notes:
        st.info(note)
    st.caption(caption(sl) + " ▶ Play replays the paths; the picture is drawn again when the race has moved "
               "and this page reruns (Pause, or any control).")
