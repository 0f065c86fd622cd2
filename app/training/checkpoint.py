"""A Live Training race saved mid-run to one file, and resumed exactly where it stopped.

One safetensors file (safetensors 0.8: a JSON header, then raw little-endian tensors; loading it can
only make arrays, never run code, unlike a pickle or ``torch.load``) holds, for every run:

- the weights (the model's ``state_dict`` tensors, ``run<i>.weights.<name>``);
- the optimizer's state, whichever backend steps it: ``torch.optim``'s ``state_dict()`` or
  optim_core's (the same layout: ``{"state": {index: {...}}, "param_groups": [...]}``), its tensors as
  ``run<i>.optim.<index>.<key>`` and the rest (steps, scalars, the groups' hyperparameters) in the
  header's JSON;
- the step counter (which is the schedule's position: the app sets the lr from the schedule's curve at
  that step) and the data order: the mini-batch stream is a pure function of the seed and the micro-batch
  counter (``step · accumulate``), and the permutation of the epoch each run reads next is stored too,
  so a NumPy that shuffles differently is caught on loading instead of silently changing the batches;
- the random state of Sophia's sampled labels, the loss scaler's scale and growth count
  (:mod:`app.training.amp`), and the histories (per step, per evaluation, per precision record);

and the race's settings (model, batch size, seed, dtype, precision, each run's configuration) plus
whatever the page adds (its dataset controls). The data are not stored: the page regenerates them from
its settings and the file's SHA-256 of the data must match.

:func:`save` writes it, :func:`read` parses and validates it (:class:`CheckpointError`, a sentence for
the page, on anything wrong: size, format, unknown or missing keys, a shape, a dtype, a non-finite
number, a setting out of range), :func:`restore` builds the race from it. The central fact, checked by
``tests/test_checkpoint.py`` and drawn by :func:`resume_demo` / :func:`resume_figure`: a race trained N
steps, saved, restored into a fresh race and trained M more equals, bit for bit, the race trained N + M
steps without stopping.

:func:`state_table` lists what an optimizer's state holds, tensor by tensor with its bytes, and
:func:`memory_check` ties the total to the Memory page's :func:`app.memory.model.memory_row`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import struct
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from app import budget
from app.training import amp as A
from app.training import backend as T

__all__ = ["FORMAT", "VERSION", "MAX_BYTES", "MAX_RUNS", "CheckpointError", "Checkpoint", "save", "read",
           "restore", "data_digest", "state_table", "memory_check", "resume_demo", "resume_figure", "Span",
           "hyper_offers", "hyper_controls", "page_values"]

FORMAT = "optimizer-explorer/live-training-race"
VERSION = 1
MAX_BYTES = budget.CHECKPOINT_MAX_BYTES
MAX_RUNS = 8
MAX_TEXT = 500  # the longest string the header may hold (a run's label, a divergence message)
_HISTORY = ("step", "loss", "lr", "grad_norm", "grad_norm_clipped", "weight_norm")
_EVALS = ("step", "train_loss", "train_acc", "test_loss", "test_acc")
_CONFIG_KEYS = {"optimizer", "hypers", "backend", "schedule", "schedule_params", "schedule_steps", "clip_norm",
                "accumulate", "label", "groups"}
_RUN_KEYS = {"config", "step", "diverged", "optimizer", "rng", "scaler"}
_RACE_KEYS = {"spec", "batch_size", "seed", "dtype", "eval_every", "precision", "n_train", "n_test", "data_sha256"}
_TOP_KEYS = {"format", "version", "race", "runs", "page", "perms"}


class CheckpointError(ValueError):
    """What is wrong with a checkpoint, as one sentence for the page."""


# ---------------------------------------------------------------------------------------
# Values <-> JSON and tensors
# ---------------------------------------------------------------------------------------
# In the header, a dict is {"d": {...}}, a tuple {"u": [...]}, a tensor {"t": name} (a NumPy scalar
# {"t": name, "s": 1}, a torch tensor {"t": name, "torch": 1}); lists, strings, numbers, bools, None as such.


def _encode(value: Any, name: str, tensors: dict[str, np.ndarray]) -> Any:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.ndarray):
        tensors[name] = np.array(value, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        return {"t": name}
    if isinstance(value, np.generic):
        tensors[name] = np.asarray(value)
        return {"t": name, "s": 1}
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        tensors[name] = np.array(value.detach().cpu().numpy(), order="C")
        return {"t": name, "torch": 1}
    if isinstance(value, tuple):
        return {"u": [_encode(v, f"{name}.{j}", tensors) for j, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{name}.{j}", tensors) for j, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {"d": {str(k): _encode(v, f"{name}.{k}", tensors) for k, v in value.items()}}
    raise CheckpointError(f"cannot save a value of type {type(value).__name__} ({name})")


def _decode(value: Any, tensors: Mapping[str, np.ndarray], used: set[str], depth: int = 0) -> Any:
    if depth > 8:
        raise CheckpointError("the header nests too deeply")
    if isinstance(value, (bool, int, float, str)) or value is None:
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise CheckpointError("a text in the header is too long")
        return value
    if isinstance(value, list):
        return [_decode(v, tensors, used, depth + 1) for v in value]
    if isinstance(value, dict) and len(value) >= 1:
        if "t" in value and set(value) <= {"t", "s", "torch"}:
            name = value["t"]
            if not isinstance(name, str) or name not in tensors:
                raise CheckpointError(f"the header names a tensor the file does not hold: {str(name)[:80]!r}")
            used.add(name)
            arr = tensors[name]
            if value.get("torch"):
                torch = T.import_torch()
                return torch.from_numpy(arr.copy())
            return arr[()] if value.get("s") else arr.copy()
        if set(value) == {"u"} and isinstance(value["u"], list):
            return tuple(_decode(v, tensors, used, depth + 1) for v in value["u"])
        if set(value) == {"d"} and isinstance(value["d"], dict):
            return {k: _decode(v, tensors, used, depth + 1) for k, v in value["d"].items()}
    raise CheckpointError("the header holds a value this app does not write")


def _json_config(cfg: T.TrainingRunConfig) -> dict:
    if callable(cfg.schedule):
        raise CheckpointError(f"{cfg.title()}: a schedule given as a Python function cannot be saved")
    groups = None
    if cfg.groups is not None:
        if not dataclasses.is_dataclass(cfg.groups):
            raise CheckpointError(f"{cfg.title()}: its parameter groups cannot be saved")
        groups = dataclasses.asdict(cfg.groups)
    return {"optimizer": cfg.optimizer, "hypers": {"d": dict(cfg.hypers)}, "backend": cfg.backend,
            "schedule": cfg.schedule, "schedule_params": {"d": dict(cfg.schedule_params)},
            "schedule_steps": int(cfg.schedule_steps), "clip_norm": cfg.clip_norm, "accumulate": int(cfg.accumulate),
            "label": cfg.label, "groups": groups}


def data_digest(X_train, y_train, X_test, y_test, dtype: str = "float32") -> str:
    """SHA-256 of the four arrays as a race holds them (points in ``dtype``, labels int64)."""
    h = hashlib.sha256()
    np_dtype = np.float32 if dtype == "float32" else np.float64
    for a, dt in ((X_train, np_dtype), (y_train, np.int64), (X_test, np_dtype), (y_test, np.int64)):
        a = np.ascontiguousarray(a, dtype=dt)
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _rows_array(rows) -> np.ndarray:
    return np.ascontiguousarray(rows._data[: rows.n], dtype=np.float64)


def _epochs_read_next(race: T.Race) -> list[int]:
    if race.full_batch:
        return []
    return sorted({(run.step * run.accumulate) // race.batches_per_epoch for run in race.runs})


# ---------------------------------------------------------------------------------------
# Save
# ---------------------------------------------------------------------------------------


def save(race: T.Race, page: Mapping[str, Any] | None = None) -> bytes:
    """``race`` as the bytes of one safetensors file (``page``: JSON-able settings the page wants back)."""
    import safetensors.numpy as stn

    tensors: dict[str, np.ndarray] = {}
    runs = []
    for i, run in enumerate(race.runs):
        for name, t in run.model.state_dict().items():
            tensors[f"run{i}.weights.{name}"] = np.ascontiguousarray(t.detach().numpy())
        sd = run.optimizer.state_dict()
        state = {str(k): _encode(v, f"run{i}.optim.{k}", tensors) for k, v in sd["state"].items()}
        groups = [_encode({k: v for k, v in g.items()}, f"run{i}.group.{j}", tensors)
                  for j, g in enumerate(sd["param_groups"])]
        tensors[f"run{i}.history"] = _rows_array(run._history)
        tensors[f"run{i}.evals"] = _rows_array(run._evals)
        tensors[f"run{i}.amp"] = _rows_array(run.amp.rows)
        runs.append({
            "config": _json_config(run.config),
            "step": int(run.step),
            "diverged": run.diverged,
            "optimizer": {"state": {"d": state}, "param_groups": groups},
            "rng": {"d": _jsonable_rng(run._rng.bit_generator.state)},
            "scaler": None if run.amp.scaler_state() is None else {"d": run.amp.scaler_state()},
        })
    perms = []
    for e in _epochs_read_next(race):
        batches = [race.batch_indices(e * race.batches_per_epoch + b) for b in range(race.batches_per_epoch)]
        tensors[f"data.perm.{e}"] = np.concatenate(batches).astype(np.int64)
        perms.append(e)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "race": {"spec": {"d": dataclasses.asdict(race.spec)}, "batch_size": int(race.batch_size),
                 "seed": race.seed, "dtype": race.dtype, "eval_every": race.eval_every,
                 "precision": race.precision if isinstance(race.precision, str) else list(race.precision),
                 "n_train": len(race.y_train), "n_test": len(race.y_test),
                 "data_sha256": data_digest(race.X_train, race.y_train, race.X_test, race.y_test, race.dtype)},
        "runs": runs,
        "page": _encode(dict(page or {}), "page", scratch := {}),  # (a tuple stays a tuple: {"u": [...]})
        "perms": perms,
    }
    if scratch:
        raise CheckpointError("the page's settings must be numbers, booleans, texts or tuples of them")
    blob = stn.save(tensors, metadata={"optex": json.dumps(header, allow_nan=True)})
    if len(blob) > MAX_BYTES:
        raise CheckpointError(f"this race's checkpoint would be {len(blob) / 1e6:.1f} MB, more than the "
                              f"{MAX_BYTES / 1e6:.0f} MB the page accepts back: save it earlier in the race")
    return blob


def _jsonable_rng(state: Mapping) -> dict:
    return {k: ({"d": _jsonable_rng(v)} if isinstance(v, Mapping) else v) for k, v in state.items()}


# ---------------------------------------------------------------------------------------
# Read and validate
# ---------------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """A parsed, checked checkpoint: the settings to rebuild the race and what each run resumes from."""

    spec: T.ModelSpec
    batch_size: int
    seed: int
    dtype: str
    eval_every: int
    precision: str | tuple
    n_train: int
    n_test: int
    data_sha256: str
    configs: list[T.TrainingRunConfig]
    runs: list[dict]
    perms: dict[int, np.ndarray]
    page: dict
    tensors: dict[str, np.ndarray]

    @property
    def step(self) -> int:
        return max(r["step"] for r in self.runs)


def _header(blob: bytes) -> dict:
    """The safetensors header's ``__metadata__`` (read by hand: 8 bytes of length, then JSON)."""
    if len(blob) < 8:
        raise CheckpointError("this is not a checkpoint file (too short)")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8 or n > 1 << 22:
        raise CheckpointError("this is not a safetensors checkpoint (its header length is wrong)")
    try:
        head = json.loads(blob[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CheckpointError("this is not a safetensors checkpoint (its header is not JSON)") from None
    meta = head.get("__metadata__") if isinstance(head, dict) else None
    if not isinstance(meta, dict) or "optex" not in meta:
        raise CheckpointError("this safetensors file is not an Optimizer Explorer Live Training checkpoint")
    try:
        data = json.loads(meta["optex"])
    except (TypeError, ValueError, RecursionError):
        raise CheckpointError("the checkpoint's description is not valid JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError("this safetensors file is not an Optimizer Explorer Live Training checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(f"checkpoint version {data.get('version')!r}: this app reads version {VERSION}")
    unknown = set(data) - _TOP_KEYS
    if unknown or not _TOP_KEYS <= set(data):
        raise CheckpointError(f"the checkpoint has unknown or missing parts: {sorted(set(data) ^ _TOP_KEYS)}")
    return data


def _int(v, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise CheckpointError(f"{name} must be a whole number from {lo:,} to {hi:,}, got {str(v)[:40]}")
    return v


def _number_ok(v) -> bool:
    return v is None or isinstance(v, (bool, str)) or (isinstance(v, (int, float)) and math.isfinite(v))


def _settings(m) -> dict | None:
    """A run's hyperparameters or schedule settings from the header (``{"d": {...}}``), or None if malformed:
    numbers, booleans, texts, None, and tuples of numbers (MultiStepLR's milestones, a list in the JSON)."""
    if not (isinstance(m, dict) and set(m) == {"d"} and isinstance(m["d"], dict) and len(m["d"]) <= 40):
        return None
    out = {}
    for k, v in m["d"].items():
        if (isinstance(v, list) and len(v) <= 20
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)):
            v = tuple(v)
        elif not _number_ok(v):
            return None
        out[k] = v
    return out


def _config(d, i: int) -> T.TrainingRunConfig:
    from optim_core import registry

    where = f"run {i + 1}"
    if not isinstance(d, dict) or set(d) != _CONFIG_KEYS:
        raise CheckpointError(f"{where}: its configuration has unknown or missing settings")
    if d["optimizer"] not in registry.optimizers():
        raise CheckpointError(f"{where}: unknown optimizer {str(d['optimizer'])[:40]!r}")
    if d["backend"] not in T.BACKENDS:
        raise CheckpointError(f"{where}: unknown backend {str(d['backend'])[:40]!r}")
    hypers, sparams = _settings(d["hypers"]), _settings(d["schedule_params"])
    for what, m in (("hyperparameters", hypers), ("schedule settings", sparams)):
        if m is None:
            raise CheckpointError(f"{where}: its {what} must be numbers, booleans, texts, tuples of numbers or None")
    sched = d["schedule"]
    if sched is not None and (not isinstance(sched, str) or (sched not in registry.schedules()
                                                            and sched not in ("", "constant", T.NO_SCHEDULE))):
        raise CheckpointError(f"{where}: unknown schedule {str(sched)[:40]!r}")
    clip = d["clip_norm"]
    if clip is not None and not (isinstance(clip, (int, float)) and not isinstance(clip, bool)
                                 and math.isfinite(clip) and clip > 0):
        raise CheckpointError(f"{where}: the clipping norm must be a number > 0 or None")
    if not isinstance(d["label"], str) or len(d["label"]) > 100:
        raise CheckpointError(f"{where}: its label must be a short text")
    groups = d["groups"]
    if groups is not None:
        try:
            from app.training.groups import GroupSpec

            groups = GroupSpec(**groups)
        except (ImportError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{where}: its parameter groups cannot be used: {exc}") from None
    return T.TrainingRunConfig(
        d["optimizer"], hypers, backend=d["backend"], schedule=sched,
        schedule_params=sparams, schedule_steps=_int(d["schedule_steps"], f"{where}'s schedule length",
                                                                1, 100_000),
        clip_norm=None if clip is None else float(clip), accumulate=_int(d["accumulate"], f"{where}'s accumulation",
                                                                         1, 64),
        label=d["label"], groups=groups)


def read(blob: bytes) -> Checkpoint:
    """Parse and check a checkpoint's bytes; :class:`CheckpointError` says what is wrong."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise CheckpointError("no file")
    blob = bytes(blob)
    if len(blob) > MAX_BYTES:
        raise CheckpointError(f"the file is {len(blob) / 1e6:.1f} MB; a checkpoint is at most {MAX_BYTES / 1e6:.0f} MB")
    data = _header(blob)
    try:
        import safetensors.numpy as stn

        tensors = stn.load(blob)
    except Exception as exc:  # the Rust parser's SafetensorError, or a dtype NumPy lacks
        raise CheckpointError(f"the file's tensors cannot be read: {str(exc)[:120]}") from None
    race = data["race"]
    if not isinstance(race, dict) or set(race) != _RACE_KEYS:
        raise CheckpointError("the race's settings have unknown or missing entries")
    spec_d = race["spec"]
    try:
        spec = T.ModelSpec(**spec_d["d"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"the model cannot be built: {exc}") from None
    if race["dtype"] not in ("float32", "float64"):
        raise CheckpointError(f"dtype must be float32 or float64, got {str(race['dtype'])[:20]!r}")
    n_train = _int(race["n_train"], "the number of training points", 1, 100_000)
    n_test = _int(race["n_test"], "the number of test points", 1, 100_000)
    batch_size = _int(race["batch_size"], "the batch size", 1, n_train)
    seed = _int(race["seed"], "the seed", 0, 2**32 - 1)
    eval_every = _int(race["eval_every"], "the evaluation interval", 1, 10_000)
    runs_d = data["runs"]
    if not isinstance(runs_d, list) or not 1 <= len(runs_d) <= MAX_RUNS:
        raise CheckpointError(f"a checkpoint holds 1 to {MAX_RUNS} runs")
    precision = race["precision"]
    precisions = [precision] * len(runs_d) if isinstance(precision, str) else precision
    if not isinstance(precisions, list) or len(precisions) != len(runs_d):
        raise CheckpointError("the precision must be one name, or one per run")
    for p in precisions:
        problem = A.precision_problem(p, race["dtype"])
        if problem:
            raise CheckpointError(problem)
    if not isinstance(race["data_sha256"], str) or len(race["data_sha256"]) != 64:
        raise CheckpointError("the data's SHA-256 is missing")
    configs = [_config(r.get("config") if isinstance(r, dict) else None, i) for i, r in enumerate(runs_d)]
    used: set[str] = set()
    runs = []
    for i, r in enumerate(runs_d):
        where = f"run {i + 1}"
        if set(r) != _RUN_KEYS:
            raise CheckpointError(f"{where}: unknown or missing entries")
        step = _int(r["step"], f"{where}'s step", 0, budget.LIVE_MAX_STEPS)
        if not isinstance(r["diverged"], str) or len(r["diverged"]) > MAX_TEXT:
            raise CheckpointError(f"{where}: its divergence note must be a short text")
        opt = r["optimizer"]
        if not (isinstance(opt, dict) and set(opt) == {"state", "param_groups"}):
            raise CheckpointError(f"{where}: its optimizer state must have 'state' and 'param_groups'")
        state = _decode(opt["state"], tensors, used)
        groups = _decode(opt["param_groups"], tensors, used)
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise CheckpointError(f"{where}: its parameter groups are not a list of settings")
        try:
            state = {int(k): v for k, v in state.items()}
        except (ValueError, AttributeError):
            raise CheckpointError(f"{where}: its optimizer state is not indexed by parameter") from None
        if not all(isinstance(v, dict) for v in state.values()):
            raise CheckpointError(f"{where}: each parameter's optimizer state must be a set of named values")
        rng = _decode(r["rng"], tensors, used)
        scaler = None if r["scaler"] is None else _decode(r["scaler"], tensors, used)
        rows = {}
        expected = {"history": (step, len(_HISTORY)), "evals": (None, len(_EVALS)), "amp": (step, len(A.COLUMNS))}
        for key, (n, width) in expected.items():
            name = f"run{i}.{key}"
            arr = tensors.get(name)
            if arr is None or arr.dtype != np.float64 or arr.ndim != 2 or arr.shape[1] != width:
                raise CheckpointError(f"{where}: its {key} must be a float64 table of {width} columns")
            if n is not None and arr.shape[0] != n:
                raise CheckpointError(f"{where}: its {key} has {arr.shape[0]} rows for {n} steps")
            used.add(name)
            rows[key] = arr
            if np.isinf(arr).any():
                raise CheckpointError(f"{where}: its {key} holds infinite values")
        steps = np.arange(1, step + 1, dtype=np.float64)
        if not (np.array_equal(rows["history"][:, 0], steps) and np.array_equal(rows["amp"][:, 0], steps)):
            raise CheckpointError(f"{where}: its history is not numbered 1 to {step}")
        if not np.array_equal(rows["evals"][:, 0], eval_every * np.arange(len(rows["evals"]), dtype=np.float64)):
            raise CheckpointError(f"{where}: its evaluations are not every {eval_every} steps from step 0")
        if not 1 <= rows["evals"].shape[0] <= step // eval_every + 1:
            raise CheckpointError(f"{where}: its evaluations do not match its {step} steps")
        weights = {}
        for name in _weight_names(spec):
            key = f"run{i}.weights.{name}"
            arr = tensors.get(key)
            shape = _weight_shape(spec, name)
            if arr is None:
                raise CheckpointError(f"{where}: the weights {name} are missing")
            if arr.dtype != np.dtype(race["dtype"]) or arr.shape != shape:
                raise CheckpointError(f"{where}: the weights {name} must be {race['dtype']} {shape}, got "
                                      f"{arr.dtype} {arr.shape}")
            if not np.isfinite(arr).all():
                raise CheckpointError(f"{where}: the weights {name} hold infinite or NaN values")
            used.add(key)
            weights[name] = arr
        runs.append(dict(step=step, diverged=r["diverged"], state=state, groups=groups, rng=rng, scaler=scaler,
                         weights=weights, **rows))
    perms = {}
    if not isinstance(data["perms"], list) or len(data["perms"]) > MAX_RUNS:
        raise CheckpointError("the stored batch order is malformed")
    for e in data["perms"]:
        e = _int(e, "an epoch", 0, budget.LIVE_MAX_STEPS * 64)
        name = f"data.perm.{e}"
        arr = tensors.get(name)
        if arr is None or arr.dtype != np.int64 or arr.shape != (n_train,):
            raise CheckpointError(f"the batch order of epoch {e} must be {n_train} int64 indices")
        used.add(name)
        perms[e] = arr
    extra = set(tensors) - used
    if extra:
        raise CheckpointError(f"the file holds tensors this app does not write: {sorted(extra)[:3]}")
    page = data["page"]
    if not (isinstance(page, dict) and set(page) == {"d"} and isinstance(page["d"], dict)):
        raise CheckpointError("the page's settings are malformed")
    page = _decode(page, {}, set())
    return Checkpoint(spec=spec, batch_size=batch_size, seed=seed, dtype=race["dtype"], eval_every=eval_every,
                      precision=precision if isinstance(precision, str) else tuple(precision), n_train=n_train,
                      n_test=n_test, data_sha256=race["data_sha256"], configs=configs, runs=runs, perms=perms,
                      page=page, tensors=tensors)


def _weight_names(spec: T.ModelSpec) -> list[str]:
    names = []
    for j in range(len(spec.sizes) - 1):
        names += [f"{2 * j}.weight", f"{2 * j}.bias"]
    return names


def _weight_shape(spec: T.ModelSpec, name: str) -> tuple[int, ...]:
    j = int(name.split(".")[0]) // 2
    a, b = spec.sizes[j], spec.sizes[j + 1]
    return (b, a) if name.endswith("weight") else (b,)


# ---------------------------------------------------------------------------------------
# Restore
# ---------------------------------------------------------------------------------------


def _template(run: T.Run, dtype: str) -> dict[int, dict]:
    """The optimizer state's structure after a step: ``{index: {key: (kind, shape, dtype)}}``, from a copy of
    the run's optimizer stepped once on zero gradients (the run itself is untouched)."""
    import copy

    torch = T.import_torch()
    if run.config.backend == "torch":
        params = [torch.zeros_like(t, requires_grad=True) for t in run.adapter.tensors]
        for p in params:
            p.grad = torch.zeros_like(p)
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [params[_index(run.adapter.tensors, t)] for t in g["params"]]}
                  for g in run.optimizer.param_groups]
        opt = type(run.optimizer)(groups)
    else:
        import optim_core

        params = [optim_core.Parameter(np.zeros_like(p.data)) for p in run.adapter.params]
        for p in params:
            p.grad = np.zeros_like(p.data)
        groups = [{**{k: copy.deepcopy(v) for k, v in g.items() if k != "params"},
                   "params": [params[_index(run.adapter.params, p)] for p in g["params"]]}
                  for g in run.optimizer.param_groups]
        opt = type(run.optimizer)(groups)
    with np.errstate(all="ignore"):
        opt.step()
    return {k: {key: _kind(v) for key, v in entry.items()} for k, entry in opt.state_dict()["state"].items()}


def _index(seq, item) -> int:
    for j, x in enumerate(seq):
        if x is item:
            return j
    raise ValueError("parameter not found")


def _kind(v) -> tuple:
    if isinstance(v, np.ndarray):
        return ("array", v.shape, v.dtype.str)
    if isinstance(v, np.generic):
        return ("scalar", (), v.dtype.str)
    if type(v).__module__.startswith("torch") and hasattr(v, "detach"):
        return ("tensor", tuple(v.shape), v.detach().numpy().dtype.str)
    if v is None:
        return ("none",)
    if isinstance(v, bool):
        return ("bool",)
    if isinstance(v, int):
        return ("int",)
    if isinstance(v, float):
        return ("float",)
    return ("other", type(v).__name__)


def _check_state(state: dict, template: dict, where: str) -> None:
    for k, entry in state.items():
        if k not in template:
            raise CheckpointError(f"{where}: optimizer state for parameter {k}, which this model does not have")
        want = template[k]
        if set(entry) != set(want):
            raise CheckpointError(f"{where}: parameter {k}'s optimizer state has {sorted(entry)}, "
                                  f"this optimizer keeps {sorted(want)}")
        for key, v in entry.items():
            got = _kind(v)
            w = want[key]
            ok = got == w or (w[0] == "float" and got[0] == "int") or (w[0] == "int" and got[0] == "float"
                                                                      and float(v).is_integer())
            if not ok:
                raise CheckpointError(f"{where}: parameter {k}'s {key} must be {_kind_text(w)}, got {_kind_text(got)}")
            arr = v.detach().numpy() if got[0] == "tensor" else v
            if got[0] in ("array", "scalar", "tensor") and np.asarray(arr).dtype.kind == "f":
                if not np.isfinite(arr).all():
                    raise CheckpointError(f"{where}: parameter {k}'s {key} holds infinite or NaN values")
            elif got[0] == "float" and not math.isfinite(v):
                raise CheckpointError(f"{where}: parameter {k}'s {key} is not finite")


def _kind_text(k: tuple) -> str:
    if k[0] in ("array", "tensor"):
        return f"a {np.dtype(k[2]).name} {k[0]} of shape {k[1]}"
    if k[0] == "scalar":
        return f"a {np.dtype(k[2]).name} number"
    return k[0] if k[0] != "other" else k[1]


def _scheduled(run: T.Run) -> tuple[str, ...]:
    """The group settings ``run``'s schedule sets before every step (the file's values are taken for them; any
    other setting must equal the one its configuration gives)."""
    keys = () if run._lr_curve is None else ("lr",)
    return keys + (() if run._mom_curve is None else ("momentum", "betas"))


def _groups(saved: list, fresh: list, where: str, scheduled: tuple[str, ...]) -> list[dict]:
    if len(saved) != len(fresh):
        raise CheckpointError(f"{where}: {len(saved)} parameter groups in the file, {len(fresh)} in its settings")
    out = []
    for s, f in zip(saved, fresh):
        if set(s) != set(f):
            raise CheckpointError(f"{where}: its optimizer's settings differ from this app's: "
                                  f"{sorted(set(s) ^ set(f))}")
        if s["params"] != [p for p in f["params"]]:
            raise CheckpointError(f"{where}: its parameter groups hold other parameters")
        g = dict(f)
        for key in scheduled:
            if key in s:
                v, w = s[key], f[key]
                same_kind = type(v) is type(w) or (isinstance(w, float) and isinstance(v, int))
                if not same_kind or not all(_number_ok(x) and not isinstance(x, (bool, str)) and x is not None
                                            for x in (v if isinstance(v, tuple) else (v,))):
                    raise CheckpointError(f"{where}: its {key} must be a finite number like {w!r}")
                g[key] = v
        for key in set(f) - set(scheduled) - {"params", "initial_lr"}:
            if not _same(s[key], f[key]):
                raise CheckpointError(f"{where}: its optimizer's {key} is {str(s[key])[:40]} in the file but "
                                      f"{str(f[key])[:40]} in its settings")
        out.append(g)
    return out


def _same(a, b) -> bool:
    try:
        return bool(a == b) and type(a) is type(b) or (a is None and b is None)
    except Exception:
        return False


def restore(ck: Checkpoint, X_train, y_train, X_test, y_test) -> T.Race:
    """A race rebuilt from ``ck`` on these data (which must be the ones it was trained on), every run at the
    step it was saved at, ready to train on."""
    if data_digest(X_train, y_train, X_test, y_test, ck.dtype) != ck.data_sha256:
        raise CheckpointError("the data differ from those this race was trained on (another dataset, noise, "
                              "number of points or seed, or a dataset generator that changed)")
    try:
        race = T.Race(X_train, y_train, X_test, y_test, ck.configs, model=ck.spec, batch_size=ck.batch_size,
                      seed=ck.seed, dtype=ck.dtype, eval_every=ck.eval_every, precision=ck.precision)
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"these settings cannot train: {str(exc).strip(chr(39))}") from None
    for e, perm in ck.perms.items():
        mine = np.concatenate([race.batch_indices(e * race.batches_per_epoch + b)
                               for b in range(race.batches_per_epoch)])
        if not np.array_equal(mine, perm):
            raise CheckpointError(f"this NumPy shuffles epoch {e} differently from the one that saved the race: "
                                  "its next batches would not be the same")
    torch = T.import_torch()
    for i, (run, saved) in enumerate(zip(race.runs, ck.runs)):
        where = f"run {i + 1} ({run.config.title()})"
        _check_state(saved["state"], _template(run, ck.dtype), where)
        fresh = run.optimizer.state_dict()["param_groups"]
        groups = _groups(saved["groups"], fresh, where, _scheduled(run))
        with torch.no_grad():
            for name, t in run.model.state_dict(keep_vars=True).items():
                t.copy_(torch.from_numpy(saved["weights"][name]))
        try:
            run.optimizer.load_state_dict({"state": saved["state"], "param_groups": groups})
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"{where}: its optimizer state cannot be loaded: {str(exc)[:120]}") from None
        _rng_into(run, saved["rng"], where)
        if saved["scaler"] is not None or run.amp.scaler_state() is not None:
            _scaler_into(run, saved["scaler"], where)
        run.step = saved["step"]
        run.diverged = saved["diverged"]
        for rows, arr in ((run._history, saved["history"]), (run._evals, saved["evals"]), (run.amp.rows, saved["amp"])):
            rows._data = np.concatenate([arr, np.empty((max(256, len(arr)), arr.shape[1]))])
            rows.n = len(arr)
        run.adapter.sync_grads()
    return race


