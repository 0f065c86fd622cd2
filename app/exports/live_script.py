"""A Live Training race as a standalone PyTorch script a teacher can download and run.

:func:`live_script` writes one Python file that needs only NumPy, torch and the reference package
of each optimizer torch.optim lacks (named in the script with its pip line, as in
:mod:`app.exports.torch_script`, whose optimizer and schedule writers it shares). It never imports
``optim_core`` or ``app``. The script trains the race's MLP

- on the race's own data: the training and test arrays are embedded (base64), not regenerated;
- from the race's initial weights, embedded as the ``state_dict`` tensors (base64, in the race's
  dtype), so every run starts from the same bits as in the app;
- on the race's mini-batch stream: epoch ``e`` is the app's permutation
  ``numpy.random.default_rng([seed, e]).permutation(n_train)``, cut into batches of
  ``batch_size``; run ``r`` accumulating ``k`` micro-batches reads micro-batches ``k·t ... k·t + k - 1``
  at step ``t``. The permutations of the epochs the exported number of steps reads (up to
  :data:`MAX_EMBEDDED_PERM_BYTES`) are embedded; for more steps the script draws the next epochs
  with NumPy's generator after checking that it reproduces the embedded ones (and stops if not);
- with each run's parameter groups (:mod:`app.training.groups`: the same tensors, lrs and weight decays,
  each group following the schedule from its own lr, as torch's schedulers do) and optimizer
  (``torch.optim.<Name>`` for the torch twins, whichever backend stepped
  them in the app, since optim_core's equal torch.optim's step by step; the reference package
  otherwise), its lr schedule (a ``torch.optim.lr_scheduler`` built by the Schedules page's "copy as
  PyTorch" code, stepped for ``schedule_steps`` steps, after which its last lr holds as in the app;
  a schedule given as a Python function is embedded as its lr curve), gradient accumulation (each
  micro-batch's loss divided by ``k``), norm clipping (``torch.nn.utils.clip_grad_norm_``) and the
  app's divergence stop (a non-finite loss or gradient norm ends the run before its step);
- in the race's precision (:mod:`app.training.amp`): the forward pass under ``torch.autocast("cpu", ...)``
  and, for float16 with loss scaling, ``torch.amp.GradScaler("cpu")`` (unscaled before clipping, a step
  whose gradients overflowed skipped), with the fraction of zero gradient entries and the scale saved;
  a float32 race's script has none of it;
- evaluating every run on the whole training and test sets at step 0 and every ``eval_every``
  steps, as the app does; printing each run's losses and accuracies every few steps; saving the
  per-step training losses (and lr, gradient norms, evaluations) to an ``.npz`` (``--out``);
- and, with ``--checkpoint-at N`` (or ``CHECKPOINT_AT`` at the top), checkpointing in plain PyTorch: at
  step ``N`` every run's ``model.state_dict()``, ``optimizer.state_dict()``, the scheduler's and (mixed
  precision) the GradScaler's ``state_dict()``, the step counter and the data order (the seed, the next
  micro-batch, the epoch's permutation) go to a file with ``torch.save`` (``save_checkpoint``); after the
  uninterrupted race, each run is rebuilt from scratch, loaded with ``torch.load(path, weights_only=True)``
  (``load_checkpoint``), trained to the end, and the script says whether its losses equal the uninterrupted
  run's bit for bit (saved as ``resumed_loss``; the script exits with an error if they do not). Every
  optimizer the script builds is a ``torch.optim.Optimizer`` (torch's, or the reference package's
  subclass), so each one's state is its ``state_dict()``: every exported run can be checkpointed.

In a float64 race the losses equal the app's to rounding (the tests: rtol 1e-9). In a float32 race
they agree to float32 rounding, compounding over the steps: torch and NumPy sum in different
orders (an optim_core run's kernels, the app's NumPy clipping), so the bits can differ.

What it refuses (:class:`ValueError` naming the run): Sophia (the app refreshes its curvature with a
Gauss-Newton-Bartlett estimate on labels it samples; SophiaG's own update and floor differ);
Adam8bit in a float64 race (bitsandbytes computes in float32); ``maximize``; a schedule that needs
a metric (ReduceLROnPlateau; the page never offers one); a schedule function with parameter groups; and whatever
:mod:`app.exports.torch_script` refuses for an optimizer or schedule (Adafactor with a schedule,
an optimizer with no PyTorch version, a schedule torch cannot express).
"""

