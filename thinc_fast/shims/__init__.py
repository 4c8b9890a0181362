"""Shims: other frameworks' models behind Thinc's interface (``Model.shims``).

PyTorch (``PyTorchShim``, ``TorchScriptShim``, ``PyTorchGradScaler``) is
supported; torch is imported only when one of them is used. The TensorFlow
and MXNet names exist for Thinc compatibility and raise, when used, an error
saying what to use instead.
"""
from .mxnet import MXNetShim
from .pytorch import PyTorchShim
from .pytorch_grad_scaler import PyTorchGradScaler
from .shim import Shim
from .tensorflow import TensorFlowShim, keras_model_fns, maybe_handshake_model
from .torchscript import TorchScriptShim

__all__ = ["MXNetShim", "PyTorchShim", "PyTorchGradScaler", "Shim", "TensorFlowShim",
           "TorchScriptShim", "maybe_handshake_model", "keras_model_fns"]