def _rng_into(run: T.Run, state, where: str) -> None:
    try:
        gen = np.random.default_rng()
        gen.bit_generator.state = state
        run._rng.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{where}: its random state cannot be used: {str(exc)[:80]}") from None


def _scaler_into(run: T.Run, state, where: str) -> None:
    want = {"scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"}
    if not isinstance(state, dict) or set(state) != want:
        raise CheckpointError(f"{where}: its loss scaler's state must have {sorted(want)}")
    fresh = run.amp.scaler_state()
    if any(state[k] != fresh[k] for k in ("growth_factor", "backoff_factor", "growth_interval")):
        raise CheckpointError(f"{where}: its loss scaler's settings differ from this app's")
    scale, tracker = state["scale"], state["_growth_tracker"]
    if not (isinstance(scale, float) and math.isfinite(scale) and scale > 0):
        raise CheckpointError(f"{where}: its loss scale must be a finite number > 0")
    _int(tracker, f"{where}'s loss scaler growth count", 0, int(fresh["growth_interval"]))
    run.amp.load_scaler_state(state)


# ---------------------------------------------------------------------------------------
# What the optimizer state holds, and the Memory page
# ---------------------------------------------------------------------------------------


def state_table(run: T.Run) -> list[dict]:
    """One row per value of ``run``'s optimizer state: the parameter (its name and shape), the key, the
    dtype, the number of elements and the bytes."""
    names = run.adapter.names
    shapes = [tuple(t.shape) for t in run.adapter.tensors]
    rows = []
    for k, entry in sorted(run.optimizer.state_dict()["state"].items()):
        for key, v in entry.items():
            kind = _kind(v)
            if kind[0] in ("array", "tensor", "scalar"):
                arr = v.detach().numpy() if kind[0] == "tensor" else np.asarray(v)
                n, nbytes, dtype = int(arr.size), int(arr.nbytes), arr.dtype.name
            elif kind[0] == "none":
                n, nbytes, dtype = 0, 0, "None (no buffer)"
            else:  # a Python number: 8 bytes as a file stores it, not counted by the Memory page
                n, nbytes, dtype = 1, 8, f"Python {kind[0]}"
            rows.append({"parameter": names[k], "shape": "×".join(map(str, shapes[k])) or "()", "state": key,
                         "dtype": dtype, "elements": n, "bytes": nbytes,
                         "buffer": kind[0] in ("array", "tensor") and tuple(np.shape(arr)) == shapes[k]})
    return rows


