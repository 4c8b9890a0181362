"""TorchScriptWrapper: a TorchScript module as a thinc_fast layer.

The same layer as :func:`~thinc_fast.layers.PyTorchWrapper_v2` (same forward
pass and converters), named ``"pytorch_script"`` and holding a
:class:`~thinc_fast.shims.TorchScriptShim`, whose bytes carry the compiled
module itself: ``TorchScriptWrapper_v1().from_bytes(data)`` restores a model
without the Python class that defined it.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from .. import compat
from .._builtins import builtin
from ..model import Model
from ..shims import PyTorchGradScaler, PyTorchShim, TorchScriptShim
from .pytorchwrapper import _wrapper


@builtin("layers", "TorchScriptWrapper.v1")
def TorchScriptWrapper_v1(torchscript_model: Optional[Any] = None,
                          convert_inputs: Optional[Callable[..., Any]] = None,
                          convert_outputs: Optional[Callable[..., Any]] = None,
                          mixed_precision: bool = False,
                          grad_scaler: Optional[PyTorchGradScaler] = None,
                          device: Any = None) -> Model[Any, Any]:
    """Wrap `torchscript_model` (a ``torch.jit.ScriptModule``, or None to load
    one later with ``from_bytes``). The converters, `mixed_precision`,
    `grad_scaler` and `device` are those of ``PyTorchWrapper_v2``."""
    shim = TorchScriptShim(model=torchscript_model, mixed_precision=mixed_precision,
                           grad_scaler=grad_scaler, device=device)
    return _wrapper(shim, convert_inputs, convert_outputs, name="pytorch_script")


def pytorch_to_torchscript_wrapper(model: Model) -> Model[Any, Any]:
    """A TorchScriptWrapper_v1 layer made from a PyTorchWrapper layer: its
    module compiled with ``torch.jit.script``, the same converters, mixed
    precision setting, grad scaler and device. ValueError when `model`'s shim
    is not a PyTorchShim or does not hold a ``torch.nn.Module``."""
    shim = model.shims[0] if model.shims else None
    if not isinstance(shim, PyTorchShim):
        raise ValueError("Expected PyTorchShim when converting a PyTorch wrapper")
    module = shim._model
    torch = compat.torch
    if not isinstance(module, torch.nn.Module):
        raise ValueError("PyTorchShim does not wrap a PyTorch module")
    return TorchScriptWrapper_v1(torch.jit.script(module),
                                 convert_inputs=model.attrs["convert_inputs"],
                                 convert_outputs=model.attrs["convert_outputs"],
                                 mixed_precision=shim._mixed_precision,
                                 grad_scaler=shim._grad_scaler, device=shim.device)


__all__ = ["TorchScriptWrapper_v1", "pytorch_to_torchscript_wrapper"]
