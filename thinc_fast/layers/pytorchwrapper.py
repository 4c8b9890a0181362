"""PyTorchWrapper: a PyTorch module as a thinc_fast layer.

The layer is a Model named ``"pytorch"`` holding one
:class:`~thinc_fast.shims.PyTorchShim`, two conversion functions in its
attrs and the dims ``nI``/``nO`` (unset). Its forward pass is::

    Xtorch, get_dX = convert_inputs(model, X, is_train)       # ArgsKwargs of tensors
    Ytorch, torch_backprop = model.shims[0](Xtorch, is_train)
    Y, get_dYtorch = convert_outputs(model, (X, Ytorch), is_train)

and its backprop ``get_dX(torch_backprop(get_dYtorch(dY)))``. The shim takes
``ArgsKwargs`` both ways: the forward one is spread into the module's call,
the backward one into ``torch.autograd.backward``. The default converters
turn every NumPy/CuPy array found in `X` (walking lists, tuples, dicts and
ArgsKwargs) into a tensor on the module's device and back:

* an ``ArgsKwargs`` is passed as it is, and its gradient is an ArgsKwargs;
* a dict becomes keyword arguments; its gradient is a dict;
* a list or tuple becomes positional arguments; its gradient is a tuple;
* anything else is the single positional argument; its gradient is one array.

The module must return a tensor or a (nested) tuple of tensors; the output is
the same structure with arrays, and the output gradient ``dY`` must match it.
The module's parameters are trained by the thinc_fast optimizer passed to
``model.finish_update`` (see the shim). No PyTorch optimizer is needed.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

from .._builtins import builtin
from ..model import Model
from ..shims import PyTorchGradScaler, PyTorchShim
from ..types import ArgsKwargs, Padded
from ..util import convert_recursive, is_torch_array, is_xp_array, partial, torch2xp, xp2torch

ConvertT = Optional[Callable[..., Any]]


@builtin("layers", "PyTorchRNNWrapper.v1")
def PyTorchRNNWrapper(pytorch_model: Any, convert_inputs: ConvertT = None,
                      convert_outputs: ConvertT = None) -> Model[Padded, Padded]:
    """Wrap a PyTorch RNN (such as ``torch.nn.LSTM``) as a Padded -> Padded
    layer: the module is called as ``module(Xp.data, None)`` (steps, batch,
    features; no initial state) and the first element of its output tuple is
    the output data. The converters default to :func:`convert_rnn_inputs`
    and :func:`convert_rnn_outputs`."""
    return PyTorchWrapper(pytorch_model,
                          convert_inputs=convert_rnn_inputs if convert_inputs is None
                          else convert_inputs,
                          convert_outputs=convert_rnn_outputs if convert_outputs is None
                          else convert_outputs)


@builtin("layers", "PyTorchWrapper.v1")
def PyTorchWrapper(pytorch_model: Any, convert_inputs: ConvertT = None,
                   convert_outputs: ConvertT = None) -> Model[Any, Any]:
    """Wrap `pytorch_model` (a ``torch.nn.Module``) as a layer (see the module
    docstring). `convert_inputs(model, X, is_train) -> (ArgsKwargs, get_dX)`
    and `convert_outputs(model, (X, Ytorch), is_train) -> (Y, get_dYtorch)`
    default to :func:`convert_pytorch_default_inputs` and
    :func:`convert_pytorch_default_outputs`; ``get_dYtorch(dY)`` must return
    the ArgsKwargs for ``torch.autograd.backward``."""
    return _wrapper(PyTorchShim(pytorch_model), convert_inputs, convert_outputs)


@builtin("layers", "PyTorchWrapper.v2")
def PyTorchWrapper_v2(pytorch_model: Any, convert_inputs: ConvertT = None,
                      convert_outputs: ConvertT = None, mixed_precision: bool = False,
                      grad_scaler: Optional[PyTorchGradScaler] = None,
                      device: Any = None) -> Model[Any, Any]:
    """:func:`PyTorchWrapper` with mixed precision (CUDA autocast in the
    forward pass, gradients scaled by `grad_scaler`; None: a default scaler,
    enabled with `mixed_precision`) and the ``torch.device`` to run on
    (None: the one that goes with the current backend)."""
    shim = PyTorchShim(pytorch_model, mixed_precision=mixed_precision,
                       grad_scaler=grad_scaler, device=device)
    return _wrapper(shim, convert_inputs, convert_outputs)


@builtin("layers", "PyTorchWrapper.v3")
def PyTorchWrapper_v3(pytorch_model: Any, convert_inputs: ConvertT = None,
                      convert_outputs: ConvertT = None, mixed_precision: bool = False,
                      grad_scaler: Optional[PyTorchGradScaler] = None, device: Any = None,
                      serialize_model: Optional[Callable[[Any], bytes]] = None,
                      deserialize_model: Optional[Callable[[Any, bytes, Any], Any]] = None,
                      ) -> Model[Any, Any]:
    """:func:`PyTorchWrapper_v2` with custom serialization of the module:
    `serialize_model(module) -> bytes` and `deserialize_model(module, data,
    device) -> module` (None: the state dict, saved with ``torch.save``)."""
    shim = PyTorchShim(pytorch_model, mixed_precision=mixed_precision,
                       grad_scaler=grad_scaler, device=device,
                       serialize_model=serialize_model, deserialize_model=deserialize_model)
    return _wrapper(shim, convert_inputs, convert_outputs)


def _wrapper(shim: PyTorchShim, convert_inputs: ConvertT, convert_outputs: ConvertT,
             name: str = "pytorch") -> Model[Any, Any]:
    if convert_inputs is None:
        convert_inputs = convert_pytorch_default_inputs
    if convert_outputs is None:
        convert_outputs = convert_pytorch_default_outputs
    return Model(name, forward,
                 attrs={"convert_inputs": convert_inputs, "convert_outputs": convert_outputs},
                 shims=[shim], dims={"nI": None, "nO": None})


def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable[[Any], Any]]:
    """Convert `X`, run the shim, convert its output; backprop runs the three
    backward callbacks in reverse order."""
    Xtorch, get_dX = model.attrs["convert_inputs"](model, X, is_train)
    Ytorch, torch_backprop = model.shims[0](Xtorch, is_train)
    Y, get_dYtorch = model.attrs["convert_outputs"](model, (X, Ytorch), is_train)

    def backprop(dY: Any) -> Any:
        return get_dX(torch_backprop(get_dYtorch(dY)))

    return Y, backprop


# ------------------------------------------------------ default converters
def convert_pytorch_default_inputs(model: Model, X: Any, is_train: bool
                                   ) -> Tuple[ArgsKwargs, Callable[[ArgsKwargs], Any]]:
    """Every array in `X` as a tensor on the shim's device (requiring a
    gradient when training), arranged as ArgsKwargs (see the module
    docstring); the callback turns the ArgsKwargs of input gradients back
    into `X`'s shape: ArgsKwargs, dict (kwargs), tuple (args) or one array."""
    device = model.shims[0].device

    def to_tensor(array: Any) -> Any:
        return xp2torch(array, requires_grad=is_train, device=device)

    def to_arrays(dXtorch: Any) -> Any:
        return convert_recursive(is_torch_array, torch2xp, dXtorch)

    converted = convert_recursive(is_xp_array, to_tensor, X)
    if isinstance(converted, ArgsKwargs):
        return converted, to_arrays
    if isinstance(converted, dict):
        return ArgsKwargs(args=(), kwargs=converted), lambda d: to_arrays(d).kwargs
    if isinstance(converted, (list, tuple)):
        return ArgsKwargs(args=tuple(converted), kwargs={}), lambda d: to_arrays(d).args
    return ArgsKwargs(args=(converted,), kwargs={}), lambda d: to_arrays(d).args[0]


