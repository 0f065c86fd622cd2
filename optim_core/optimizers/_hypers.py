"""Hyperparameter declarations shared by many optimizers (one definition each)."""

from __future__ import annotations

from optim_core.entries import Hyper


def lr(default: float, low: float = 1e-5, high: float = 1.0) -> Hyper:
    return Hyper("lr", default, low=low, high=high, log=True, label="learning rate η",
                 help="Step size multiplying every update.", valid="[0, inf)")


def beta1(default: float = 0.9, label: str = "β₁") -> Hyper:
    return Hyper("beta1", default, low=0.0, high=0.999, label=label,
                 help="Decay of the running mean of gradients (first moment).", valid="[0, 1)",
                 role="cycled_momentum")


def beta2(default: float = 0.999, label: str = "β₂") -> Hyper:
    return Hyper("beta2", default, low=0.5, high=0.9999, label=label,
                 help="Decay of the running mean of squared gradients (second moment).", valid="[0, 1)")


def eps(default: float = 1e-8, low: float = 1e-10, high: float = 1e-1) -> Hyper:
    return Hyper("eps", default, low=low, high=high, log=True, label="ε",
                 help="Added to the denominator so a tiny second moment cannot blow up the step.",
                 valid="(0, inf)")


def weight_decay(default: float = 0.0, high: float = 0.5, label: str = "weight decay λ") -> Hyper:
    return Hyper("weight_decay", default, low=0.0, high=high, label=label,
                 help="Pull of every weight towards zero.", valid="[0, inf)")


def momentum(default: float = 0.0, label: str = "momentum μ") -> Hyper:
    return Hyper("momentum", default, low=0.0, high=0.999, label=label,
                 help="Fraction of the previous velocity kept at each step.", valid="[0, inf)",
                 role="cycled_momentum")


def flag(name: str, default: bool, label: str, help: str) -> Hyper:
    return Hyper(name, default, kind="bool", label=label, help=help)


MAXIMIZE = flag("maximize", False, "maximize", "Climb the objective instead of descending it.")


def adam_family(lr_default: float, weight_decay_default: float = 0.0) -> tuple[Hyper, ...]:
    """lr, β₁, β₂, ε and weight decay: the hyperparameters every Adam variant starts with."""
    return (lr(lr_default), beta1(0.9), beta2(0.999), eps(1e-8), weight_decay(weight_decay_default))


DECOUPLED = flag("decoupled_weight_decay", False, "decoupled weight decay",
                 "Shrink the weights directly (as AdamW) instead of adding λθ to the gradient.")
