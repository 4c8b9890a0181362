"""HashEmbed: embeddings of hashed ids, four rows of a small table per id."""

from typing import Any, Callable, Dict, Optional, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import Floats2d, Ints1d
from .embed import InitFn, check_ids, check_table_grad, make_table_init, output_mask, \
    with_column


@builtin("layers", "HashEmbed.v1")
def HashEmbed(nO: int, nV: int, *, seed: Optional[int] = None, column: Optional[int] = None,
              initializer: Optional[InitFn] = None, dropout: Optional[float] = None) -> Model:
    """The hashing trick: each id is hashed with ``ops.hash(ids, seed)``
    (MurmurHash3, Thinc's values) into four 32-bit keys, each taken modulo
    nV, and its vector is the sum of those four rows of the table E (nV, nO).
    Two ids rarely share all four rows, so a small table serves many ids.

    `seed` defaults to the model's id, as in Thinc; a table trained by Thinc
    with the same seed gives the same vectors here. `column`, `initializer`
    and `dropout` are as for :func:`Embed`.
    """
    attrs: Dict[str, Any] = {"column": column, "seed": seed}
    if dropout is not None:
        attrs["dropout_rate"] = dropout
    model = Model("hashembed", forward, init=make_table_init(initializer), attrs=attrs,
                  dims={"nO": nO, "nV": nV, "nI": None}, params={"E": None})
    if seed is None:
        model.attrs["seed"] = model.id
    model = with_column(model, column)
    model.attrs["column"] = column
    return model


def forward(model: Model, ids: Ints1d, is_train: bool) -> Tuple[Floats2d, Callable]:
    E = model.get_param("E")
    nV, nO = E.shape
    ids = check_ids(model, ids)
    ops = model.ops
    n = ids.shape[0]
    if n == 0:
        def backprop_empty(dY: Floats2d) -> Ints1d:
            check_table_grad(model, dY, (0, nO))
            return ops.alloc1i(0)

        return ops.alloc2f(0, nO, dtype=E.dtype), backprop_empty
    keys = ops.hash(ids, model.attrs["seed"]) % nV
    Y = ops.gather_add(E, keys)
    mask = output_mask(model, nO, is_train)
    if mask is not None:
        Y *= mask

    def backprop(dY: Floats2d) -> Ints1d:
        dY = check_table_grad(model, dY, (n, nO))
        if mask is not None:
            dY = dY * mask
        # every key of a row receives the row's gradient: one scatter of (n, 1, nO) over (n, 4)
        ops.scatter_add(model.get_grad_buffer("E"), keys, ops.reshape3(dY, n, 1, nO))
        return ops.alloc1i(n)

    return Y, backprop
