"""TorchScriptShim: a PyTorchShim whose module is a ``torch.jit.ScriptModule``.

Everything but serialization is PyTorchShim's. Its bytes are the msgpack map
``{"config": cfg, "model": torch.jit.save(module)}`` (Thinc's layout), which
holds the code as well as the weights: ``from_bytes`` needs no module to load
into, so the shim may be created with ``model=None`` for loading.
"""
from __future__ import annotations

from io import BytesIO
from typing import Any, Dict, Optional

import msgpack

from .. import compat
from ..util import get_torch_default_device
from .pytorch import PyTorchShim, _unpack
from .pytorch_grad_scaler import PyTorchGradScaler


class TorchScriptShim(PyTorchShim):
    """Wraps a TorchScript module (or None, to load one with ``from_bytes``).

    mixed_precision, grad_scaler, device: as for :class:`PyTorchShim`.
    """

    def __init__(self, model: Any, config: Optional[Dict[str, Any]] = None,
                 optimizer: Any = None, mixed_precision: bool = False,
                 grad_scaler: Optional[PyTorchGradScaler] = None, device: Any = None) -> None:
        if model is not None and not isinstance(model, compat.torch.jit.ScriptModule):
            raise ValueError("PyTorchScriptShim must be initialized with ScriptModule or None "
                             f"(for deserialization), got {type(model).__name__}")
        super().__init__(model, config, optimizer, mixed_precision, grad_scaler, device)

    def to_bytes(self) -> bytes:
        """msgpack ``{"config": cfg, "model": <torch.jit.save bytes>}``."""
        buffer = BytesIO()
        compat.torch.jit.save(self._model, buffer)
        return msgpack.packb({"config": self.cfg, "model": buffer.getvalue()},
                             use_bin_type=True)

    def from_bytes(self, bytes_data: bytes) -> "TorchScriptShim":
        """Load the module in `bytes_data` onto the default device; returns self."""
        torch = compat.torch
        device = get_torch_default_device()
        msg = _unpack(bytes_data)
        self.cfg = msg["config"]
        # TorchScript cannot be loaded straight onto an MPS device: load on the
        # CPU and move it.
        where = torch.device("cpu") if device.type == "mps" else device
        self._model = torch.jit.load(BytesIO(msg["model"]), map_location=where)
        self._model.to(device)
        self._grad_scaler.to_(device)
        return self


__all__ = ["TorchScriptShim"]
