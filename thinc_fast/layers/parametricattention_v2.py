"""ParametricAttention_v2: attention weights computed from transformed keys."""

from typing import Callable, Optional, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import Ragged
from ..util import get_width
from ._util import check_ragged_input
from .clone import noop
from .parametricattention import ragged_grad, attend, init_query

KEY_TRANSFORM_REF: str = "key_transform"


@builtin("layers", "ParametricAttention.v2")
def ParametricAttention_v2(*, key_transform: Optional[Model] = None,
                           nO: Optional[int] = None) -> Model:
    """:func:`ParametricAttention` whose attention logits are ``K @ Q`` with
    the keys ``K = key_transform(X)`` (default ``noop()``: K = X). The key
    transform is a child layer (trained with the attention) and is referenced
    as ``KEY_TRANSFORM_REF``; it must map width nO to width nO."""
    if key_transform is None:
        key_transform = noop()
    return Model("para-attn", forward, init=init, params={"Q": None}, dims={"nO": nO},
                 refs={KEY_TRANSFORM_REF: key_transform}, layers=[key_transform])


def forward(model: Model, Xr: Ragged, is_train: bool) -> Tuple[Ragged, Callable]:
    check_ragged_input(model, Xr)
    X = Xr.dataXd
    K, backprop_keys = model.get_ref(KEY_TRANSFORM_REF)(X, is_train)
    Y, backprop_attention = attend(model, X, K, backprop_keys, Xr.lengths)

    def backprop(dYr: Ragged) -> Ragged:
        return Ragged(backprop_attention(ragged_grad(model, dYr, Y.shape)), dYr.lengths)

    return Ragged(Y, Xr.lengths), backprop


def init(model: Model, X: Optional[Ragged] = None, Y: Optional[Ragged] = None) -> None:
    key_transform = model.get_ref(KEY_TRANSFORM_REF)
    width = get_width(X) if X is not None else None
    if width:
        model.set_dim("nO", width)
        if key_transform.has_dim("nO"):
            key_transform.set_dim("nO", width)
    init_query(model)
    key_transform.initialize(X=None if X is None else X.dataXd,
                             Y=None if Y is None else Y.dataXd)