from __future__ import annotations

import base64
import math
from types import SimpleNamespace

import numpy as np

from app.exports.torch_script import _TIMM_CODE, _lit, _optimizer_lines, _schedule_lines, _script_text
from app.training import backend as T
from app.training.groups import group_literals
from app.ui.controls import NO_SCHEDULE
from optim_core import registry

__all__ = ["live_script", "MAX_EMBEDDED_PERM_BYTES"]

# The mini-batch permutations embedded in a script: at most this many bytes of indices (uint16,
# about 320 epochs of 1,638 training points); epochs beyond them are drawn by NumPy in the script.
MAX_EMBEDDED_PERM_BYTES = 1 << 20
_B64_LINE = 100


def _b64(a: np.ndarray) -> str:
    """``a``'s bytes as base64 in a triple-quoted literal, 100 characters a line."""
    text = base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")
    lines = [text[k:k + _B64_LINE] for k in range(0, len(text), _B64_LINE)] or [""]
    return '"""\n' + "\n".join(lines) + '\n"""'


def _array_literal(a: np.ndarray) -> str:
    """``decode(<base64>, "<f8", shape)``: ``a`` exactly, little-endian."""
    dt = np.dtype(a.dtype).newbyteorder("<")
    return f"decode({_b64(a.astype(dt))}, {dt.str!r}, {tuple(int(s) for s in a.shape)!r})"


def _points_literal(X: np.ndarray) -> str:
    """The points, stored as float32 when that is exact (the datasets are float32), cast to DTYPE."""
    if X.dtype != np.float32 and np.array_equal(X.astype(np.float32).astype(X.dtype), X):
        return f"{_array_literal(X.astype(np.float32))}.astype(NP_DTYPE)"
    return f"{_array_literal(X)}.astype(NP_DTYPE)"


def _labels_literal(y: np.ndarray) -> str:
    small = y.size == 0 or (y.min() >= 0 and y.max() <= 255)
    return f"{_array_literal(y.astype(np.uint8 if small else np.int64))}.astype(np.int64)"


def _refuse(i: int, cfg: T.TrainingRunConfig, why: str) -> ValueError:
    return ValueError(f"Run {i + 1} ({cfg.title()}): {why}")


def _per_group_schedule(i: int, cfg: T.TrainingRunConfig, lines: list[str], lr) -> list[str]:
    """A schedule's lines for an optimizer with parameter groups, each group scheduled from its own lr as the
    app does: OneCycleLR's ``max_lr`` and CyclicLR's ``base_lr`` (written as the run's lr) become one per group."""
    if cfg.schedule == "WarmupPolynomial" and float(cfg.schedule_params.get("end_lr", 0.0)) != 0.0:
        raise _refuse(i, cfg, "transformers' polynomial schedule scales every parameter group by the factor of the "
                              "run's lr toward end_lr, the app decays each group's own lr to end_lr: with parameter "
                              "groups, only end_lr = 0 is exported.")
    own = "[g['lr'] for g in optimizer.param_groups]"
    out = []
    for ln in lines:
        if "OneCycleLR(" in ln:
            ln = ln.replace(f"max_lr={_lit(lr)}", f"max_lr={own}")
        elif "CyclicLR(" in ln:
            ln = ln.replace(f"base_lr={_lit(lr)}", f"base_lr={own}")
        out.append(ln)
    return out


