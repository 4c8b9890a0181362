"""resizable: a container whose one layer can be swapped for a wider copy."""

from typing import Any, Callable, Dict, Optional, Tuple

from .._builtins import builtin
from ..model import Model


@builtin("layers", "resizable.v1")
def resizable(layer: Model, resize_layer: Callable[..., Model]) -> Model:
    """Hold `layer`; :func:`resize_model` replaces it by
    ``resize_layer(layer, new_nO)`` (e.g. :func:`resize_linear_weighted`),
    so an output layer can grow new classes and keep its trained weights."""
    return Model(f"resizable({layer.name})", forward, init=init, layers=[layer],
                 attrs={"resize_layer": resize_layer},
                 dims={name: layer.maybe_get_dim(name) for name in layer.dim_names})


def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    return model.layers[0](X, is_train)


def init(model: Model, X: Any = None, Y: Any = None) -> None:
    model.layers[0].initialize(X, Y)


def resize_model(model: Model, new_nO: int) -> Model:
    """Swap the held layer for ``attrs["resize_layer"](layer, new_nO)``; returns `model`."""
    model.layers[0] = model.attrs["resize_layer"](model.layers[0], new_nO)
    return model


def resize_linear_weighted(layer: Model, new_nO: int, *,
                           fill_defaults: Optional[Dict[str, float]] = None) -> Model:
    """A copy of a leaf layer with params ``W`` (nO, nI) and ``b`` (nO,) and
    ``nO = new_nO``: the old rows are kept, new rows get
    ``fill_defaults[name]`` (default 0). A layer whose ``nO`` is unset gets it
    set; one with the same ``nO``, or with ``nI`` unset, is returned as it is
    (the latter with ``nO`` changed). Shrinking keeps the first `new_nO` rows."""
    if layer.layers or layer.ref_names or layer.shims:
        raise ValueError(f"resize_linear_weighted: {layer.name!r} must be a leaf layer "
                         "(no child layers, references or shims)")
    if layer.has_dim("nO") is None:
        layer.set_dim("nO", new_nO)
        return layer
    if new_nO == layer.get_dim("nO"):
        return layer
    if layer.has_dim("nI") is None:
        layer.set_dim("nO", new_nO, force=True)
        return layer
    dims = {name: layer.maybe_get_dim(name) for name in layer.dim_names}
    dims["nO"] = new_nO
    new_layer = Model(layer.name, layer._func, init=layer.init, dims=dims,
                      params={name: None for name in layer.param_names},
                      attrs=layer.attrs, ops=layer.ops)
    new_layer.initialize()
    for name in layer.param_names:
        if layer.has_param(name):
            filler = (fill_defaults or {}).get(name, 0)
            _resize_parameter(name, layer, new_layer, filler=filler)
    return new_layer


def _resize_parameter(name: str, layer: Model, new_layer: Model, filler: float = 0) -> None:
    larger = new_layer.get_param(name).copy()
    smaller = layer.get_param(name)
    n = min(len(smaller), len(larger))
    larger[:n] = smaller[:n]
    larger[n:] = filler
    new_layer.set_param(name, larger)
