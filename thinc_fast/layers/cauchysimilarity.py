"""CauchySimilarity: a learned similarity of two batches of vectors (Chen 2013),
for siamese networks."""
from typing import Callable, Optional, Tuple

from .._builtins import builtin
from ..model import Model
from ..util import get_width


@builtin("layers", "CauchySimilarity.v1")
def CauchySimilarity(nI: Optional[int] = None) -> Model:
    """Score rows of ``(X1, X2)``, two ``(n, nI)`` arrays, by

        s_i = 1 / (1 + sum_j W_j (X1_ij - X2_ij)^2)

    a number in (0, 1], 1 for equal rows. ``W`` (``nI`` weights) starts at 1
    and is learned. The output has shape ``(n,)``; the backprop gives the pair
    of input gradients ``(dX1, dX2)`` with ``dX2 = -dX1``."""
    return Model("cauchy_similarity", _forward, init=_init, dims={"nI": nI, "nO": 1},
                 params={"W": None})


def _forward(model: Model, X1_X2: tuple, is_train: bool) -> Tuple[object, Callable]:
    X1, X2 = X1_X2
    W = model.get_param("W")
    diff = X1 - X2
    sq = diff * diff
    total = (sq * W).sum(axis=1)
    sim = 1.0 / (1.0 + total)

    def backprop(d_sim: object) -> tuple:
        # d s / d total = -s^2; d total / d W_j = sq_ij; d total / d X1_ij = 2 W_j diff_ij
        d_total = model.ops.reshape2f(-d_sim * sim * sim, -1, 1)
        model.inc_grad("W", (d_total * sq).sum(axis=0))
        dX1 = 2.0 * d_total * W * diff
        return dX1, -dX1

    return sim, backprop


def _init(model: Model, X: Optional[tuple] = None, Y: Optional[object] = None) -> None:
    if X is not None:
        model.set_dim("nI", get_width(X[0]))
    W = model.ops.alloc1f(model.get_dim("nI"))
    W += 1.0
    model.set_param("W", W)
