"""PyTorchShim: a ``torch.nn.Module`` behind the Shim interface.

The shim runs the module on ``ArgsKwargs`` (``module(*args, **kwargs)``) and
backpropagates with ``torch.autograd.backward(*args, **kwargs)`` of the
``ArgsKwargs`` its backprop callback receives, so the conversions between
thinc_fast arrays and tensors live in the wrapper layer
(:mod:`thinc_fast.layers.pytorchwrapper`), not here.

Training. The module's own parameters are updated by the thinc_fast optimizer
in ``finish_update``: for every parameter ``p`` (named ``name`` by
``named_parameters()``) with a gradient, ``optimizer((shim.id, name), p, p.grad)``
computes the update on arrays that share memory with the tensors, and the
gradient is zeroed afterwards. Gradients accumulate across backprop calls
until then, as thinc_fast's own gradients do.

Mixed precision. With ``mixed_precision=True`` the forward pass runs under
``torch.autocast("cuda")`` (never the backward pass), and the output gradient
is multiplied by the grad scaler's scale ``s`` before backprop; the parameter
and input gradients are divided by ``s`` afterwards. When one of them is
inf/NaN the input gradients are returned as zeros and the next
``finish_update`` skips the parameter update (but still zeroes the gradients)
and lets the scaler back off.

Serialization. ``to_bytes`` is the msgpack map ``{"config": cfg, "state":
serialize_model(module)}``, the bytes Thinc 9's PyTorchShim writes; by default
``state`` is ``torch.save(module.state_dict())``, so files move between Thinc
and thinc_fast in both directions.
"""
from __future__ import annotations

import contextlib
import itertools
from io import BytesIO
from typing import Any, Callable, Dict, Optional

import msgpack

from .. import compat
from .._thinc_format import count_values
from ..backends import CupyOps, context_pools, get_current_ops
from ..devices import set_gpu_allocator
from ..types import ArgsKwargs
from ..util import (convert_recursive, get_torch_default_device, iterate_recursive, torch2xp,
                    xp2torch)
from .pytorch_grad_scaler import PyTorchGradScaler
from .shim import Shim


