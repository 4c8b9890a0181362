"""with_cpu: run a layer on the CPU inside a model whose ops are elsewhere."""

from typing import Any, Callable, Tuple

import numpy

from .._builtins import builtin
from ..backends import Ops
from ..model import Model


@builtin("layers", "with_cpu.v1")
def with_cpu(layer: Model, ops: Ops) -> Model:
    """Move `layer` to the CPU; inputs and gradients are copied to the host
    on the way in, outputs to `ops`' device on the way out. (Thinc always
    runs the layer in training mode; this passes ``is_train`` on.)"""
    layer.to_cpu()
    return Model(f"with_cpu({layer.name})", forward, init=init, layers=[layer], ops=ops,
                 dims={name: layer.maybe_get_dim(name) for name in layer.dim_names})


def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    cpu_outputs, backprop_layer = model.layers[0](_to_cpu(X), is_train)

    def backprop(d_outputs: Any) -> Any:
        return backprop_layer(_to_cpu(d_outputs))

    return _to_device(model.ops, cpu_outputs), backprop


def init(model: Model, X: Any = None, Y: Any = None) -> None:
    model.layers[0].initialize(X, Y)


def _to_cpu(X: Any) -> Any:
    if isinstance(X, numpy.ndarray):
        return X
    if isinstance(X, tuple):
        return tuple(_to_cpu(x) for x in X)
    if isinstance(X, list):
        return [_to_cpu(x) for x in X]
    if hasattr(X, "get"):
        return X.get()
    return X


def _to_device(ops: Ops, X: Any) -> Any:
    if isinstance(X, tuple):
        return tuple(_to_device(ops, x) for x in X)
    if isinstance(X, list):
        return [_to_device(ops, x) for x in X]
    return ops.asarray(X)
