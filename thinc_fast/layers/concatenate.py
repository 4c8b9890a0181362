"""concatenate: run layers on the same input and join their outputs column-wise."""

from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import Padded, Ragged
from ..util import get_width
from ._util import check_grad, check_input2f, input_width
from .clone import noop


@builtin("layers", "concatenate.v1")
def concatenate(*layers: Model) -> Model:
    """``Y = hstack([layer(X) for layer in layers])``; ``dX`` sums the layers' ``dX``.
    X may be an array, a Ragged, a Padded or a list; the layers' outputs are
    2d arrays, lists of 2d arrays or Ragged (all of one kind).

    As in Thinc: no layers gives ``noop()``, one layer gives that layer, and
    when the first layer is itself a concatenation the others are appended to
    it (so ``a | b | c`` is one concatenation of three layers).
    """
    for i, layer in enumerate(layers):
        if not isinstance(layer, Model):
            raise TypeError(f"concatenate: argument {i} is a {type(layer).__name__}, not a Model")
    if not layers:
        return noop()
    if len(layers) == 1:
        return layers[0]
    if layers[0]._func is forward:
        first = layers[0]
        first.layers.extend(layers[1:])
        if first.has_dim("nO") is not False:
            first.set_dim("nO", _total_width(first.layers), force=True)
        return first
    dims: Dict[str, Optional[int]] = {"nO": _total_width(layers)}
    if all(layer.has_dim("nI") is not False for layer in layers):
        dims["nI"] = layers[0].maybe_get_dim("nI")
    return Model("|".join(layer.name for layer in layers), forward, init=init,
                 dims=dims, layers=list(layers))


def _total_width(layers: List[Model]) -> Optional[int]:
    widths = [layer.maybe_get_dim("nO") for layer in layers]
    return None if any(w is None for w in widths) else sum(widths)


def init(model: Model, X: Any = None, Y: Any = None) -> None:
    """Every layer sees the sample input `X` (and its width as ``nI``) and the
    sample output `Y` (a layer whose ``nO`` is set ignores it)."""
    takers = [node for node in [model, *model.layers] if node.has_dim("nI") is not False]
    if X is not None and takers:
        width = _input_width(model, X)
        for node in takers:
            node.set_dim("nI", width)
    for layer in model.layers:
        layer.initialize(X=X, Y=Y)
    if model.has_dim("nI") is None and model.layers[0].has_dim("nI"):
        model.set_dim("nI", model.layers[0].get_dim("nI"))
    total = _total_width(model.layers)
    if total is not None and model.has_dim("nO") is not False:
        model.set_dim("nO", total, force=True)


def _input_width(model: Model, X: Any) -> int:
    """The width of sample input `X`: a 2d array's columns (as ``input_width``),
    or Thinc's ``get_width`` of a Ragged, Padded or list."""
    if isinstance(X, (Ragged, Padded, list, tuple)):
        return get_width(X)
    return input_width(model, X)


def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    """The layers' outputs joined column-wise, in the kind they return: 2d
    arrays are stacked, lists of arrays item by item (each item's rows kept),
    Ragged outputs by their data (the first one's lengths)."""
    if getattr(X, "ndim", None) == 2 and X.dtype.kind == "f":
        X = check_input2f(model, X, dim=None)  # float32 once, for every layer
    outputs = [layer(X, is_train) for layer in model.layers]
    first = outputs[0][0]
    if isinstance(first, Ragged):
        return _ragged_forward(model, outputs)
    if isinstance(first, list):
        return _list_forward(model, outputs)
    return _array_forward(model, outputs)


def _array_forward(model: Model, outputs: List[Tuple[Any, Callable]]) -> Tuple[Any, Callable]:
    Ys = [_as_array(model, Y_i, i) for i, (Y_i, _) in enumerate(outputs)]
    widths = [Y_i.shape[1] for Y_i in Ys]
    Y = model.ops.xp.hstack(Ys)

    def backprop(dY: Any) -> Any:
        dY = check_grad(model, dY, Y.shape)
        return _sum_grads(back(model.ops.as_contig(part))
                          for (_, back), part in zip(outputs, _split(dY, widths)))

    return Y, backprop