def memory_check(race: T.Race, i: int = 0) -> dict:
    """Run ``i``'s optimizer state in bytes next to the Memory page's number for the same model:
    ``buffers`` (the state arrays the size of a parameter: exp_avg, exp_avg_sq, momentum_buffer, ...),
    ``other`` (steps, scales, codebooks' absmax: what the page leaves out), ``total``, and ``memory_page``
    (:func:`app.memory.model.memory_row`'s state bytes for the MLP's parameter count, in float32, with the
    run's hyperparameters and the network's width as the matrix side)."""
    from app.memory.model import memory_row

    run = race.runs[i]
    rows = state_table(run)
    buffers = sum(r["bytes"] for r in rows if r["buffer"])
    total = sum(r["bytes"] for r in rows)
    hypers = {k: v for k, v in run.config.hypers.items()}
    page = memory_row(race.spec.n_params, race.dtype, run.config.optimizer, side=race.spec.width, hypers=hypers)
    return {"rows": rows, "buffers": buffers, "other": total - buffers, "total": total,
            "n_params": race.spec.n_params, "memory_page": page["state_bytes"],
            "buffers_per_param": page["state_buffers"], "agree": math.isclose(buffers, page["state_bytes"])}


# ---------------------------------------------------------------------------------------
# Resumed equals never stopped
# ---------------------------------------------------------------------------------------


