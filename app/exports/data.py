"""The race's numbers, for a spreadsheet or a notebook: every step of every run, as CSV or JSON.

Row ``t`` of a run (t = 0 … T) holds the point θ_t and its loss, then the step t → t+1 taken
from there: the gradient the optimizer saw at θ_t (after noise and clipping), the raw gradient
(before clipping), the lr in force, the update Δθ = θ_{t+1} − θ_t and the optimizer's state
after that step (its per-coordinate arrays: ``exp_avg``, ``momentum_buffer``, …). The last
row (t = T) has no step after it, so those columns are empty. A run that diverged at step d
has no point from row d on and no step from row d − 1 on: those cells are empty in the CSV
and ``null`` in the JSON, and ``diverged`` is 1 from row d on.

:func:`race_json` adds what is needed to run the race again: every field of the scene and
its runs, the surface's name, title and parameters (defaults included), the start, the app
version. Both take the scene and :func:`app.playground.race.compute`'s result for it; the
Playground's runs have one start each (``M = 1``; with more, a ``start`` column is added).
Nothing here imports streamlit.

Both say how the numbers were stored: the ``precision`` (float64, float32, bfloat16, float16) and
each run's ``remedy`` (none, master, stochastic, kahan), and, for a low-precision race, whether
each step's update of θ₁, θ₂ was rounded away (``lost1``, ``lost2``: it was not zero in float64
and the stored value did not change), from the engine's record (:mod:`optim_core.precision`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from typing import Any

import numpy as np

__all__ = ["race_csv", "race_json", "columns", "APP_NAME", "FORMAT"]

APP_NAME = "Optimizer Explorer"
FORMAT = "optimizer-explorer/race@1"  # the JSON's schema name, bumped when its layout changes

BASE_COLUMNS = ("run", "label", "step", "theta1", "theta2", "loss", "g1", "g2", "raw_g1", "raw_g2",
                "delta1", "delta2", "lr")


def app_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("optimizer-explorer")
    except (ImportError, PackageNotFoundError):  # running from a checkout that was not installed
        return "unknown"


# ---------------------------------------------------------------------------------------
# The per-step arrays of one run
# ---------------------------------------------------------------------------------------


def _state_keys(traj) -> list[str]:
    """Every recorded state array's name, in order of first appearance across the runs."""
    keys: list[str] = []
    for states in traj.states:
        for key in states:
            if key not in keys:
                keys.append(key)
    return keys


def _run_arrays(traj, k: int, m: int) -> dict[str, Any]:
    """Run k, start m: the per-step arrays, NaN where the run had diverged (see the module docs).

    ``theta``, ``loss``: T+1 rows; ``grad``, ``raw_grad``, ``update``, ``lr`` and each state:
    T rows (the step from row t). The engine cuts positions, gradients and updates at a
    divergence; the lr and the state records it keeps are cut here the same way.
    """
    T = int(traj.steps)
    ds = int(traj.diverged_step[k, m])
    lr = np.array(np.broadcast_to(traj.lrs[k, m], (T,)), dtype=np.float64)
    states = {key: np.array(v[m], dtype=np.float64) for key, v in traj.states[k].items()}
    if ds >= 0:
        cut = max(ds - 1, 0)  # the step into row ds left the region: it is no step of the path
        lr[cut:] = np.nan
        for v in states.values():
            v[cut:] = np.nan
    return dict(
        theta=np.asarray(traj.positions[k, m], dtype=np.float64),
        loss=np.asarray(traj.losses[k, m], dtype=np.float64),
        grad=np.asarray(traj.grads[k, m], dtype=np.float64),
        raw_grad=np.asarray(traj.raw_grads[k, m], dtype=np.float64),
        update=np.asarray(traj.updates[k, m], dtype=np.float64),
        lr=lr,
        states=states,
        diverged_step=ds,
    )


def _check(res) -> Any:
    traj = getattr(res, "traj", None)
    if traj is None:
        raise ValueError("The race was not computed: " + "; ".join(getattr(res, "errors", None) or ["no trajectories"]))
    if traj.positions is None or traj.grads is None:
        raise ValueError("The race was computed without its full record (record='full' is needed for the data).")
    return traj


def columns(res) -> list[str]:
    """The CSV's header for this race."""
    traj = _check(res)
    cols = list(BASE_COLUMNS)
    cols[2:2] = ["precision", "remedy"]
    if traj.positions.shape[1] > 1:
        cols.insert(4, "start")  # before the step, where the rows put it
    for key in _state_keys(traj):
        cols += [f"{key}_1", f"{key}_2"]
    if _lost_steps(traj) is not None:
        cols += ["lost1", "lost2"]
    return cols + ["diverged"]


