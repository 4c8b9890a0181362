"""Helpers shared by the layers that hand a wrapped layer its batch in another
form (with_array, with_array2d, with_list, with_padded, with_ragged,
with_flatten)."""

from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy

from ..model import Model
from ..types import Padded, Ragged

Convert = Callable[[Model, Any], Any]
Forward = Callable[[Model, Any, bool], Tuple[Any, Callable]]


def init_inner(model: Model, X: Optional[Any], Y: Optional[Any], convert: Convert) -> None:
    """Initialize the wrapped layer with the samples in its own form."""
    model.layers[0].initialize(X=None if X is None else convert(model, X),
                               Y=None if Y is None else convert(model, Y))


def run_converted(layer: Model, X: Any, is_train: bool, to_inner: Callable[[Any], Any],
                  from_inner: Callable[[Any], Any]) -> Tuple[Any, Callable]:
    """Run `layer` on ``to_inner(X)`` and give back ``from_inner`` of its output;
    the gradient makes the same trip (``from_inner(get_dX(to_inner(dY)))``)."""
    Y, get_dX = layer(to_inner(X), is_train)

    def backprop(dY: Any) -> Any:
        return from_inner(get_dX(to_inner(dY)))

    return from_inner(Y), backprop


# ------------------------------------------------------------ with_flatten (v1, v2)


def flatten_nested(nested: Sequence[Sequence[Any]]) -> Tuple[List[Any], List[int]]:
    """The items of every inner sequence as one list, and the inner lengths."""
    flat: List[Any] = []
    lengths: List[int] = []
    for item in nested:
        flat.extend(item)
        lengths.append(len(item))
    return flat, lengths


def split_flat(flat: Any, lengths: List[int]) -> List[Any]:
    """`flat` (a list or an array) cut into consecutive pieces of `lengths`."""
    nested = []
    start = 0
    for n in lengths:
        nested.append(flat[start:start + n])
        start += n
    return nested


# ----------------------------------------------------- with_array, with_array2d


def array_model(layer: Model, pad: int, forward: Forward, init: Callable[..., None]) -> Model:
    """The model of with_array and with_array2d (Thinc names both
    ``with_array(layer)``): `pad` in its attrs, the layer's dims as its own."""
    return Model(f"with_array({layer.name})", forward, init=init, layers=[layer],
                 attrs={"pad": pad},
                 dims={name: layer.maybe_get_dim(name) for name in layer.dim_names})


def array_forward(model: Model, Xseq: Any, is_train: bool, ragged_forward: Forward,
                  padded_forward: Forward) -> Tuple[Any, Callable]:
    """with_array's dispatch on the input's form: a Ragged or Padded goes to the
    given forward, a list or tuple of arrays to :func:`array_list_forward`, an
    array straight to the layer."""
    if isinstance(Xseq, Ragged):
        return ragged_forward(model, Xseq, is_train)
    if isinstance(Xseq, Padded):
        return padded_forward(model, Xseq, is_train)
    if isinstance(Xseq, (list, tuple)):
        return array_list_forward(model, Xseq, is_train)
    return model.layers[0](Xseq, is_train)


def array_init(model: Model, X: Optional[Any], Y: Optional[Any], get_array: Convert) -> None:
    """Initialize the layer with the samples' arrays and take on its dims."""
    init_inner(model, X, Y, get_array)
    layer = model.layers[0]
    for name in layer.dim_names:
        value = layer.maybe_get_dim(name)
        if value is not None:
            model.set_dim(name, value, force=True)


def array_list_forward(model: Model, Xs: List[Any], is_train: bool
                       ) -> Tuple[List[Any], Callable]:
    """A list of arrays concatenated, with ``attrs["pad"]`` zero rows around
    each, and the layer's output split again."""
    layer = model.layers[0]
    pad = model.attrs["pad"]
    lengths = numpy.asarray([len(seq) for seq in Xs], dtype="int32")
    Yf, get_dXf = layer(layer.ops.flatten(Xs, pad=pad), is_train)

    def backprop(dYs: List[Any]) -> List[Any]:
        dXf = get_dXf(layer.ops.flatten(dYs, pad=pad))
        return layer.ops.unflatten(dXf, lengths, pad=pad)

    return layer.ops.unflatten(Yf, lengths, pad=pad), backprop