def _run_block(i: int, run: T.Run, dtype: str, label: str) -> tuple[str, set[str], bool]:
    """``(the lines of build_run_<i+1>(params) and its RUNS entry, pip packages, needs timm)``."""
    cfg = run.config
    name = cfg.optimizer
    info = registry.get_optimizer(name)
    hp = {**info.defaults(), **dict(cfg.hypers)}
    if hp.get("maximize"):
        raise _refuse(i, cfg, "maximize=True climbs the training loss; the script does not export it.")
    hp.pop("maximize", None)
    if info.needs_hessian:
        raise _refuse(i, cfg, "the app refreshes Sophia's curvature with a Gauss-Newton-Bartlett estimate on labels "
                              "it samples from the model, and SophiaG updates and floors its estimate differently; "
                              "the run cannot be reproduced exactly with sophia-opt.")
    if name == "Adam8bit" and dtype != "float32":
        raise _refuse(i, cfg, f"bitsandbytes' Adam8bit computes in float32; this race is in {dtype}, so its run "
                              "cannot be reproduced exactly (train a float32 race).")
    schedule = cfg.schedule
    named_schedule = isinstance(schedule, str) and schedule not in ("", "constant", NO_SCHEDULE)
    if named_schedule:
        try:
            sinfo = registry.get_schedule(schedule)
        except KeyError:
            raise _refuse(i, cfg, f"unknown schedule {schedule!r}.") from None
        if sinfo.needs_metric:
            raise _refuse(i, cfg, f"the schedule {schedule} needs a metric, which the app's runs do not give.")
    duck = SimpleNamespace(optimizer=name, schedule=schedule if named_schedule else None, lookahead=None,
                           schedule_params={**(sinfo.defaults() if named_schedule else {}),
                                            **dict(cfg.schedule_params)})
    try:
        opt_lines, packages, _ = _optimizer_lines(i, duck, dict(hp))
    except ValueError as exc:
        raise _refuse(i, cfg, str(exc).split(": ", 1)[-1]) from None
    opt_lines = [ln.replace("([theta], ", "(params, ") for ln in opt_lines]
    groups = group_literals(run.adapter.names, getattr(cfg, "groups", None), T._class_kwargs(info, cfg.hypers))
    if groups:
        if callable(schedule):
            raise _refuse(i, cfg, "a schedule function with parameter groups cannot be exported.")
        opt_lines = ["# The app's parameter groups (app.training.groups): the same tensors, lrs and weight decays.",
                     "params = [", *("    " + g for g in groups), "]"] + opt_lines
    backend = "optim_core's" if cfg.backend == "optim_core" else "torch.optim's"
    twin = name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "NAdam", "RAdam", "Adamax")
    note = (f"# In the app: {backend} {name}" + (" (the two are equal step by step)." if twin and
                                                  cfg.backend == "optim_core" else "."))
    steps = max(int(cfg.schedule_steps), 1)
    build = [f"def build_run_{i + 1}(params):", f'    """{label}: its optimizer and lr schedule."""',
             "    " + note]
    build += ["    " + ln for ln in opt_lines]
    curve = None
    if named_schedule:
        try:
            sched_lines, _ = _schedule_lines(i, duck, hp.get("lr"), steps)
        except ValueError as exc:
            raise _refuse(i, cfg, str(exc).split(": ", 1)[-1]) from None
        if groups:
            sched_lines = _per_group_schedule(i, cfg, sched_lines, hp.get("lr"))
        build += [f"    # The app's curve spans {steps} steps, then its last lr holds: stepped {steps - 1} times."]
        build += ["    " + ln if ln.strip() else "" for ln in sched_lines]
    else:
        build.append("    scheduler = None")
        if callable(schedule):
            curve = np.asarray(run._lr_curve, dtype=np.float64)
            if run._mom_curve is not None:
                raise _refuse(i, cfg, "a schedule function that also cycles the momentum cannot be exported.")
            last = len(curve) - 1
            while last > 0 and curve[last - 1] == curve[-1]:
                last -= 1
            curve = curve[: last + 1]  # the app holds the last lr: so does the script
    build.append("    return optimizer, scheduler")
    entry = {
        "label": label,
        "build": f"build_run_{i + 1}",
        "accumulate": int(cfg.accumulate),
        "clip_norm": None if cfg.clip_norm is None else float(cfg.clip_norm),
        "schedule_steps": steps,
    }
    if run.amp.name != "float32":  # app.training.amp: the script's loop gets autocast and GradScaler
        entry["precision"] = run.amp.name
    text = "\n".join(build) + "\n\n\nRUNS.append({\n" + "".join(
        f"    {k!r}: {v if k == 'build' else _lit(v)},\n" for k, v in entry.items())
    if curve is not None:
        text += f"    'lr_curve': {_array_literal(curve)},  # the app's schedule function, as its lr curve\n"
    text += "})"
    return text, set(packages), "timm" in packages