class PyTorchShim(Shim):
    """Wraps a PyTorch module (not a Model itself; see :class:`Shim`).

    mixed_precision: run the forward pass under CUDA autocast (float16 for the
        ops PyTorch allows) and scale gradients with `grad_scaler`.
    grad_scaler: the :class:`PyTorchGradScaler`; None: a default one, enabled
        exactly when `mixed_precision` is.
    device: the ``torch.device`` the module is moved to; None: the one that
        goes with the current backend (``get_torch_default_device()``).
    serialize_model: ``f(module) -> bytes``, everything needed to restore the
        module; None: :func:`default_serialize_torch_model`.
    deserialize_model: ``f(module, data, device) -> module``, the restored
        module on `device`; None: :func:`default_deserialize_torch_model`.
    """

    def __init__(self, model: Any, config: Optional[Dict[str, Any]] = None,
                 optimizer: Any = None, mixed_precision: bool = False,
                 grad_scaler: Optional[PyTorchGradScaler] = None, device: Any = None,
                 serialize_model: Optional[Callable[[Any], bytes]] = None,
                 deserialize_model: Optional[Callable[[Any, bytes, Any], Any]] = None) -> None:
        super().__init__(model, config, optimizer)
        if device is None:
            device = get_torch_default_device()
        if model is not None:
            model.to(device)
        if grad_scaler is None:
            grad_scaler = PyTorchGradScaler(mixed_precision)
        grad_scaler.to_(device)
        self._grad_scaler = grad_scaler
        self._mixed_precision = mixed_precision
        self._serialize_model = (default_serialize_torch_model if serialize_model is None
                                 else serialize_model)
        self._deserialize_model = (default_deserialize_torch_model if deserialize_model is None
                                   else deserialize_model)
        if isinstance(get_current_ops(), CupyOps):  # pragma: no cover - needs a GPU
            # share PyTorch's GPU memory pool with CuPy, once per context
            if "pytorch" not in context_pools.get():
                import cupy

                set_gpu_allocator("pytorch")
                cupy.get_default_memory_pool().free_all_blocks()

    def __call__(self, inputs: ArgsKwargs, is_train: bool):
        if is_train:
            return self.begin_update(inputs)
        return self.predict(inputs), lambda dY: ...

    @property
    def device(self) -> Any:
        """The device of the module's first parameter; the default device when
        it has none."""
        first = next(iter(self._model.parameters()), None)
        return get_torch_default_device() if first is None else first.device

    def _autocast(self) -> Any:
        if not self._mixed_precision:
            return contextlib.nullcontext()
        return compat.torch.autocast("cuda", enabled=True)

    def predict(self, inputs: ArgsKwargs) -> Any:
        """``module(*inputs.args, **inputs.kwargs)`` in eval mode without
        autograd; the module is in train mode again afterwards. No conversion."""
        torch = compat.torch
        self._model.eval()
        try:
            with torch.no_grad(), self._autocast():
                return self._model(*inputs.args, **inputs.kwargs)
        finally:
            self._model.train()

    def begin_update(self, inputs: ArgsKwargs):
        """``(outputs, backprop)`` of the module in train mode. ``backprop`` takes
        the ``ArgsKwargs`` for ``torch.autograd.backward`` (its kwargs must hold
        ``grad_tensors``) and returns `inputs` with every tensor replaced by its
        gradient (``.grad``; None for tensors that did not require one)."""
        torch = compat.torch
        self._model.train()
        with self._autocast():  # autocast covers the forward pass only
            outputs = self._model(*inputs.args, **inputs.kwargs)

        def backprop(grads: ArgsKwargs) -> Any:
            # Scaling the output gradient by s scales every gradient below it
            # by s: the local equivalent of scaling the loss.
            scaler = self._grad_scaler
            grads.kwargs["grad_tensors"] = scaler.scale(grads.kwargs["grad_tensors"],
                                                        inplace=True)
            torch.autograd.backward(*grads.args, **grads.kwargs)
            computed = [t.grad for t in itertools.chain(
                self._model.parameters(), iterate_recursive(_has_grad, inputs))
                if t.grad is not None]
            if scaler.unscale(computed):
                return convert_recursive(_has_grad, _zeroed_grad, inputs)
            return convert_recursive(_has_grad, _grad, inputs)

        return outputs, backprop

    def finish_update(self, optimizer: Any) -> None:
        """Update every parameter that has a gradient with `optimizer` (key
        ``(self.id, name)``), unless the last backprop overflowed under mixed
        precision; zero the gradients; let the grad scaler adapt."""
        skip = self._grad_scaler.found_inf
        for name, tensor in self._model.named_parameters():
            if tensor.grad is None:
                continue
            if not skip:
                weights, gradient = torch2xp(tensor.data), torch2xp(tensor.grad)
                if not weights.flags.c_contiguous:
                    weights = weights.copy()
                if not gradient.flags.c_contiguous:
                    gradient = gradient.copy()
                weights, _ = optimizer((self.id, name), weights, gradient)
                tensor.data = xp2torch(weights, requires_grad=True, device=tensor.device)
            tensor.grad.zero_()
        self._grad_scaler.update()

    @contextlib.contextmanager
    def use_params(self, params: Dict[Any, Any]):
        """Within the block, load the entries of `params` whose (string) key is
        ``f"pytorch_{self.id}_{state_dict_name}"`` into the module (strictly:
        they must cover its whole state dict); restore the previous state
        after. Other keys are ignored."""
        prefix = f"pytorch_{self.id}_"
        state = {key[len(prefix):]: xp2torch(value, device=self.device)
                 for key, value in params.items()
                 if isinstance(key, str) and key.startswith(prefix)}
        if not state:
            yield
            return
        backup = {k: v.clone() for k, v in self._model.state_dict().items()}
        self._model.load_state_dict(state)
        try:
            yield
        finally:
            self._model.load_state_dict(backup)

    def to_device(self, device_type: str, device_id: int) -> None:  # pragma: no cover
        """Move the module (and the grad scaler's state) to the CPU or to GPU
        `device_id`."""
        if device_type == "cpu":
            self._model.cpu()
            self._grad_scaler.to_("cpu")
        elif device_type == "gpu":
            self._model.cuda(device_id)
            self._grad_scaler.to_(f"cuda:{device_id}")
        else:
            raise ValueError(f"Invalid device_type: {device_type}. Try 'cpu' or 'gpu'")

    def to_bytes(self) -> bytes:
        """msgpack ``{"config": cfg, "state": serialize_model(module)}``."""
        return msgpack.packb({"config": self.cfg, "state": self._serialize_model(self._model)},
                             use_bin_type=True)

    def from_bytes(self, bytes_data: bytes) -> "PyTorchShim":
        """Restore what ``to_bytes`` wrote (here or in Thinc) onto the default
        device; returns self."""
        device = get_torch_default_device()
        msg = _unpack(bytes_data)
        self.cfg = msg["config"]
        self._model = self._deserialize_model(self._model, msg["state"], device)
        self._grad_scaler.to_(device)
        return self


def _has_grad(obj: Any) -> bool:
    return hasattr(obj, "grad")


def _grad(tensor: Any) -> Any:
    return tensor.grad


def _zeroed_grad(tensor: Any) -> Any:
    return None if tensor.grad is None else tensor.grad.zero_()


# a shim's bytes are a small map ({"config": {...}, "state": bytes}): the values
# are counted from the headers before anything is built (hostile data cannot
# make unpacking cost memory out of proportion to the bytes)
_SHIM_MAX_VALUES = 4096
_SHIM_MAX_DEPTH = 16


def _unpack(data: bytes) -> Dict[str, Any]:
    try:
        count_values(bytes(data), max_values=_SHIM_MAX_VALUES, max_depth=_SHIM_MAX_DEPTH)
    except ValueError as err:  # LimitError (a FormatError) included
        raise ValueError(f"cannot load shim: {err}") from None
    msg = msgpack.unpackb(data, raw=False, strict_map_key=False)
    if not isinstance(msg, dict) or "config" not in msg:
        raise ValueError("cannot load shim: the data is not a msgpack map with a 'config' entry")
    return msg


def default_serialize_torch_model(model: Any) -> bytes:
    """The module's parameters and buffers as bytes: ``torch.save`` of its
    ``state_dict()`` (what Thinc writes)."""
    buffer = BytesIO()
    compat.torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def default_deserialize_torch_model(model: Any, state_bytes: bytes, device: Any) -> Any:
    """Load the state dict in `state_bytes` (``torch.load`` onto `device`) into
    `model`, move `model` to `device` and return it."""
    torch = compat.torch
    state = torch.load(BytesIO(state_bytes), map_location=device)
    model.load_state_dict(state)
    model.to(device)
    return model


__all__ = ["PyTorchShim", "default_serialize_torch_model", "default_deserialize_torch_model"]
