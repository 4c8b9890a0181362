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

import difflib
from typing import Any, Dict, List, Tuple

import catalogue
import confection
from confection import VARIABLE_RE, Config, ConfigValidationError, Promise

# imported for their @builtin names, which _register_builtins() registers
from . import backends
from . import datasets as _datasets, initializers as _initializers, layers as _layers  # noqa: F401
from . import loss as _loss, optimizers as _optimizers, schedules as _schedules  # noqa: F401
from ._builtins import builtins


class UnknownFunctionError(ConfigValidationError, catalogue.RegistryError):
    """A config names a function no registry has. Both the ConfigValidationError
    thinc_fast raises for every config problem (with the section, key and
    "did you mean") and the ``catalogue.RegistryError`` Thinc raises here, so
    ``except RegistryError`` catches it as in Thinc."""


class UnknownRegistryError(ConfigValidationError):
    """A config names a registry that does not exist (``@foo``); a ValueError,
    as Thinc's error for it is."""


class registry(confection.registry):
    """Thinc's registry layout: one catalogue per kind of function."""

    layers = catalogue.create("thinc_fast", "layers", entry_points=True)
    optimizers = catalogue.create("thinc_fast", "optimizers", entry_points=True)
    schedules = catalogue.create("thinc_fast", "schedules", entry_points=True)
    initializers = catalogue.create("thinc_fast", "initializers", entry_points=True)
    datasets = catalogue.create("thinc_fast", "datasets", entry_points=True)
    loaders = catalogue.create("thinc_fast", "loaders", entry_points=True)
    losses = catalogue.create("thinc_fast", "losses", entry_points=True)
    ops = catalogue.create("thinc_fast", "ops", entry_points=True)

    @classmethod
    def create(cls, registry_name: str, entry_points: bool = False) -> None:
        """Add a registry of your own (Thinc's ``registry.create``): afterwards
        ``@registry.<registry_name>("name.v1")`` registers a function and configs
        name it as ``@<registry_name> = "name.v1"``. With `entry_points`, other
        packages' ``thinc_fast_<registry_name>`` entry points are found too."""
        if hasattr(cls, registry_name):
            raise ValueError(f"Registry '{registry_name}' already exists")
        setattr(cls, registry_name,
                catalogue.create("thinc_fast", registry_name, entry_points=entry_points))

    @classmethod
    def resolve(cls, config: Any, **kwargs: Any) -> Dict[str, Any]:
        """Build every ``@registry`` block of `config`. Unknown registry names,
        missing or mistyped arguments raise ConfigValidationError naming the
        section and the key."""
        cls._check_names(config)
        return super().resolve(config, **kwargs)

    @classmethod
    def fill(cls, config: Any, **kwargs: Any) -> Config:
        """`config` with every function's defaults written in (confection's
        ``fill``), except the arguments that thinc_fast adds to a function
        Thinc also has (``Adam.v1``'s ``grad_clip_mode``; see
        ``_builtins.beyond_thinc``) where `config` did not give them: the
        filled config then builds in Thinc as well."""
        cls._check_names(config)
        filled = super().fill(config, **kwargs)
        cls._drop_unasked(filled, config)
        return filled

    @classmethod
    def _drop_unasked(cls, filled: Any, given: Any) -> None:
        if not isinstance(filled, dict):
            return
        given = given if isinstance(given, dict) else {}
        for key, value in filled.items():
            if isinstance(key, str) and key.startswith("@"):
                catalog = getattr(cls, key[1:], None)
                func = catalog.get_all().get(str(value)) \
                    if isinstance(catalog, catalogue.Registry) else None
                if func is not None:
                    for param in getattr(func, "thinc_fast_only_params", ()):
                        if param not in given:
                            filled.pop(param, None)
                break
        for key, value in list(filled.items()):
            cls._drop_unasked(value, given.get(key))

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
                    raise UnknownRegistryError(
                        config=config, errors=[{"loc": list(path) + [key],
                                                "msg": f"unknown registry '{reg_name}'"}],
                        title=f"Invalid config section [{section}]")
                registry_obj = getattr(cls, reg_name)
                if value not in registry_obj.get_all():
                    raise UnknownFunctionError(
                        config=config,
                        errors=[{"loc": list(path) + [key],
                                 "msg": f"unknown function '{value}' in registry '{reg_name}'; "
                                        + _suggest(str(value), sorted(registry_obj.get_all()))}],
                        title=f"Invalid config section [{section}]")
            cls._check_names(value, path + (str(key),))


def _suggest(name: str, names: List[str]) -> str:
    """'did you mean ...?' for the closest registered names, then the names
    themselves when there are few, else how many there are."""
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    if len(names) <= 12:
        return hint + f"available: {', '.join(names) or 'none'}"
    return hint + (f"{len(names)} are registered (thinc_fast.registry.<registry>.get_all() "
                   f"lists them)")


def _register_builtins() -> None:
    """Register every name recorded with ``@builtin`` beside its function."""
    for kind, name, func in builtins():
        catalog = getattr(registry, kind)
        if name not in catalog.get_all():
            catalog.register(name, func=func)


_register_builtins()


def _register_ops() -> None:
    """The backends under the names Thinc registers them by."""
    for cls in (backends.NumpyOps, backends.CupyOps, backends.AppleOps, backends.MPSOps):
        if cls.__name__ not in registry.ops.get_all():
            registry.ops.register(cls.__name__, func=cls)


_register_ops()

__all__ = ["Config", "ConfigValidationError", "registry", "Promise", "VARIABLE_RE",
           "UnknownFunctionError", "UnknownRegistryError"]
