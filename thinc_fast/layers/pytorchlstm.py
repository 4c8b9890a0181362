"""The Padded -> Padded PyTorch LSTM behind ``PyTorchLSTM.v1``.

Unlike Thinc's (a PyTorchRNNWrapper around the module, see
:mod:`thinc_fast.layers.pytorchwrapper`), this layer uses no PyTorch shim:
the LSTM's weights are ordinary parameters of the model (named as PyTorch
names them, e.g. ``weight_ih_l0``), so they live in the arena and any
thinc_fast optimizer updates them. Each call runs the
``torch.nn.LSTM`` module with those arrays as its weights
(``torch.func.functional_call``, sharing memory), and its backprop copies
PyTorch's gradients into the model's gradients.
"""

from typing import Any, Callable, Dict, List, Tuple

from ..model import Model
from ..types import Padded
from ..util import torch2xp, xp2torch


def torch_lstm(nO: int, nI: int, *, bi: bool = False, depth: int = 1,
               dropout: float = 0.0) -> Model:
    """A model named ``pytorch`` running ``torch.nn.LSTM(nI, nO // dirs, depth,
    bidirectional=bi, dropout=dropout)`` over ``Xp.data`` (steps, batch, nI)
    from zero initial states, padding included (as Thinc's PyTorchRNNWrapper).
    Its weights start as PyTorch draws them (from torch's RNG)."""
    import torch.nn

    nH = nO // 2 if bi else nO
    module = torch.nn.LSTM(nI, nH, depth, bidirectional=bi, dropout=dropout)
    params = {name: torch2xp(p) for name, p in module.named_parameters()}
    names = list(params)

    def forward(model: Model, Xp: Padded, is_train: bool) -> Tuple[Padded, Callable]:
        return _run(module, names, model, Xp, is_train)

    return Model("pytorch", forward, dims={"nO": nO, "nI": nI}, params=params)


def _run(module: Any, names: List[str], model: Model, Xp: Padded,
         is_train: bool) -> Tuple[Padded, Callable]:
    import torch
    from torch.func import functional_call

    if not isinstance(Xp, Padded):
        raise TypeError(f"Model {model.name!r} expects a Padded batch, got {type(Xp).__name__}")
    module.train(is_train)
    if not is_train:
        with torch.no_grad():
            weights = {name: xp2torch(model.get_param(name)) for name in names}
            y, _ = functional_call(module, weights, (xp2torch(Xp.data),))
        return _like(model, Xp, torch2xp(y.clone())), _refuse(model)
    weights: Dict[str, Any] = {name: xp2torch(model.get_param(name), requires_grad=True)
                               for name in names}
    x = xp2torch(model.ops.as_contig(Xp.data, dtype="float32"), requires_grad=True)
    y, _ = functional_call(module, weights, (x,))
    Y = torch2xp(y.detach().clone())

    def backprop(dYp: Padded) -> Padded:
        if not isinstance(dYp, Padded) or tuple(dYp.data.shape) != tuple(Y.shape):
            raise ValueError(f"backprop of model {model.name!r} expects a Padded of shape "
                             f"{tuple(Y.shape)}")
        torch.autograd.backward(y, grad_tensors=xp2torch(
            model.ops.as_contig(dYp.data, dtype="float32")))
        for name, tensor in weights.items():
            model.inc_grad(name, torch2xp(tensor.grad))
        return _like(model, dYp, torch2xp(x.grad).copy())

    return _like(model, Xp, Y), backprop


def _like(model: Model, Xp: Padded, data: Any) -> Padded:
    return Padded(model.ops.asarray(data), Xp.size_at_t, Xp.lengths, Xp.indices)


def _refuse(model: Model) -> Callable[[Padded], Padded]:
    def backprop(dYp: Padded) -> Padded:
        raise ValueError(f"backprop of model {model.name!r}: the forward pass ran with "
                         "is_train=False; call it with is_train=True")

    return backprop
