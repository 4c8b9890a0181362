"""The function registry and config files (confection + catalogue).

Every layer, optimizer, schedule and initializer is registered under Thinc's
versioned names ("Relu.v1", "Adam.v1", "warmup_linear.v1", ...), so a whole
model and optimizer can be described in a ``.cfg`` file::

    [optimizer]
    @optimizers = "Adam.v1"
    learn_rate = 0.001

    [optimizer.learn_rate]
    @schedules = "warmup_linear.v1"
    initial_rate = 0.001
    warmup_steps = 100
    total_steps = 1000

and built with ``registry.resolve(Config().from_str(text))``.
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

import catalogue
import confection
from confection import Config, ConfigValidationError

from . import datasets, initializers, layers, loss, optimizers, schedules
from ._builtins import builtins


class registry(confection.registry):
    """Thinc's registry layout: one catalogue per kind of function."""

    layers = catalogue.create("thinc_fast", "layers", entry_points=True)
    optimizers = catalogue.create("thinc_fast", "optimizers", entry_points=True)
    schedules = catalogue.create("thinc_fast", "schedules", entry_points=True)
    initializers = catalogue.create("thinc_fast", "initializers", entry_points=True)
    datasets = catalogue.create("thinc_fast", "datasets", entry_points=True)
    loaders = catalogue.create("thinc_fast", "loaders", entry_points=True)
    losses = catalogue.create("thinc_fast", "losses", entry_points=True)

    @classmethod
    def resolve(cls, config: Any, **kwargs: Any) -> Dict[str, Any]:
        """Build every ``@registry`` block of `config`. Unknown registry names,
        missing or mistyped arguments raise ConfigValidationError naming the
        section and the key."""
        cls._check_names(config)
        return super().resolve(config, **kwargs)

    @classmethod
    def _check_names(cls, config: Any, path: Tuple[str, ...] = ()) -> None:
        if not isinstance(config, dict):
            return
        for key, value in config.items():
            if isinstance(key, str) and key.startswith("@"):
                reg_name = key[1:]
                section = ".".join(path) or "(top level)"
                if not hasattr(cls, reg_name) or not isinstance(getattr(cls, reg_name),
                                                                 catalogue.Registry):
                    raise ConfigValidationError(
                        config=config, errors=[{"loc": list(path) + [key],
                                                "msg": f"unknown registry '{reg_name}'"}],
                        title=f"Invalid config section [{section}]")
                registry_obj = getattr(cls, reg_name)
                if value not in registry_obj.get_all():
                    available = ", ".join(sorted(registry_obj.get_all())) or "none"
                    raise ConfigValidationError(
                        config=config,
                        errors=[{"loc": list(path) + [key],
                                 "msg": f"unknown function '{value}' in registry '{reg_name}'; "
                                        f"available: {available}"}],
                        title=f"Invalid config section [{section}]")
            cls._check_names(value, path + (str(key),))


_LAYERS = {
    "Linear.v1": layers.Linear, "Relu.v1": layers.Relu, "Softmax.v1": layers.Softmax,
    "Softmax.v2": layers.Softmax_v2,
    "Dropout.v1": layers.Dropout, "LayerNorm.v1": layers.LayerNorm, "Maxout.v1": layers.Maxout,
    "chain.v1": layers.chain_any, "residual.v1": layers.residual,
    "concatenate.v1": layers.concatenate, "clone.v1": layers.clone, "noop.v1": layers.noop,
    "with_debug.v1": layers.with_debug,
    "ClippedLinear.v1": layers.ClippedLinear, "Dish.v1": layers.Dish, "Gelu.v1": layers.Gelu,
    "HardSigmoid.v1": layers.HardSigmoid, "HardSwish.v1": layers.HardSwish,
    "HardSwishMobilenet.v1": layers.HardSwishMobilenet, "HardTanh.v1": layers.HardTanh,
    "Mish.v1": layers.Mish, "ReluK.v1": layers.ReluK, "Sigmoid.v1": layers.Sigmoid,
    "Swish.v1": layers.Swish, "Logistic.v1": layers.Logistic,
    "sigmoid_activation.v1": layers.sigmoid_activation,
    "softmax_activation.v1": layers.softmax_activation,
}
_OPTIMIZERS = {"Adam.v1": optimizers.Adam, "SGD.v1": optimizers.SGD, "RAdam.v1": optimizers.RAdam}


def _register_builtins() -> None:
    for name, func in _LAYERS.items():
        registry.layers.register(name, func=func)
    for name, func in _OPTIMIZERS.items():
        registry.optimizers.register(name, func=func)
    for name, func in schedules.BUILTIN_SCHEDULES.items():
        registry.schedules.register(name, func=func)
    for name, func in loss.BUILTIN_LOSSES.items():
        registry.losses.register(name, func=func)
    registry.datasets.register("digits.v1", func=datasets.digits)
    registry.datasets.register("npz.v1", func=datasets.npz)
    for name, func in initializers.BUILTIN_INITIALIZERS.items():
        # configs name an initializer (and its settings); the layer calls it with (ops, shape)
        registry.initializers.register(name, func=func)
    for kind, name, func in builtins():  # names recorded with @builtin beside the function
        catalog = getattr(registry, kind)
        if name not in catalog.get_all():
            catalog.register(name, func=func)


_register_builtins()

__all__ = ["Config", "ConfigValidationError", "registry"]
