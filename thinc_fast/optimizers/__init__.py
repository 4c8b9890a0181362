"""Optimizers: the :class:`Optimizer` facade and the Adam, RAdam and SGD rules.

- ``hyper.py``: what a hyperparameter follows (number, schedule, generator).
- ``rules.py``: one rule per algorithm (its state, its kernel scalars, its
  kernel), and the common steps (L2, clipping, decay, averages).
- ``state.py``: the arena-shaped state an optimizer keeps for a model.
- ``optimizer.py``: the facade and ``Adam``/``RAdam``/``SGD``.
- ``_format.py``: the facade's byte format (``to_bytes``/``from_bytes``,
  ``state_bounds``).
"""
from .hyper import FromIterator, Hyperparameter, HyperparameterError, KeyT, make_source
from .optimizer import (ADAM_DEFAULTS, SGD_DEFAULTS, SGD, Adam, Optimizer, RAdam)


def _wrap_generator(attr_name, generator):
    """Thinc's name for a generator-driven schedule: item ``s`` at step ``s``."""
    source = make_source(attr_name, generator)
    if not isinstance(source, FromIterator):
        raise HyperparameterError(f"Invalid schedule for '{attr_name}' ({type(generator)})")
    return source


__all__ = ["Adam", "RAdam", "SGD", "Optimizer", "ADAM_DEFAULTS", "SGD_DEFAULTS", "KeyT",
           "Hyperparameter", "HyperparameterError"]