def _storage(traj, k: int) -> tuple[str, str]:
    """Run k's ``(precision, remedy)`` as the engine stored it (float64 and none: nothing rounded)."""
    rec = getattr(traj, "precision", None)
    if rec is None:
        return "float64", "none"
    return str(rec["dtype"][k]), str(rec["remedy"][k])


def _lost_steps(traj):
    """``(K, M, T, 2)`` bools: step t's update of each coordinate was rounded away (None in float64,
    or when the race kept no path)."""
    rec = getattr(traj, "precision", None)
    return None if rec is None else rec.get("lost")


def _lost(traj, k: int, m: int, ds: int) -> np.ndarray | None:
    """Run k's per-step lost flags as float64 0/1, NaN from the step a divergence cuts (as the state)."""
    lost = _lost_steps(traj)
    if lost is None:
        return None
    out = np.asarray(lost[k, m], dtype=np.float64).copy()
    if ds >= 0:
        out[max(ds - 1, 0):] = np.nan
    return out


# ---------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------


def _cell(x: float) -> str:
    """A float as the shortest text that reads back to the same float64; empty if not finite."""
    return repr(float(x)) if math.isfinite(x) else ""


def race_csv(scene, res) -> bytes:
    """One row per run per step (K x (T+1) rows), UTF-8 (labels hold η, μ, ‖g‖), comma-separated."""
    traj = _check(res)
    keys = _state_keys(traj)
    K, M, T1 = traj.positions.shape[:3]
    T = T1 - 1
    labels = list(res.labels) or [s.display_label() for s in traj.specs]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(columns(res))
    for k in range(K):
        for m in range(M):
            a = _run_arrays(traj, k, m)
            ds = a["diverged_step"]
            # Whole columns to Python floats first: per-cell NumPy scalar access is ~10x slower.
            theta, loss = a["theta"].tolist(), a["loss"].tolist()
            per_step = [a["grad"][:, 0], a["grad"][:, 1], a["raw_grad"][:, 0], a["raw_grad"][:, 1],
                        a["update"][:, 0], a["update"][:, 1], a["lr"]]
            for key in keys:
                st = a["states"].get(key)
                if st is None:
                    per_step += [np.full(T, np.nan), np.full(T, np.nan)]
                else:
                    per_step += [st[:, 0], st[:, 1]]
            per_step = [[_cell(x) for x in col.tolist()] for col in per_step]
            lost = _lost(traj, k, m, ds)
            if lost is not None:  # 0 or 1, empty after a divergence
                per_step += [["" if math.isnan(x) else str(int(x)) for x in col.tolist()] for col in lost.T]
            blank = [""] * len(per_step)
            stored = list(_storage(traj, k))
            for t in range(T1):
                row = [k, labels[k], *stored] + ([m] if M > 1 else []) + [t, _cell(theta[t][0]),
                                                                           _cell(theta[t][1]), _cell(loss[t])]
                row += [col[t] for col in per_step] if t < T else blank
                row.append(1 if 0 <= ds <= t else 0)
                w.writerow(row)
    return out.getvalue().encode("utf-8")


# ---------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------


def _plain(v: Any) -> Any:
    """Settings as JSON values: tuples of pairs stay lists, NumPy scalars become Python ones."""
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.ndarray):
        return _nulls(v)
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _nulls(a: np.ndarray) -> list:
    """An array as nested lists, None where it is NaN or infinite (JSON has neither)."""
    a = np.asarray(a, dtype=np.float64)
    finite = np.isfinite(a)
    if finite.all():
        return a.tolist()
    return np.where(finite, a.astype(object), None).tolist()


def _run_settings(run) -> dict[str, Any]:
    d = {f.name: getattr(run, f.name) for f in dataclasses.fields(run)}
    d["hypers"] = {k: v for k, v in run.hypers}
    d["schedule_params"] = {k: v for k, v in run.schedule_params}
    return _plain(d)


def scene_settings(scene) -> dict[str, Any]:
    """Every field of the scene and of its runs (hyperparameters and schedule parameters as objects)."""
    d = {f.name: getattr(scene, f.name) for f in dataclasses.fields(scene)}
    d["surface_params"] = {k: v for k, v in scene.surface_params}
    d["runs"] = [_run_settings(r) for r in scene.runs]
    return _plain(d)