_HEADER = '''#!/usr/bin/env python3
"""{title}

An Optimizer Explorer Live Training race reproduced with PyTorch: the same data, MLP, initial
weights, mini-batch order, optimizers, lr schedules, gradient clipping and accumulation, in {dtype}.

    python {filename} [--steps N] [--out {out}] [--every K] [--checkpoint-at C]

Needs: {needs}
Trains every run N steps (default {steps}: the race's step when exported), prints each run's loss
and accuracy on the whole training and test sets every K steps, and saves the per-step training
losses (runs x steps, NaN after a divergence), lrs and gradient norms, and the evaluations
(every {eval_every} steps, as in the app) to {out}.

With --checkpoint-at C (or CHECKPOINT_AT below) it also saves every run at step C with torch.save,
then resumes each one from its file in a brand-new model, optimizer and scheduler, trains it on to
step N and says whether the resumed losses equal the uninterrupted run's, bit for bit.
"""

import argparse
import base64
import math

import numpy as np
import torch

# As the app: one thread (at this size a second only adds overhead, and sums keep one order).
torch.set_num_threads(1)
'''

_BODY = '''

def decode(text, dtype, shape):
    """An array from its base64 bytes (little-endian ``dtype``)."""
    return np.frombuffer(base64.b64decode(text), dtype=dtype).reshape(shape).copy()


def build_model():
    """The MLP, with the app's initial weights (the same for every run)."""
    sizes = SIZES
    layers = []
    for j, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b, dtype=DTYPE))
        if j < len(sizes) - 2:
            layers.append(ACTIVATION())
    model = torch.nn.Sequential(*layers)
    model.load_state_dict({k: torch.from_numpy(v.astype(NP_DTYPE)) for k, v in INITIAL_WEIGHTS.items()})
    return model


# ---------------------------------------------------------------------------------------
# The mini-batch stream, shared by every run. Epoch e is a permutation of the training set,
# cut into batches of BATCH_SIZE (the last may be smaller); micro-batch c is batch c % BATCHES
# of epoch c // BATCHES. The app draws epoch e as numpy.random.default_rng([SEED, e]).permutation:
# the first len(PERMUTATIONS) epochs are embedded exactly as the app drew them; later ones are
# drawn the same way here, once NumPy is checked to reproduce the embedded ones.
# ---------------------------------------------------------------------------------------
N_TRAIN = len(Y_TRAIN)
FULL_BATCH = BATCH_SIZE >= N_TRAIN
BATCHES = math.ceil(N_TRAIN / BATCH_SIZE)
_drawn = {}


def permutation(epoch):
    if epoch < len(PERMUTATIONS):
        return PERMUTATIONS[epoch]
    if "checked" not in _drawn:
        for e in range(min(len(PERMUTATIONS), 3)):
            if not np.array_equal(np.random.default_rng([SEED, e]).permutation(N_TRAIN), PERMUTATIONS[e]):
                raise SystemExit(f"This NumPy ({np.__version__}) shuffles differently from the app's, so the batches "
                                 f"after epoch {len(PERMUTATIONS)} cannot be reproduced: ask for fewer steps.")
        _drawn.clear()
        _drawn["checked"] = True
    if epoch not in _drawn:
        if len(_drawn) > 8:
            _drawn.clear()
            _drawn["checked"] = True
        _drawn[epoch] = np.random.default_rng([SEED, epoch]).permutation(N_TRAIN)
    return _drawn[epoch]


def micro_batch(c):
    """(inputs, labels) of micro-batch ``c`` of the stream."""
    if FULL_BATCH:
        return X_TRAIN_T, Y_TRAIN_T
    epoch, i = divmod(c, BATCHES)
    idx = torch.from_numpy(permutation(epoch)[i * BATCH_SIZE:(i + 1) * BATCH_SIZE].astype(np.int64))
    return X_TRAIN_T[idx], Y_TRAIN_T[idx]


def grad_norm(params):
    """The norm of all gradients together, as the app computes it (one dot product in the model's dtype)."""
    flat = torch.cat([p.grad.reshape(-1) for p in params]).numpy()
    return math.sqrt(float(np.dot(flat, flat)))


def evaluate(model):
    """(train loss, train accuracy, test loss, test accuracy) on the whole sets."""
    out = []
    with torch.no_grad():
        for x, y in ((X_TRAIN_T, Y_TRAIN_T), (X_TEST_T, Y_TEST_T)):
            logits = model(x)
            out.append(torch.nn.functional.cross_entropy(logits, y).item())
            out.append((logits.argmax(dim=1) == y).double().mean().item())
    return out


class Trainer:
    """One run: its model, optimizer and schedule, stepped as the app steps it."""

    def __init__(self, run):
        self.run = run
        self.model = build_model()
        self.params = list(self.model.parameters())
        self.optimizer, self.scheduler = run["build"](self.params)
        self.step = 0
        self.diverged = ""

    def train_step(self):
        run, k = self.run, self.run["accumulate"]
        self.optimizer.zero_grad(set_to_none=False)
        total = 0.0
        for j in range(k):
            xb, yb = micro_batch(k * self.step + j)
            loss = torch.nn.functional.cross_entropy(self.model(xb), yb)
            (loss / k if k > 1 else loss).backward()
            total += loss.item()
        loss_value = total / k
        gn = grad_norm(self.params)
        if not (math.isfinite(loss_value) and math.isfinite(gn)):
            self.diverged = f"stopped at step {self.step}: the loss became {loss_value:.3g} (gradient norm {gn:.3g})"
            return None
        gn_after = gn
        if run["clip_norm"] is not None:
            torch.nn.utils.clip_grad_norm_(self.params, run["clip_norm"])
            gn_after = grad_norm(self.params)
        curve = run.get("lr_curve")
        if curve is not None:
            for g in self.optimizer.param_groups:
                g["lr"] = float(curve[min(self.step, len(curve) - 1)])
        lr = self.optimizer.param_groups[-1].get("lr")  # the last group's: the head's, the run's own lr
        self.optimizer.step()
        self.step += 1
        if self.scheduler is not None and self.step < run["schedule_steps"]:
            self.scheduler.step()
        return loss_value, math.nan if lr is None else float(lr), gn, gn_after


# ---------------------------------------------------------------------------------------
# Checkpoint and resume. The next step depends on the weights, the optimizer's state (momentum
# buffers, Adam's moments, step counts) and its param_groups (the current lr and betas), the
# scheduler's position, the step counter and the place in the mini-batch stream: a checkpoint
# holds all of them, so a run resumed from it goes on with the very numbers it would have had.
# ---------------------------------------------------------------------------------------


def save_checkpoint(trainer, path):
    """Save one run's training state to ``path`` with torch.save."""
    epoch, batch = divmod(trainer.run["accumulate"] * trainer.step, BATCHES)  # the next micro-batch
    checkpoint = {
        "model": trainer.model.state_dict(),  # the weights, by layer name
        "optimizer": trainer.optimizer.state_dict(),  # {"state": per parameter, "param_groups": lr, ...}
        "scheduler": None if trainer.scheduler is None else trainer.scheduler.state_dict(),  # its position
        "step": trainer.step,
        "diverged": trainer.diverged,
        # The batch order is a function of SEED and the micro-batch counter, so these are the whole
        # data loader's state (with a shuffling DataLoader, save its generator's get_state()). The
        # epoch's permutation is kept to check, on resuming, that NumPy still shuffles the same way.
        "data": {"seed": SEED, "epoch": epoch, "batch": batch,
                 "permutation": None if FULL_BATCH else torch.tensor(permutation(epoch))},
    }
    torch.save(checkpoint, path)


def load_checkpoint(trainer, path):
    """Load a run saved by save_checkpoint into ``trainer``'s fresh model, optimizer and scheduler."""
    # weights_only=True: only tensors and plain Python containers are rebuilt, no code from the file runs.
    checkpoint = torch.load(path, weights_only=True)
    data = checkpoint["data"]
    if data["seed"] != SEED or (data["permutation"] is not None and not np.array_equal(
            data["permutation"].numpy(), permutation(data["epoch"]))):
        raise SystemExit(f"{path} was saved with another batch order than this script's: it cannot resume here.")
    trainer.model.load_state_dict(checkpoint["model"])  # copied into the model's own tensors
    trainer.optimizer.load_state_dict(checkpoint["optimizer"])  # matched to the parameters by position
    if trainer.scheduler is not None:
        trainer.scheduler.load_state_dict(checkpoint["scheduler"])
    trainer.step = checkpoint["step"]  # micro_batch(k * step) is where the stream goes on
    trainer.diverged = checkpoint["diverged"]


def describe_checkpoint(path):
    """One line on what a checkpoint holds (what the optimizer keeps per parameter, for instance)."""
    checkpoint = torch.load(path, weights_only=True)
    state = checkpoint["optimizer"]["state"]
    keys = sorted({key for per_param in state.values() for key in per_param})
    parts = [f"model: {len(checkpoint['model'])} tensors",
             f"optimizer: {', '.join(keys) or 'no state'} for {len(state)} parameters, "
             f"{len(checkpoint['optimizer']['param_groups'])} param group(s)"]
    if checkpoint["scheduler"] is not None:
        parts.append(f"scheduler: last_epoch {checkpoint['scheduler']['last_epoch']}")
    parts.append(f"step {checkpoint['step']}, data: epoch {checkpoint['data']['epoch']} batch "
                 f"{checkpoint['data']['batch']}")
    return "; ".join(parts)


def resume_and_compare(n, steps, losses):
    """Every run again from its checkpoint at step ``n``, in a new model, optimizer and scheduler, trained
    to ``steps``: (its losses, runs x steps with NaN before ``n``; whether all equal ``losses`` bit for bit)."""
    resumed = np.full_like(losses, np.nan)
    width = max(len(run["label"]) for run in RUNS)
    print(f"\\nEach run resumed from its checkpoint at step {n} (torch.load into fresh objects), on to step {steps}:")
    for r, run in enumerate(RUNS):
        trainer = Trainer(run)  # the initial weights, a new optimizer and scheduler...
        load_checkpoint(trainer, CHECKPOINT_FILE.format(run=r + 1))  # ...now holding the saved state
        while trainer.step < steps and not trainer.diverged:
            row = trainer.train_step()
            if row is not None:
                resumed[r, trainer.step - 1] = row[0]
        same = resumed[r, n:].tobytes() == losses[r, n:].tobytes()  # the bits, not a tolerance
        gap = np.nanmax(np.abs(resumed[r, n:] - losses[r, n:]), initial=0.0)
        print(f"  {run['label']:<{width}}  {steps - n} losses " +
              ("equal the uninterrupted run's, bit for bit" if same else f"differ (by up to {gap:.3g})") +
              (f" ({trainer.diverged})" if trainer.diverged else ""))
    same = resumed[:, n:].tobytes() == losses[:, n:].tobytes()
    print("Checkpoint and resume gave the same numbers as never stopping." if same else
          "Resuming changed the numbers: something the next step depends on was not in the checkpoint.")
    return resumed, same


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--steps", type=int, default=STEPS, help=f"optimizer steps per run (default {STEPS})")
    parser.add_argument("--out", default=OUT, help=f"where to save the curves (default {OUT})")
    parser.add_argument("--every", type=int, default=0, help="print every K steps (default: about 10 times)")
    parser.add_argument("--checkpoint-at", type=int, default=CHECKPOINT_AT, metavar="C",
                        help="save every run at step C, resume it from the file and compare the losses")
    args = parser.parse_args()
    steps = max(args.steps, 0)
    at = args.checkpoint_at
    if at is not None and not 0 <= at < steps:
        parser.error(f"--checkpoint-at must be a step from 0 to {steps - 1} (one the runs go past), got {at}")
    every = args.every if args.every > 0 else max(EVAL_EVERY, EVAL_EVERY * math.ceil(steps / 10 / EVAL_EVERY))
    trainers = [Trainer(run) for run in RUNS]
    R = len(trainers)
    curves = {key: np.full((R, steps), np.nan) for key in ("loss", "lr", "grad_norm", "grad_norm_clipped")}
    eval_steps = list(range(0, steps + 1, EVAL_EVERY))
    evals = np.full((R, len(eval_steps), 4), np.nan)
    width = max(len(run["label"]) for run in RUNS)
    print(f"{'step':>6}  {'run':<{width}}  {'train loss':>11}  {'train acc':>9}  {'test loss':>11}  {'test acc':>8}")

    def report(t):
        for r, tr in enumerate(trainers):
            if tr.diverged:
                continue
            values = evaluate(tr.model)
            if t % EVAL_EVERY == 0:
                evals[r, t // EVAL_EVERY] = values
            if t % every == 0 or t == steps:
                a, b, c, d = values
                print(f"{t:>6}  {tr.run['label']:<{width}}  {a:>11.6f}  {b:>9.2%}  {c:>11.6f}  {d:>8.2%}")

    report(0)
    for t in range(steps):
        if t == at:  # every run has taken `at` steps: save it, and train on without stopping
            for r, tr in enumerate(trainers):
                save_checkpoint(tr, CHECKPOINT_FILE.format(run=r + 1))
            print(f"saved each run at step {at} to {CHECKPOINT_FILE.format(run='<run>')}; run 1's holds: "
                  f"{describe_checkpoint(CHECKPOINT_FILE.format(run=1))}")
        for r, tr in enumerate(trainers):
            if tr.diverged:
                continue
            row = tr.train_step()
            if row is None:
                print(f"{t:>6}  {tr.run['label']:<{width}}  {tr.diverged}")
                continue
            for key, v in zip(("loss", "lr", "grad_norm", "grad_norm_clipped"), row):
                curves[key][r, t] = v
        if (t + 1) % EVAL_EVERY == 0 or (t + 1) % every == 0 or t + 1 == steps:
            report(t + 1)
    if at is not None:
        curves["resumed_loss"], same = resume_and_compare(at, steps, curves["loss"])
    np.savez(args.out, labels=np.array([run["label"] for run in RUNS]), **curves,
             eval_step=np.array(eval_steps, dtype=np.int64), train_loss=evals[..., 0], train_acc=evals[..., 1],
             test_loss=evals[..., 2], test_acc=evals[..., 3],
             diverged_at=np.array([tr.step if tr.diverged else -1 for tr in trainers], dtype=np.int64))
    print(f"saved the training curves of {R} run{'s' if R > 1 else ''} ({steps} steps) to {args.out}")
    if at is not None and not same:
        raise SystemExit("the resumed runs did not reproduce the uninterrupted ones")


if __name__ == "__main__":
    main()
'''