def _fresh(race: T.Race) -> T.Race:
    return T.Race(race.X_train, race.y_train, race.X_test, race.y_test, [r.config for r in race.runs],
                  model=race.spec, batch_size=race.batch_size, seed=race.seed, dtype=race.dtype,
                  eval_every=race.eval_every, precision=race.precision)


def resume_demo(race: T.Race, n_before: int = 100, n_after: int = 100) -> dict:
    """Train a fresh copy of ``race``'s settings ``n_before`` steps, save it, restore the file into another race
    and train that ``n_after`` more; train a third copy ``n_before + n_after`` steps without stopping. Returns
    both histories and how far apart they are (0: bit for bit)."""
    first = _fresh(race)
    first.train(n_before)
    blob = save(first)
    resumed = restore(read(blob), race.X_train, race.y_train, race.X_test, race.y_test)
    resumed.train(n_after)
    straight = _fresh(race)
    straight.train(n_before + n_after)
    loss_diff, weight_diff = 0.0, 0.0
    for a, b in zip(resumed.runs, straight.runs):
        la, lb = a.history["loss"], b.history["loss"]
        loss_diff = max(loss_diff, float(np.max(np.abs(la - lb), initial=0.0)) if la.shape == lb.shape else math.inf)
        weight_diff = max(weight_diff, float(np.max(np.abs(a.adapter.flat - b.adapter.flat))))
    return {"n_before": n_before, "n_after": n_after, "bytes": len(blob), "resumed": resumed, "straight": straight,
            "loss_diff": loss_diff, "weight_diff": weight_diff,
            "identical": all(np.array_equal(a.history["loss"], b.history["loss"])
                             and np.array_equal(a.adapter.flat, b.adapter.flat)
                             for a, b in zip(resumed.runs, straight.runs))}