def _surface_info(scene, surface) -> dict[str, Any]:
    params = dict(scene.surface_params)
    try:
        from optim_core import registry

        params = {**registry.get_surface(scene.surface).defaults(), **params}
    except (KeyError, ImportError):  # a custom formula: its parameters are the formula and window
        pass
    info = {"name": scene.surface, "params": params}
    if surface is not None:
        info["title"] = str(getattr(surface, "title", "") or getattr(surface, "name", ""))
        info["window"] = getattr(surface, "window", None)
        minima = getattr(surface, "minima", None)
        info["minima"] = None if minima is None else np.asarray(minima, dtype=np.float64).reshape(-1, 2)
        info["global_min_value"] = getattr(surface, "global_min_value", None)
    if scene.formula:
        info["formula"] = scene.formula
    return _plain(info)


def _lost_json(traj, k: int, m: int, ds: int) -> dict[str, Any]:
    """Run k's rounded-away updates for the JSON: per step (cut at a divergence) and totals (nothing in
    float64)."""
    rec = getattr(traj, "precision", None)
    if rec is None:
        return {}
    lost = _lost(traj, k, m, ds)
    if lost is None:  # no path kept: the engine's totals only
        return {"lost_total": _plain(rec["lost_total"][k, m]), "moved_total": _plain(rec["moved_total"][k, m])}
    moved = np.asarray(rec["moved"][k, m], dtype=np.float64).copy()
    moved[np.isnan(lost)] = np.nan
    steps = np.where(np.isnan(lost), None, lost.astype(object)).tolist()
    return {"lost": [[None if x is None else int(x) for x in row] for row in steps],
            "lost_total": np.nansum(lost, axis=0).astype(int).tolist(),
            "moved_total": np.nansum(moved, axis=0).astype(int).tolist()}


def race_json(scene, res) -> bytes:
    """The settings (scene, runs, surface, app version) and every run's per-step arrays.

    ASCII-only UTF-8 (θ is written ``\\u03b8``), NaN and infinities as ``null``. The scene is
    the one raced (``res.scene``: runs the page refused are left out and listed in ``refused``).
    """
    traj = _check(res)
    raced = getattr(res, "scene", None) or scene
    K, M = traj.positions.shape[:2]
    labels = list(res.labels) or [s.display_label() for s in traj.specs]
    runs = []
    for k in range(K):
        for m in range(M):
            a = _run_arrays(traj, k, m)
            run = {
                "run": k,
                "label": labels[k],
                "optimizer": traj.specs[k].optimizer,
                "hypers": _plain(traj.specs[k].resolved_hypers()),
                "start": _nulls(traj.starts[k, m]),
                "diverged_step": a["diverged_step"],
                "diverged_reason": str(traj.diverged_reason[k, m]) or None,
                "escape": None if traj.escapes is None else _nulls(traj.escapes[k, m]),
                "final_loss": _plain(traj.final_losses[k, m]),
                "theta": _nulls(a["theta"]),
                "loss": _nulls(a["loss"]),
                "grad": _nulls(a["grad"]),
                "raw_grad": _nulls(a["raw_grad"]),
                "update": _nulls(a["update"]),
                "lr": _nulls(a["lr"]),
                "state": {key: _nulls(v) for key, v in a["states"].items()},
            }
            run["precision"], run["remedy"] = _storage(traj, k)
            run.update(_lost_json(traj, k, m, a["diverged_step"]))
            if M > 1:
                run["start_index"] = m
            runs.append(run)
    doc = {
        "format": FORMAT,
        "app": {"name": APP_NAME, "version": app_version()},
        "about": ("theta, loss: T+1 rows (step 0 is the start). grad (what the optimizer saw), raw_grad "
                  "(before clipping), update, lr, state: T rows, row t is the step from theta[t] to "
                  "theta[t+1] (state after it). null: not a number (after a divergence). precision: how "
                  "parameters and optimizer state were stored; in low precision, lost: T rows, 1 where that "
                  "step's update of the coordinate was rounded away (not zero in float64, the stored value "
                  "unchanged), and lost_total, moved_total: per coordinate, the steps rounded away and the "
                  "steps with a nonzero float64 update, over the steps of the path."),
        "precision": raced.precision,
        "scene": scene_settings(raced),
        "refused": {str(i): msg for i, msg in (getattr(res, "refused", None) or {}).items()},
        "surface": _surface_info(raced, getattr(res, "surface", None)),
        "steps": int(traj.steps),
        "threshold": _plain(traj.threshold),
        "runs": runs,
    }
    return json.dumps(doc, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("utf-8")
