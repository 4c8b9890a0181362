"""LSTM: Thinc's fused (bidirectional, stacked) LSTM over a Padded batch."""

import functools
from typing import Any, Callable, Optional, Tuple

import numpy

from .._builtins import builtin
from ..initializers import glorot_uniform_init, zero_init
from ..model import Model
from ..types import Floats2d, Padded
from ..util import get_width
from .clone import noop
from .pytorchlstm import torch_lstm
from .with_padded import with_padded

InitFn = Callable[..., Any]


@builtin("layers", "LSTM.v1")
def LSTM(nO: Optional[int] = None, nI: Optional[int] = None, *, bi: bool = False,
         depth: int = 1, dropout: float = 0.0, init_W: Optional[InitFn] = None,
         init_b: Optional[InitFn] = None) -> Model:
    """A `depth`-layer LSTM (both directions with `bi`, their outputs side by
    side: nO = dirs * nH) over a Padded batch, returning a Padded; wrap it in
    ``with_padded`` to feed it lists of arrays or a Ragged.

    The weights are one flat parameter ``LSTM`` in Thinc's layout (per layer
    and direction: four (nH, layer_nI) input weights, four input biases, four
    (nH, nH) hidden weights, four hidden biases; gates forget, input, output,
    cell), drawn with `init_W` (default ``glorot_uniform_init``) and `init_b`
    (default ``zero_init``) in that order; ``HC0`` (2, depth, dirs, nH) holds
    the initial states (zeros, not trained). The steps run in the backend's
    ``lstm_forward_training`` / ``backprop_lstm`` kernels. `dropout` is
    applied to the weights, not the activations (one mask per batch, as in
    Thinc, after Gal's variational RNN dropout).
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        if depth == 0:
            raise ValueError("LSTM depth must be at least 1. Maybe we should make this a noop?")
        raise ValueError(f"LSTM depth must be an int >= 1, got {depth!r}")
    _check_rate(dropout)
    init_W = glorot_uniform_init if init_W is None else init_W
    init_b = zero_init if init_b is None else init_b
    return Model("lstm", forward, init=_make_init(init_W, init_b),
                 dims={"nO": nO, "nI": nI, "depth": depth, "dirs": 1 + int(bool(bi))},
                 attrs={"registry_name": "LSTM.v1", "dropout_rate": dropout},
                 params={"LSTM": None, "HC0": None})


@builtin("layers", "PyTorchLSTM.v1")
def PyTorchLSTM(nO: int, nI: int, *, bi: bool = False, depth: int = 1,
                dropout: float = 0.0) -> Model:
    """Thinc's ``PyTorchLSTM.v1``: ``torch.nn.LSTM(nI, nH, depth,
    bidirectional=bi, dropout=dropout)`` (nH = nO // 2 with `bi`) run on
    the padded data of a batch, wrapped in ``with_padded``; depth 0 gives
    ``noop()``. Needs PyTorch (see :mod:`thinc_fast.layers.pytorchlstm`)."""
    if depth == 0:
        return noop()
    return with_padded(torch_lstm(nO, nI, bi=bi, depth=depth, dropout=dropout))


def _check_rate(rate: Any) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"LSTM dropout must be a number in [0, 1], got {rate!r}")
    return float(rate)


def _make_init(init_W: InitFn, init_b: InitFn) -> Callable[..., None]:
    return functools.partial(_init, init_W, init_b)


def _init(init_W: InitFn, init_b: InitFn, model: Model, X: Optional[Padded] = None,
          Y: Optional[Padded] = None) -> None:
    if X is not None:
        model.set_dim("nI", get_width(X))
    if Y is not None and model.has_dim("nO") is None:
        model.set_dim("nO", get_width(Y))
    nO, nI = model.get_dim("nO"), model.get_dim("nI")
    depth, dirs = model.get_dim("depth"), model.get_dim("dirs")
    if nO % dirs:
        raise ValueError(f"Model {model.name!r}: nO={nO} must be divisible by the "
                         f"{dirs} directions")
    nH = nO // dirs
    parts = []
    layer_nI = nI
    for _ in range(depth):
        for _ in range(dirs):
            parts.extend(init_W(model.ops, (nH, layer_nI)) for _ in range(4))
            parts.extend(init_b(model.ops, (nH,)) for _ in range(4))
            parts.extend(init_W(model.ops, (nH, nH)) for _ in range(4))
            parts.extend(init_b(model.ops, (nH,)) for _ in range(4))
        layer_nI = nH * dirs
    model.set_param("LSTM", model.ops.xp.concatenate([p.ravel() for p in parts]))
    model.set_param("HC0", zero_init(model.ops, (2, depth, dirs, nH)))


def forward(model: Model, Xp: Padded, is_train: bool) -> Tuple[Padded, Callable]:
    if not isinstance(Xp, Padded):
        raise TypeError(f"Model {model.name!r} expects a Padded batch (wrap it in "
                        f"with_padded to pass lists or a Ragged), got {type(Xp).__name__}")
    ops = model.ops
    params = model.get_param("LSTM")
    HC0 = model.get_param("HC0")
    H0, C0 = HC0[0], HC0[1]
    live = _live_mask(model, Xp)
    X = _packed(model, Xp, live)
    size_at_t = ops.asarray1i(Xp.size_at_t)
    rate = _check_rate(model.attrs["dropout_rate"])
    if not is_train:
        Y = ops.lstm_forward_inference(params, H0, C0, X, size_at_t)
        return _padded(ops, Y, Xp, live), _no_backprop(model)
    mask = ops.get_dropout_mask(params.shape, rate) if rate > 0 else None
    if mask is not None:
        params = params * mask
    Y, fwd_state = ops.lstm_forward_training(params, H0, C0, X, size_at_t)

    def backprop(dYp: Padded) -> Padded:
        if not isinstance(dYp, Padded) or dYp.data.shape[:2] != Xp.data.shape[:2]:
            raise ValueError(f"backprop of model {model.name!r} expects a Padded of the "
                             f"output's steps and batch {Xp.data.shape[:2]}, got "
                             f"{getattr(getattr(dYp, 'data', None), 'shape', type(dYp))}")
        dY = ops.as_contig(dYp.data[live], dtype="float32")
        dX, d_params = ops.backprop_lstm(dY, size_at_t, params, fwd_state)
        if mask is not None:
            d_params *= mask
        model.inc_grad("LSTM", d_params)
        return _padded(ops, dX, dYp, live)

    return _padded(ops, Y, Xp, live), backprop


def _live_mask(model: Model, Xp: Padded) -> Any:
    """(steps, batch) bool: True where ``t < size_at_t[t]``'s batch prefix."""
    xp = model.ops.xp
    sizes = model.ops.asarray(Xp.size_at_t)
    data = Xp.data
    if data.ndim != 3 or sizes.shape != (data.shape[0],):
        raise ValueError(f"Model {model.name!r} expects Padded data (steps, batch, width) "
                         f"with one size_at_t per step, got data {data.shape} and size_at_t "
                         f"{sizes.shape}")
    lengths = numpy.asarray(model.ops.to_numpy(Xp.lengths))
    if int(lengths.sum()) != int(sizes.sum()):
        raise ValueError(f"Model {model.name!r}: the Padded's lengths add up to "
                         f"{int(lengths.sum())}, its size_at_t to {int(sizes.sum())}")
    return xp.arange(data.shape[1])[None, :] < sizes[:, None]


def _packed(model: Model, Xp: Padded, live: Any) -> Floats2d:
    """The live rows of `Xp`, time-major: step 0's sequences, then step 1's, ..."""
    return model.ops.as_contig(Xp.data[live], dtype="float32")


def _padded(ops: Any, rows: Floats2d, like: Padded, live: Any) -> Padded:
    out = ops.alloc3f(like.data.shape[0], like.data.shape[1], rows.shape[1])
    out[live] = rows
    return Padded(out, like.size_at_t, like.lengths, like.indices)


def _no_backprop(model: Model) -> Callable[[Padded], Padded]:
    def backprop(dYp: Padded) -> Padded:
        raise ValueError(f"backprop of model {model.name!r}: the forward pass ran with "
                         "is_train=False and kept no state; call it with is_train=True")

    return backprop