# With mixed precision, save_checkpoint and load_checkpoint also keep the GradScaler's state (its scale and
# growth count; a disabled scaler's is empty): (what the float32 script says, what it says then).
_CHECKPOINT_SCALER = (
    ("        \"step\": trainer.step,\n",
     "        \"scaler\": trainer.scaler.state_dict(),  # GradScaler: the loss scale and its growth count\n"
     "        \"step\": trainer.step,\n"),
    ("    trainer.step = checkpoint[\"step\"]",
     "    trainer.scaler.load_state_dict(checkpoint[\"scaler\"])\n    trainer.step = checkpoint[\"step\"]"),
)


def _unique_labels(race) -> list[str]:
    labels, seen = [], {}
    for run in race.runs:
        base = run.config.title()
        seen[base] = seen.get(base, 0) + 1
        labels.append(base if seen[base] == 1 else f"{base} ({seen[base]})")
    return labels


def live_script(race: T.Race, steps: int | None = None, filename: str = "live_training.py",
                out: str = "live_training.npz") -> str:
    """A standalone PyTorch script (its text) that reproduces ``race``'s runs for ``steps`` steps
    (default: the race's current step; the script's ``--steps`` overrides it).

    Raises :class:`ValueError` naming the run for what cannot be reproduced exactly (see the
    module docstring).
    """
    if steps is None:
        steps = race.step
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
    steps = int(steps)
    labels = _unique_labels(race)
    pip = {"numpy", "torch"}
    needs_timm = False
    blocks = []
    for i, (run, label) in enumerate(zip(race.runs, labels)):
        block, packages, timm = _run_block(i, run, race.dtype, label)
        blocks.append(block)
        pip |= packages
        needs_timm |= timm

    spec = race.spec
    n_train = len(race.y_train)
    # The permutations the exported steps read (at least one epoch, for the script's NumPy check).
    micro = max(1, steps) * max(run.accumulate for run in race.runs)
    perms = np.zeros((0, n_train), dtype=np.uint16)
    if not race.full_batch:
        per_epoch = race.batches_per_epoch
        index_dtype = np.uint16 if n_train <= 1 << 16 else np.uint32
        cap = max(1, MAX_EMBEDDED_PERM_BYTES // (n_train * np.dtype(index_dtype).itemsize))
        epochs = min(math.ceil(micro / per_epoch), cap)
        perms = np.stack([np.concatenate([race.batch_indices(e * per_epoch + b) for b in range(per_epoch)])
                          for e in range(epochs)]).astype(index_dtype)
    initial = T.build_mlp(spec, seed=race.seed, dtype=race.dtype).state_dict()

    extra = sorted(pip - {"numpy", "torch"})
    needs = "pip install numpy torch" + (" " + " ".join(extra) if extra else "")
    title = (f"Live Training: {len(race.runs)} run{'s' if len(race.runs) > 1 else ''} of a {spec.describe()} MLP "
             f"on {n_train} training points, batch {race.batch_size}, seed {race.seed}")
    parts = [
        _HEADER.format(title=title, dtype=race.dtype, filename=filename, out=out, needs=needs, steps=steps,
                       eval_every=race.eval_every).rstrip("\n"),
    ]
    if race.dtype == "float64":
        parts.append("torch.set_default_dtype(torch.float64)  # torch keeps some optimizer scalars in this dtype")
    parts += [
        "",
        f"STEPS = {steps}",
        f"OUT = {out!r}",
        "CHECKPOINT_AT = None  # a step (e.g. STEPS // 2) to save, resume and compare at; or --checkpoint-at",
        "CHECKPOINT_FILE = 'checkpoint_run{run}.pt'  # one file per run",
        f"SEED = {race.seed}",
        f"DTYPE = torch.{race.dtype}",
        f"NP_DTYPE = np.{race.dtype}",
        f"SIZES = {spec.sizes!r}  # {spec.sizes_text}",
        f"ACTIVATION = torch.nn.{T._ACTIVATION_CLASSES[spec.activation]}",
        f"BATCH_SIZE = {race.batch_size}" + ("  # the whole training set" if race.full_batch else ""),
        f"EVAL_EVERY = {race.eval_every}",
        _BODY.split("\n\ndef build_model", 1)[0],
        "",
        "# The race's data (the training and test splits the app trained on), embedded.",
        f"X_TRAIN = {_points_literal(race.X_train)}",
        f"Y_TRAIN = {_labels_literal(race.y_train)}",
        f"X_TEST = {_points_literal(race.X_test)}",
        f"Y_TEST = {_labels_literal(race.y_test)}",
        "X_TRAIN_T, Y_TRAIN_T = torch.from_numpy(X_TRAIN), torch.from_numpy(Y_TRAIN)",
        "X_TEST_T, Y_TEST_T = torch.from_numpy(X_TEST), torch.from_numpy(Y_TEST)",
        "",
        "# The initial weights (seed " + f"{race.seed}" + "), the model's state_dict, embedded.",
        "INITIAL_WEIGHTS = {",
        *[f"    {k!r}: {_array_literal(v.detach().numpy())}," for k, v in initial.items()],
        "}",
        "",
        f"# The app's permutations of epochs 0-{len(perms) - 1}, embedded (the first "
        f"{len(perms) * race.batches_per_epoch} micro-batches)." if len(perms) else
        "# Full batch: no permutations.",
        f"PERMUTATIONS = {_array_literal(perms)}.astype(np.int64)",
        "",
        "\n\ndef build_model" + _BODY.split("\n\ndef build_model", 1)[1].split("\n\nclass Trainer", 1)[0],
    ]
    if needs_timm:
        parts.append(_TIMM_CODE.rstrip("\n"))
    text = _script_text(parts, blocks, "\n\nclass Trainer" + _BODY.split("\n\nclass Trainer", 1)[1])
    if any(run.amp.name != "float32" for run in race.runs):
        from app.training.amp import script_patch

        text = script_patch(text)
        for old, new in _CHECKPOINT_SCALER:  # the GradScaler's state goes into the checkpoint too
            if text.count(old) != 1:
                raise ValueError("the script template changed: the loss scaler cannot be checkpointed")
            text = text.replace(old, new)
    return text