def _ragged_forward(model: Model, outputs: List[Tuple[Any, Callable]]) -> Tuple[Any, Callable]:
    Yrs = [_as_kind(model, Y_i, i, Ragged) for i, (Y_i, _) in enumerate(outputs)]
    lengths = Yrs[0].lengths
    for i, Yr in enumerate(Yrs[1:], 1):
        if Yr.data.shape[0] != Yrs[0].data.shape[0]:
            raise ValueError(f"concatenate {model.name!r}: layer {i} returns "
                             f"{Yr.data.shape[0]} rows, layer 0 {Yrs[0].data.shape[0]}")
    widths = [Yr.data.shape[1] for Yr in Yrs]
    Y = Ragged(model.ops.xp.hstack([Yr.data for Yr in Yrs]), lengths)

    def backprop(dYr: Ragged) -> Any:
        dY = check_grad(model, _as_kind(model, dYr, -1, Ragged).data, Y.data.shape)
        return _sum_grads(back(Ragged(model.ops.as_contig(part), dYr.lengths))
                          for (_, back), part in zip(outputs, _split(dY, widths)))

    return Y, backprop


def _list_forward(model: Model, outputs: List[Tuple[Any, Callable]]) -> Tuple[Any, Callable]:
    lists = [_as_kind(model, Y_i, i, list) for i, (Y_i, _) in enumerate(outputs)]
    lengths = [len(item) for item in lists[0]]
    for i, Ys in enumerate(lists[1:], 1):
        if [len(item) for item in Ys] != lengths:
            raise ValueError(f"concatenate {model.name!r}: layer {i} returns items of lengths "
                             f"{[len(item) for item in Ys]}, layer 0 {lengths}")
    widths = [Ys[0].shape[1] if Ys else 0 for Ys in lists]
    xp = model.ops.xp
    Y = [xp.hstack(items) for items in zip(*lists)]

    def backprop(dYs: Any) -> Any:
        dYs = _as_kind(model, dYs, -1, list)
        if [len(dY) for dY in dYs] != lengths:
            raise ValueError(f"backprop of model {model.name!r}: gradients of lengths "
                             f"{[len(dY) for dY in dYs]} for outputs of lengths {lengths}")
        parts = [_split(dY, widths) for dY in dYs]
        return _sum_grads(back([model.ops.as_contig(p[k]) for p in parts])
                          for k, (_, back) in enumerate(outputs))

    return Y, backprop


def _split(dY: Any, widths: List[int]) -> List[Any]:
    starts = [sum(widths[:k]) for k in range(len(widths))]
    return [dY[:, a:a + w] for a, w in zip(starts, widths)]


def _as_array(model: Model, Y: Any, i: int) -> Any:
    if getattr(Y, "ndim", None) != 2:
        raise ValueError(f"concatenate {model.name!r}: layer {i} returns "
                         f"{type(Y).__name__} of shape {getattr(Y, 'shape', None)}; the "
                         "outputs must all be 2d arrays, all lists or all Ragged")
    return Y


def _as_kind(model: Model, Y: Any, i: int, kind: type) -> Any:
    if not isinstance(Y, kind):
        where = "the gradient" if i < 0 else f"layer {i}'s output"
        raise TypeError(f"concatenate {model.name!r}: {where} is a {type(Y).__name__}, "
                        f"expected a {kind.__name__} like layer 0's output")
    return Y


def _sum_grads(grads: Iterable[Any]) -> Any:
    """The sum of the layers' input gradients, in the input's kind (arrays,
    Ragged, Padded, lists or tuples item by item)."""
    total = None
    for grad in grads:
        total = grad if total is None else _add(total, grad)
    return total


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, Ragged):
        return Ragged(a.dataXd + b.dataXd, a.lengths)
    if isinstance(a, Padded):
        return Padded(a.data + b.data, a.size_at_t, a.lengths, a.indices)
    if isinstance(a, (list, tuple)):
        return type(a)(_add(x, y) for x, y in zip(a, b))
    return a + b
