"""bidirectional: run one layer forwards in time and another backwards, side by side."""

from typing import Callable, Optional, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import Padded


@builtin("layers", "bidirectional.v1")
def bidirectional(l2r: Model, r2l: Optional[Model] = None) -> Model:
    """``Y = concat(l2r(X), reverse(r2l(reverse(X))))`` on the last axis, for
    a Padded batch: `r2l` (a copy of `l2r` when not given) reads each
    sequence from its last step to its first, and its output is turned back
    so both halves of ``Y[t]`` describe step ``t``.

    Thinc 9.1.1's version does not reverse (``data[::1]``) and splits the
    gradient into the first half twice; this one does what its docstring
    promises, so its outputs differ from Thinc's for the same weights.
    """
    if r2l is None:
        r2l = l2r.copy()
    return Model(f"bi{l2r.name}", forward, init=init, layers=[l2r, r2l])


def forward(model: Model, Xp: Padded, is_train: bool) -> Tuple[Padded, Callable]:
    l2r, r2l = model.layers
    if not isinstance(Xp, Padded):
        raise TypeError(f"Model {model.name!r} expects a Padded, got {type(Xp).__name__}")
    Y_l2r, bp_l2r = l2r(Xp, is_train)
    Y_r2l, bp_r2l = r2l(_reverse(model, Xp), is_train)
    Y_r2l = _reverse(model, Y_r2l)
    half = Y_l2r.data.shape[-1]
    Y = Padded(model.ops.xp.concatenate((Y_l2r.data, Y_r2l.data), axis=-1),
               Xp.size_at_t, Xp.lengths, Xp.indices)

    def backprop(dYp: Padded) -> Padded:
        dY = dYp.data
        d_l2r = Padded(model.ops.as_contig(dY[..., :half]), dYp.size_at_t, dYp.lengths,
                       dYp.indices)
        d_r2l = Padded(model.ops.as_contig(dY[..., half:]), dYp.size_at_t, dYp.lengths,
                       dYp.indices)
        dX_l2r = bp_l2r(d_l2r)
        dX_r2l = _reverse(model, bp_r2l(_reverse(model, d_r2l)))
        return Padded(dX_l2r.data + dX_r2l.data, dYp.size_at_t, dYp.lengths, dYp.indices)

    return Y, backprop


def init(model: Model, X: Optional[Padded] = None, Y: Optional[Padded] = None) -> None:
    l2r, r2l = model.layers
    Y1 = Y2 = None
    if Y is not None:
        half = Y.data.shape[-1] // 2
        Y1 = Padded(Y.data[..., :half], Y.size_at_t, Y.lengths, Y.indices)
        Y2 = Padded(Y.data[..., half:], Y.size_at_t, Y.lengths, Y.indices)
    l2r.initialize(X=X, Y=Y1)
    r2l.initialize(X=None if X is None else _reverse(model, X), Y=Y2)


def _reverse(model: Model, Xp: Padded) -> Padded:
    """Each column's first ``lengths[b]`` steps in reverse order; padding stays put."""
    xp = model.ops.xp
    data = Xp.data
    nS, nB = data.shape[:2]
    lengths = xp.asarray(model.ops.to_numpy(Xp.lengths).astype("int64"))
    steps = xp.arange(nS)[:, None]
    source = lengths[None, :] - 1 - steps  # (nS, nB): where step t of column b comes from
    live = source >= 0
    rows = xp.where(live, source, steps)
    cols = xp.broadcast_to(xp.arange(nB)[None, :], (nS, nB))
    out = data[rows, cols]
    return Padded(out, Xp.size_at_t, Xp.lengths, Xp.indices)