def convert_pytorch_default_outputs(model: Model, X_Ytorch: Tuple[Any, Any], is_train: bool
                                    ) -> Tuple[Any, Callable[[Any], ArgsKwargs]]:
    """Every tensor of the module's output as an array; the callback turns the
    output gradient into ``ArgsKwargs(args=((Ytorch,),), kwargs={"grad_tensors":
    dYtorch})`` for ``torch.autograd.backward``."""
    device = model.shims[0].device
    _, Ytorch = X_Ytorch
    Y = convert_recursive(is_torch_array, torch2xp, Ytorch)

    def get_dYtorch(dY: Any) -> ArgsKwargs:
        dYtorch = convert_recursive(is_xp_array, partial(xp2torch, device=device), dY)
        return ArgsKwargs(args=((Ytorch,),), kwargs={"grad_tensors": dYtorch})

    return Y, get_dYtorch


# -------------------------------------------------------- RNN converters
def convert_rnn_inputs(model: Model, Xp: Padded, is_train: bool
                       ) -> Tuple[ArgsKwargs, Callable[[ArgsKwargs], Padded]]:
    """``ArgsKwargs(args=(Xp.data as a tensor requiring a gradient, None))``:
    the module's input and (no) initial state; the callback wraps the data
    gradient in a Padded with `Xp`'s lengths and indices."""
    device = model.shims[0].device
    size_at_t, lengths, indices = Xp.size_at_t, Xp.lengths, Xp.indices

    def get_dXp(d_inputs: ArgsKwargs) -> Padded:
        return Padded(torch2xp(d_inputs.args[0]), size_at_t, lengths, indices)

    inputs = ArgsKwargs(args=(xp2torch(Xp.data, requires_grad=True, device=device), None),
                        kwargs={})
    return inputs, get_dXp


def convert_rnn_outputs(model: Model, inputs_outputs: Tuple[Any, Any], is_train: bool
                        ) -> Tuple[Padded, Callable[[Padded], ArgsKwargs]]:
    """The first element of the module's output (its output sequence) as a
    Padded shaped like the input; the callback gives ``torch.autograd.backward``
    that output and the Padded gradient's data."""
    device = model.shims[0].device
    Xp, (Ytorch, _) = inputs_outputs

    def get_dYtorch(dYp: Padded) -> ArgsKwargs:
        dYtorch = xp2torch(dYp.data, requires_grad=True, device=device)
        return ArgsKwargs(args=(Ytorch,), kwargs={"grad_tensors": dYtorch})

    Yp = Padded(torch2xp(Ytorch), Xp.size_at_t, Xp.lengths, Xp.indices)
    return Yp, get_dYtorch


__all__ = ["PyTorchWrapper", "PyTorchWrapper_v2", "PyTorchWrapper_v3", "PyTorchRNNWrapper",
           "forward", "convert_pytorch_default_inputs", "convert_pytorch_default_outputs",
           "convert_rnn_inputs", "convert_rnn_outputs"]
