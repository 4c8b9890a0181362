"""Embed: one learned row of a table per integer id."""

import functools
from typing import Any, Callable, Dict, Optional, Tuple

from .._builtins import builtin
from ..initializers import uniform_init
from ..model import Model
from ..types import Floats2d, Ints1d
from ..util import get_width
from .array_getitem import ints_getitem
from .chain import chain

InitFn = Callable[..., Any]


@builtin("layers", "Embed.v1")
def Embed(nO: Optional[int] = None, nV: Optional[int] = None, *,
          column: Optional[int] = None, initializer: Optional[InitFn] = None,
          dropout: Optional[float] = None) -> Model:
    """``Y[i] = E[ids[i]]`` with the table E of shape (nV, nO), drawn by
    `initializer` (default ``uniform_init``, in [-0.1, 0.1)). With `column`,
    the input is a 2d int array and its column `column` holds the ids (the
    layer is ``chain(ints_getitem((slice(0, None), column)), embed)``, as in
    Thinc). `dropout` zeroes whole output columns while training. The gradient
    of the ids is a zero int array; the table's gradient is accumulated with
    one scatter-add."""
    attrs: Dict[str, Any] = {}
    if dropout is not None:
        attrs["dropout_rate"] = dropout
    model = Model("embed", forward, init=make_table_init(initializer), attrs=attrs,
                  dims={"nO": nO, "nV": nV}, params={"E": None})
    model = with_column(model, column)
    model.attrs["column"] = column
    return model


def forward(model: Model, ids: Ints1d, is_train: bool) -> Tuple[Floats2d, Callable]:
    E = model.get_param("E")
    ids = check_ids(model, ids, E.shape[0])
    ops = model.ops
    Y = ops.xp.take(E, ids, axis=0)
    mask = output_mask(model, E.shape[1], is_train)
    if mask is not None:
        Y *= mask
    n = ids.shape[0]

    def backprop(dY: Floats2d) -> Ints1d:
        dY = check_table_grad(model, dY, (n, E.shape[1]))
        if mask is not None:
            dY = dY * mask
        ops.scatter_add(model.get_grad_buffer("E"), ids, dY)
        return ops.alloc1i(n)

    return Y, backprop


def make_table_init(initializer: Optional[InitFn]) -> Callable[..., None]:
    """An init function drawing the table E (nV, nO); ``nO`` is taken from
    the sample output `Y` while it is unset."""
    return functools.partial(_table_init, uniform_init if initializer is None else initializer)


def _table_init(initializer: InitFn, model: Model, X: Any = None, Y: Any = None) -> None:
    if Y is not None and model.has_dim("nO") is None:
        model.set_dim("nO", get_width(Y))
    model.set_param("E", initializer(model.ops, (model.get_dim("nV"), model.get_dim("nO"))))


def with_column(model: Model, column: Optional[int]) -> Model:
    """`model` reading its ids from column `column` of a 2d input (as Thinc:
    ``X[:, column]``); `model` itself when `column` is None."""
    if column is None:
        return model
    if isinstance(column, bool) or not isinstance(column, int):
        raise TypeError(f"Model {model.name!r}: column must be an int or None, got "
                        f"{type(column).__name__}")
    return chain(ints_getitem((slice(0, None), column)), model)


def check_ids(model: Model, ids: Any, n_rows: Optional[int] = None) -> Any:
    """`ids` as a 1d integer array (an empty array of any shape gives no
    ids); with `n_rows`, IndexError for an id outside ``[0, n_rows)`` (the
    table's rows)."""
    shape = getattr(ids, "shape", None)
    dtype = getattr(ids, "dtype", None)
    if shape is None or dtype is None:
        raise TypeError(f"Model {model.name!r} expects a 1d array of integer ids, got "
                        f"{type(ids).__name__}")
    if len(shape) != 1 and 0 in shape:
        return ids.reshape((0,))  # an empty batch (e.g. an empty column selection)
    if len(shape) != 1:
        raise ValueError(f"Model {model.name!r} expects a 1d array of integer ids, got shape "
                         f"{tuple(shape)}" + (" (pass column= to read one column of a 2d array)"
                                              if len(shape) == 2 else ""))
    if dtype.kind not in "iu":
        raise TypeError(f"Model {model.name!r} expects integer ids, got dtype {dtype}")
    if n_rows is not None and shape[0]:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= n_rows:
            raise IndexError(f"Model {model.name!r}: id {lo if lo < 0 else hi} is out of range "
                             f"for a table of nV={n_rows} rows")
    return ids


def check_table_grad(model: Model, dY: Any, shape: Tuple[int, int]) -> Any:
    """`dY` as a float array of `shape` in the table's dtype."""
    got = getattr(dY, "shape", None)
    if got is None or tuple(got) != tuple(shape):
        raise ValueError(f"backprop of model {model.name!r}: gradient has shape "
                         f"{None if got is None else tuple(got)}, but the output had shape "
                         f"{tuple(shape)}")
    if dY.dtype.kind != "f":
        raise TypeError(f"backprop of model {model.name!r} expects a float gradient, got dtype "
                        f"{dY.dtype}")
    return dY if dY.dtype == "float32" else dY.astype("float32")


def output_mask(model: Model, width: int, is_train: bool) -> Optional[Any]:
    """Thinc's embedding dropout: one mask over the output columns while
    training with a ``dropout_rate`` above 0, None otherwise (no draw)."""
    rate = model.attrs.get("dropout_rate")
    if not is_train or rate is None or rate <= 0:
        return None
    return model.ops.get_dropout_mask((width,), rate)

