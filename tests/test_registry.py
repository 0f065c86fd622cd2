"""The registry's structure: entry types that import nothing of the package, no import cycle,
classes that find their entry without being written to, module lists declared once, and
hyperparameter roles declared exactly where the app and the engine rely on them."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys

import pytest

import optim_core
from optim_core import registry
from optim_core.entries import ROLES, Hyper, OptimizerInfo
from optim_core.optimizer import Optimizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------------------------------
# Imports: entries first, registry first, any module first
# ---------------------------------------------------------------------------------------

# A bare ``optim_core`` package object whose __init__ never runs: each import below then loads
# exactly the modules that the imported one pulls in, in its own order (the real __init__
# imports everything up front, which would hide a cycle).
_BARE_PACKAGE = (
    "import sys, types\n"
    "pkg = types.ModuleType('optim_core')\n"
    f"pkg.__path__ = [{os.path.join(ROOT, 'optim_core')!r}]\n"
    "sys.modules['optim_core'] = pkg\n"
)


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", _BARE_PACKAGE + code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_entries_imports_nothing_of_the_package():
    out = _run("import optim_core.entries\n"
               "print(sorted(m for m in sys.modules if m.split('.')[0] in ('optim_core', 'numpy')))")
    assert out.strip() == "['optim_core', 'optim_core.entries']"


def test_the_registry_imports_only_entries_until_asked():
    out = _run("import optim_core.registry\n"
               "print(sorted(m for m in sys.modules if m.startswith('optim_core')))")
    assert out.strip() == "['optim_core', 'optim_core.entries', 'optim_core.registry']"


def test_importing_the_registry_first_collects_everything():
    out = _run("import optim_core.registry as r\n"
               "opts = r.optimizers()\n"
               "assert all(info.cls.info is info for info in opts.values())\n"
               "print([list(opts), list(r.schedules()), list(r.surfaces())])")
    assert out.strip() == str([list(registry.optimizers()), list(registry.schedules()), list(registry.surfaces())])


def _modules(kind: str) -> list[str]:
    return [f"optim_core.{kind}.{m}" for m in getattr(registry, f"_{kind.upper()[:-1]}_MODULES")]


FIRST = ["optim_core.optimizer", *_modules("optimizers"), *_modules("schedules"), *_modules("surfaces")]


@pytest.mark.parametrize("module", FIRST)
def test_any_module_imported_first_works(module):
    _run(f"import {module} as mod\n"
         "from optim_core import registry\n"
         "infos = getattr(mod, 'INFOS', None) or ([mod.INFO] if hasattr(mod, 'INFO') else [])\n"
         "table = {**registry.optimizers(), **registry.schedules(), **registry.surfaces()}\n"
         "for info in infos:\n"
         "    assert table[info.name] is info\n"
         "    if isinstance(info, registry.OptimizerInfo):\n"
         "        assert info.cls.info is info and 'info' not in vars(info.cls)\n")


# ---------------------------------------------------------------------------------------
# Module lists and class entries
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["optimizers", "schedules", "surfaces"])
def test_the_registry_lists_exactly_the_modules_that_declare_entries(kind):
    package = importlib.import_module(f"optim_core.{kind}")
    declaring = []
    for m in pkgutil.iter_modules(package.__path__):
        mod = importlib.import_module(f"optim_core.{kind}.{m.name}")
        if hasattr(mod, "INFO") or hasattr(mod, "INFOS"):
            declaring.append(f"optim_core.{kind}.{m.name}")
    assert sorted(_modules(kind)) == sorted(declaring)
    assert not any(name.endswith("_MODULES") for name in vars(package)), "the list lives in the registry only"


def test_entry_types_are_reexported_by_the_registry():
    import optim_core.entries as entries

    for name in ("Hyper", "OptimizerInfo", "ScheduleInfo", "SurfaceInfo", "ROLES"):
        assert getattr(registry, name) is getattr(entries, name)


def test_constructing_an_entry_leaves_its_class_alone():
    class Plain:
        pass

    OptimizerInfo(name="Plain", cls=Plain, update=lambda *a, **k: None, init_state=lambda *a, **k: {}, hypers=(),
                  latex="", state_bytes=lambda *a, **k: 0, state_note="", paper="", summary="")
    assert not hasattr(Plain, "info")
    for info in registry.optimizers().values():
        assert "info" not in vars(info.cls)  # found through the registry, never written to the class
        assert info.cls.info is info and registry.optimizer_of_class(info.cls) is info


def test_a_subclass_shares_its_base_entry_and_an_unregistered_class_has_none():
    class MySGD(optim_core.SGD):
        pass

    assert MySGD.info is optim_core.SGD.info is registry.get_optimizer("SGD")
    p = optim_core.Parameter([1.0, 2.0])
    p.grad = p.data.copy()
    MySGD([p], lr=0.5).step()
    assert p.data.tolist() == [0.5, 1.0]

    class Unregistered(Optimizer):
        pass

    assert not hasattr(Unregistered, "info")
    with pytest.raises(AttributeError, match="not a registered optimizer"):
        Unregistered.info  # noqa: B018


# ---------------------------------------------------------------------------------------
# Roles
# ---------------------------------------------------------------------------------------

# Written out, never read from the registry: the hyperparameter each momentum-cycling
# schedule (OneCycleLR, CyclicLR) moves, as the engine and the app have always chosen it
# (``momentum`` if the optimizer has one, else ``beta1``). Adagrad and Adadelta have none.
CYCLED_MOMENTUM = {
    "SGD": "momentum",
    "RMSprop": "momentum",
    "LARS": "momentum",
    "Adam": "beta1",
    "AdamW": "beta1",
    "NAdam": "beta1",
    "RAdam": "beta1",
    "Adamax": "beta1",
    "Lion": "beta1",
    "LAMB": "beta1",
    "Adafactor": "beta1",
    "Sophia": "beta1",
    "Adam8bit": "beta1",
}
# Schedule parameters that follow the run's number of steps on both pages.
RUN_LENGTH = {
    "CosineAnnealingLR": "T_max",
    "PolynomialLR": "total_iters",
    "WarmupCosine": "total_steps",
    "WarmupPolynomial": "total_steps",
    "SequentialLR": "T_max",
    "FormulaLR": "T",
}
# A phase's length: the warm-up's (or, as a decay, the decay's) in a composition.
PHASE_LENGTH = {"ConstantLR": "total_iters", "LinearLR": "total_iters"}


def _declared() -> dict[tuple[str, str], dict[str, str]]:
    out: dict[tuple[str, str], dict[str, str]] = {}
    tables = [("optimizer", info.name, info.hypers) for info in registry.optimizers().values()]
    tables += [("schedule", info.name, info.params) for info in registry.schedules().values()]
    tables += [("surface", info.name, info.params) for info in registry.surfaces().values()]
    for kind, name, hypers in tables:
        for h in hypers:
            if h.role:
                assert h.role in ROLES
                out.setdefault((kind, h.role), {})[name] = h.name
    return out


def test_roles_are_declared_exactly_where_expected():
    assert ROLES == ("cycled_momentum", "run_length", "phase_length")
    assert _declared() == {
        ("optimizer", "cycled_momentum"): CYCLED_MOMENTUM,
        ("schedule", "run_length"): RUN_LENGTH,
        ("schedule", "phase_length"): PHASE_LENGTH,
    }


def test_role_lookups():
    assert registry.get_optimizer("Adam").with_role("cycled_momentum").name == "beta1"
    assert registry.get_optimizer("Adagrad").with_role("cycled_momentum") is None
    assert registry.get_schedule("SequentialLR").with_role("run_length").name == "T_max"
    assert registry.get_schedule("LinearLR").length_param().name == "total_iters"
    assert registry.get_schedule("ExponentialLR").length_param() is None
    with pytest.raises(ValueError, match="unknown role"):
        registry.get_optimizer("SGD").with_role("momentum")
    with pytest.raises(ValueError, match="unknown role"):
        Hyper("x", 1.0, role="length")


def test_the_app_reads_the_roles():
    from app.schedules import logic as L
    from optim_core.schedules import torch_momentum_expr
    from app.playground import scene as S

    for name in registry.optimizers():
        assert L.momentum_key(name) == CYCLED_MOMENTUM.get(name)
    assert torch_momentum_expr("SGD") == 'optimizer.param_groups[0]["momentum"]'
    assert torch_momentum_expr("AdamW") == 'optimizer.param_groups[0]["betas"][0]'
    assert torch_momentum_expr("Adagrad") is None
    assert {name: L.decay_length_param(name) for name in L.DECAYS} == {
        "CosineAnnealingLR": "T_max", "ExponentialLR": None, "StepLR": None, "MultiStepLR": None,
        "PolynomialLR": "total_iters", "LinearLR": "total_iters", "CosineAnnealingWarmRestarts": None}
    # The Schedules page: run lengths follow the steps (after SequentialLR's warm-up, past the
    # warm-up schedules' own); a phase's length does not.
    assert {name: L.length_values(name, 500) for name in registry.schedules() if L.length_values(name, 500)} == {
        "CosineAnnealingLR": {"T_max": 500}, "PolynomialLR": {"total_iters": 500},
        "WarmupCosine": {"total_steps": 500}, "WarmupPolynomial": {"total_steps": 500},
        "SequentialLR": {"T_max": 400}, "FormulaLR": {"T": 500}}
    assert L.length_values("WarmupCosine", 50) == {"total_steps": 101}
    # The Playground: every length, run or phase, defaults to the race's length.
    defaults = {}
    for name, info in registry.schedules().items():
        for h in info.params:
            if S.schedule_param_default(h, 300, info) != h.default:
                defaults[name, h.name] = S.schedule_param_default(h, 300, info)
    assert defaults == {(name, p): 300 for name, p in {**RUN_LENGTH, **PHASE_LENGTH}.items()}
    warm = registry.get_schedule("WarmupPolynomial")
    assert S.schedule_param_default(warm.with_role("run_length"), 50, warm) == 101