def resume_figure(demo: dict, title: str | None = None):
    """The uninterrupted runs' training loss (thick) with the resumed runs' drawn over them (dots, from the
    save on), and the save marked."""
    import plotly.graph_objects as go

    from app.ui.theme import LINE_WIDTH, TITLE_SIZE, base_layout, legend_below, palette, run_tone

    fig = go.Figure()
    n0 = demo["n_before"]
    for i, (a, b) in enumerate(zip(demo["resumed"].runs, demo["straight"].runs)):
        color = run_tone(i)
        hb = b.history
        fig.add_trace(go.Scatter(x=hb["step"], y=hb["loss"], mode="lines", name=f"{b.config.title()}: never stopped",
                                 line=dict(color=color, width=3 * LINE_WIDTH), opacity=0.45))
        ha = a.history
        after = ha["step"] > n0
        fig.add_trace(go.Scatter(x=ha["step"][after], y=ha["loss"][after], mode="markers",
                                 name=f"{a.config.title()}: resumed from the file",
                                 marker=dict(color=color, size=6, symbol="circle",
                                             line=dict(color=palette().marker_edge, width=1))))
    fig.add_vline(x=n0, line=dict(color=palette().guide_grey, width=LINE_WIDTH, dash="dash"),
                  annotation_text=f"saved at step {n0}", annotation_position="top left")
    verdict = ("identical bit for bit" if demo["identical"] else
               f"max difference: loss {demo['loss_diff']:.3g}, weights {demo['weight_diff']:.3g}")
    layout = base_layout(
        title=dict(text=title or f"Resumed equals never stopped: {verdict}", font=dict(size=TITLE_SIZE), x=0.01,
                   xanchor="left"),
        legend=legend_below(), margin=dict(l=70, r=20, t=70, b=60),
        xaxis=dict(title=dict(text="step")), yaxis=dict(title=dict(text="training loss (batch)"), type="log"))
    fig.update_layout(**layout)
    return fig


