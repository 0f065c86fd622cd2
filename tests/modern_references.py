"""Loaders for the libraries the modern optimizers are compared with.

Each returns the reference class, or skips the calling test locally (fails it in CI) when
the library is missing, as :func:`tests.asserts.reference` does:

* LARS, LAMB: timm's ``Lars`` and ``Lamb``. timm's package ``__init__`` imports
  torchvision, which does not import against this torch build, so the two files are loaded
  on their own (:func:`timm_optim`);
* Adafactor: transformers' ``Adafactor`` and ``torch.optim.Adafactor``;
* Sophia: ``sophia_opt.SophiaG`` (the authors' SophiaG, packaged);
* Lookahead: ``pytorch_optimizer.Lookahead``;
* Lion: ``lion_pytorch.Lion``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

import pytest

from tests.asserts import reference

# timm's optim files are imported as submodules of this stand-in package, whose __path__ is
# timm/optim: their relative imports (``from ._helpers import ...``) resolve inside it, and
# no module named ``timm`` is ever put in sys.modules, so a later ``import timm`` elsewhere
# still finds the real package (or fails as it would have).
_TIMM_OPTIM = "_timm_optim_files"


def _missing(hint: str):
    if os.environ.get("CI") == "true":  # pragma: no cover - only a broken CI install gets here
        pytest.fail(hint, pytrace=False)
    pytest.skip(hint)


def timm_optim(module: str) -> types.ModuleType:
    """``timm/optim/<module>.py`` loaded without running timm's ``__init__``."""
    reference("torch")
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        _missing("timm is not installed (pip install -e '.[test]')")
    optim_dir = os.path.join(list(spec.submodule_search_locations)[0], "optim")
    if not os.path.isfile(os.path.join(optim_dir, module + ".py")):
        _missing(f"timm has no optim/{module}.py")
    package = sys.modules.get(_TIMM_OPTIM)
    if package is None:
        package = types.ModuleType(_TIMM_OPTIM, "timm/optim loaded without timm's __init__ (tests only)")
        package.__path__ = [optim_dir]
        package.__package__ = _TIMM_OPTIM
        sys.modules[_TIMM_OPTIM] = package
    return importlib.import_module(f"{_TIMM_OPTIM}.{module}")


def timm_lars():
    return timm_optim("lars").Lars


def timm_lamb():
    return timm_optim("lamb").Lamb


def transformers_adafactor():
    return reference("transformers.optimization").Adafactor


def torch_adafactor():
    return reference("torch").optim.Adafactor


def sophia_g():
    return reference("sophia_opt").SophiaG


def pytorch_optimizer_lookahead():
    return reference("pytorch_optimizer").Lookahead


def lion_pytorch():
    return reference("lion_pytorch").Lion
