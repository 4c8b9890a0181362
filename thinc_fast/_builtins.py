"""Registry names that sit on the functions they name.

``@builtin("layers", "Relu.v1")`` above a layer, optimizer, schedule, loss or
initializer records the name; ``thinc_fast.config`` registers every recorded
name in the matching catalogue of ``registry`` when it is imported. This module
imports nothing of thinc_fast, so any module can use the decorator without an
import cycle, and adding a function to the registry is one line beside it.

    >>> from thinc_fast.layers import Relu
    >>> ("layers", "Relu.v1", Relu) in builtins("layers")
    True
"""
from typing import Callable, List, Optional, Tuple, TypeVar

FuncT = TypeVar("FuncT", bound=Callable)

KINDS = ("layers", "optimizers", "schedules", "initializers", "losses", "datasets", "loaders")
_RECORDED: List[Tuple[str, str, Callable]] = []


def builtin(kind: str, name: str) -> Callable[[FuncT], FuncT]:
    """Record `func` under registry `kind` as `name`; returns `func` unchanged.
    Stack it to give one function several names (e.g. ``.v1`` and ``.v2``)."""
    if kind not in KINDS:
        raise ValueError(f"builtin: unknown registry kind {kind!r}; known: {', '.join(KINDS)}")

    def record(func: FuncT) -> FuncT:
        _RECORDED.append((kind, name, func))
        return func

    return record


def builtins(kind: Optional[str] = None) -> List[Tuple[str, str, Callable]]:
    """Every ``(kind, name, func)`` recorded so far, in definition order."""
    return [entry for entry in _RECORDED if kind is None or entry[0] == kind]


def beyond_thinc(*params: str) -> Callable[[FuncT], FuncT]:
    """Mark keyword arguments of a registered function that Thinc's function
    of the same name lacks (``grad_clip_mode`` of ``Adam.v1``): ``registry.fill``
    leaves them out of a config that did not give them, so that Thinc can read
    the filled config too. Returns the function unchanged."""

    def mark(func: FuncT) -> FuncT:
        func.thinc_fast_only_params = tuple(params)  # type: ignore[attr-defined]
        return func

    return mark