# ---------------------------------------------------------------------------------------
# The page's part: an upload turned into a race, and the panel (Streamlit, imported when drawn)
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Span:
    """What a number slider or number input can show: a number in ``[low, high]``, an int if both bounds are
    ints (as Streamlit infers a widget's type from its bounds), else a float."""

    low: float
    high: float

    @property
    def kind(self) -> type:
        return int if type(self.low) is int and type(self.high) is int else float


def hyper_offers(h, start: Any = None, set_toggle: bool = True):
    """What :func:`app.ui.widgets.hyper_widget` draws for the registry ``Hyper`` ``h`` can show, as a rule for
    :func:`page_values`: ``bool`` (a toggle), ``str`` (a text input), the choices (a select box), a
    :class:`Span` (an int slider: :func:`app.ui.controls.hyper_span`) or the select slider's values
    (:func:`app.ui.controls.hyper_options`; with ``set_toggle`` and no ``start``, the slider appears once its
    "set" toggle is on and does not offer "auto"). ``start``: the value the page starts it at."""
    from app.ui.controls import hyper_options, hyper_span

    if h.kind == "bool":
        return bool
    if h.kind == "text":
        return str
    if h.kind == "choice":
        return tuple(h.choices)
    if h.kind == "int":
        return Span(*hyper_span(h, start))
    options = hyper_options(h)
    return tuple(o for o in options if o is not None) if start is None and set_toggle else options


def hyper_controls(prefix: str, hypers, starts: Mapping[str, Any], set_toggle: bool = True) -> dict:
    """The controls :func:`app.ui.widgets.hyper_widget` draws for ``hypers`` under the keys ``prefix_<name>``
    (and ``prefix_<name>_on``, the "set" toggle of a float started at None) → :func:`hyper_offers`."""
    out: dict[str, Any] = {}
    for h in hypers:
        start = starts.get(h.name, h.default)
        out[f"{prefix}_{h.name}"] = hyper_offers(h, start, set_toggle)
        if h.kind == "float" and start is None and set_toggle:
            out[f"{prefix}_{h.name}_on"] = bool
    return out


def _is_option(value, option) -> bool:
    """``value`` is ``option``, type included (True is not 1, 2.0 is not 2), item by item in a tuple."""
    if type(value) is not type(option):
        return False
    if isinstance(option, tuple):
        return len(value) == len(option) and all(_is_option(v, o) for v, o in zip(value, option))
    return value == option


def _offered(value, rule) -> bool:
    if rule is bool:
        return type(value) is bool
    if rule is str:
        return type(value) is str and len(value) <= MAX_TEXT
    if isinstance(rule, Span):
        return (type(value) is rule.kind and math.isfinite(value)  # (an int is always finite)
                and rule.low <= value <= rule.high)
    return any(_is_option(value, option) for option in rule)


def page_values(ck: Checkpoint, controls: Mapping[str, Any]) -> dict:
    """The page's widget values stored in ``ck``, checked against ``controls``: every control the page can
    draw (each run's up to the page's maximum, and every control a choice brings up), its key → what its
    widget can show: ``bool``, ``str`` (a text of at most :data:`MAX_TEXT` characters), a :class:`Span`, or a
    sequence of options (a value must be one of them, of the same type). A key that is not a control, or a
    value its widget could not show, refuses the whole file (:class:`CheckpointError`): put on the session, a
    drawn widget would raise on it, perhaps only later (run 4's controls once a fourth run is chosen)."""
    out = {}
    for key, value in ck.page.items():
        rule = controls.get(key) if isinstance(key, str) else None
        if rule is None:
            raise CheckpointError(f"the file names a control this page does not have ({str(key)[:40]!r})")
        if not _offered(value, rule):
            raise CheckpointError(f"the file gives a control a value it does not offer ({key} = {str(value)[:40]})")
        out[key] = value
    return out


def estimate_bytes(race: T.Race) -> int:
    """About the size of :func:`save`'s file (the histories dominate), without writing it."""
    n = 0
    for run in race.runs:
        n += 8 * (run._history.n * len(_HISTORY) + run._evals.n * len(_EVALS) + run.amp.rows.n * len(A.COLUMNS))
        n += 4 * race.spec.n_params * 4  # weights and up to three state buffers
    return n + 8 * len(race.y_train) * 2 + 20_000


def panel(race: T.Race, *, held, page: Mapping[str, Any], on_upload, key: str = "lt_ckpt") -> None:
    """Save, load, what the optimizer state holds, and the resume check, for the Live Training page.

    ``held(make)`` wraps ``make`` in the page's lock; ``page`` are the widget values to store; ``on_upload``
    is the uploader's callback (it reads ``st.session_state[key + "_file"]``)."""
    import streamlit as st

    ss = st.session_state
    left, right = st.columns(2)
    with left:
        size = estimate_bytes(race)
        if size > MAX_BYTES:
            st.caption(f"At step {race.step:,} this race's checkpoint would be about {size / 1e6:.0f} MB, more than "
                       f"the {MAX_BYTES / 1e6:.0f} MB an upload may be: save earlier in the race.")
        else:
            saved_page = dict(page)
            st.download_button(
                f"Save the race at step {race.step:,}", data=held(lambda: save(race, page=saved_page)),
                file_name=f"live-training-step-{race.step}.safetensors", mime="application/octet-stream",
                on_click="ignore", key=f"{key}_save", width="stretch",
                help="One safetensors file: every run's weights, optimizer state, step, histories and loss scaler, "
                     "the batch order and the settings. Loading it never runs code.")
        st.caption(f"About {size / 1e3:,.0f} kB. Load it later (or on another computer) to continue exactly here.")
    with right:
        st.file_uploader("Resume a saved race", type=["safetensors"], key=f"{key}_file", on_change=on_upload,
                         max_upload_size=max(1, int(MAX_BYTES // 1_000_000)),
                         help=f"A file saved by this page (at most {MAX_BYTES / 1e6:.0f} MB). Its settings replace "
                              "the page's; press Start to continue the race.")
        msg = ss.get(f"_{key}_msg")  # (kind, text, the race it is about or None)
        if msg and msg[2] in (None, race.uid):
            (st.success if msg[0] == "ok" else st.error)(msg[1])
            if msg[0] != "ok":
                ss.pop(f"_{key}_msg", None)  # said once

    st.markdown("**What the optimizer state holds** (what a checkpoint must save besides the weights)")
    names = [f"Run {i + 1}: {r.config.title()}" for i, r in enumerate(race.runs)]
    pick = st.selectbox("Run", range(len(names)), format_func=names.__getitem__, key=f"{key}_run",
                        label_visibility="collapsed")
    pick = pick if isinstance(pick, int) and 0 <= pick < len(race.runs) else 0
    check = held(lambda: memory_check(race, pick))()
    if not check["rows"]:
        st.caption("Empty until the first step: optimizers create their state lazily, at the first step.")
    else:
        st.dataframe([{k: v for k, v in r.items() if k != "buffer"} for r in check["rows"]], hide_index=True,
                     height=min(36 * (len(check["rows"]) + 1) + 3, 330))
        st.markdown(_memory_sentence(race, pick, check))

    st.markdown("**Resumed equals never stopped**")
    n = _demo_steps(race)
    if st.button(f"Check it: train {n} steps, save, load into a new race, train {n} more; compare with {2 * n} "
                 "steps straight", key=f"{key}_demo"):
        try:
            demo = held(lambda: resume_demo(race, n, n))()
        except CheckpointError as exc:
            st.error(str(exc))
        else:
            ss[f"_{key}_demo"] = (race.uid, demo)
    got = ss.get(f"_{key}_demo")
    if got and got[0] == race.uid:
        st.plotly_chart(resume_figure(got[1]), theme=None, key=f"{key}_demo_fig")


def _memory_sentence(race: T.Race, i: int, check: dict) -> str:
    from app.memory.model import format_count

    run = race.runs[i]
    k = check["buffers_per_param"]
    agree = "the same number" if check["agree"] else "a different number (it assumes square matrices)"
    other = (f" The rest, {check['other']:,} bytes, is step counters and scalars the Memory page leaves out."
             if check["other"] else "")
    return (f"State buffers: **{check['buffers']:,} bytes** for {format_count(check['n_params'])} parameters. "
            f"The Memory page's {run.config.optimizer} row for this model ({check['n_params']:,} {race.dtype} "
            f"parameters, {k:g} buffer{'s' if k != 1 else ''} each) says {check['memory_page']:,.0f} bytes: "
            f"{agree}.{other} Total: {check['total']:,} bytes.")


def _demo_steps(race: T.Race) -> int:
    """Steps before (and after) the save in the resume check: about a second of training at the measured pace."""
    per = race.step_seconds if math.isfinite(race.step_seconds) and race.step_seconds > 0 else 0.002 * len(race.runs)
    return int(max(10, min(100, 1.0 / (4 * per))))
