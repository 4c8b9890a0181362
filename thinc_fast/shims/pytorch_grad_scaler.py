"""PyTorchGradScaler: dynamic loss scaling for mixed-precision PyTorch layers.

In float16 small gradients underflow to zero. Multiplying the loss (here: the
output gradient a PyTorch layer receives) by a scale ``s`` multiplies every
gradient of the backward pass by ``s`` (chain rule), lifting them out of the
underflow range; afterwards the gradients are divided by ``s`` again in single
precision before the optimizer sees them. The scale adapts:

* a step whose gradients contain inf/NaN (overflow): ``s <- s * backoff_factor``
  (and the step is skipped by the shim);
* ``growth_interval`` steps in a row without overflow: ``s <- s * growth_factor``
  (only when the product is finite).

A disabled scaler (the default) makes every method a no-op. Scaling is only
supported for CUDA tensors, as in Thinc.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Union

from .. import compat
from ..util import is_torch_array


class PyTorchGradScaler:
    """Gradient scaler used by :class:`~thinc_fast.shims.PyTorchShim`.

    enabled: whether scaling happens at all (False: every method is a no-op).
    init_scale: the initial scale ``s`` (default 2**16).
    backoff_factor: ``s`` is multiplied by this after a step that overflowed.
    growth_factor: ``s`` is multiplied by this after `growth_interval`
        consecutive steps without overflow.
    growth_interval: see `growth_factor`.
    """

    def __init__(self, enabled: bool = False, init_scale: float = 2.0 ** 16,
                 backoff_factor: float = 0.5, growth_factor: float = 2.0,
                 growth_interval: int = 2000) -> None:
        torch = compat.torch
        if torch is None:
            raise ImportError("PyTorchGradScaler needs PyTorch: pip install torch")
        self._enabled = enabled
        self._growth_factor = growth_factor
        self._backoff_factor = backoff_factor
        self._growth_interval = growth_interval
        # one-element tensors, so they can live on the device of the gradients
        self._growth_tracker = torch.full((1,), 0, dtype=torch.int)
        self._scale = torch.full((1,), init_scale)
        self._found_inf = False

    def to_(self, device: Any) -> None:
        """Move the scale and the growth counter to `device` (in place)."""
        self._growth_tracker = self._growth_tracker.to(device)
        self._scale = self._scale.to(device)

    @property
    def found_inf(self) -> bool:
        """Whether an unscale since the last ``update`` met an inf or NaN."""
        return self._found_inf

    def scale(self, tensors: Union["Any", Iterable[Any]],
              inplace: bool = False) -> Union[Any, List[Any]]:
        """`tensors` (a tensor, or an iterable of tensors, which gives a list)
        multiplied by the current scale; in place with `inplace`. Disabled:
        `tensors` itself. ValueError for anything that is not a tensor or an
        iterable of tensors, and for tensors that are not on a CUDA device."""
        if not self._enabled:
            return tensors
        per_device: Dict[Any, Any] = {}  # the scale, copied once to each device
        if is_torch_array(tensors):
            return self._scale_one(tensors, per_device, inplace)
        if isinstance(tensors, Iterable):
            out = []
            for tensor in tensors:
                if not is_torch_array(tensor):
                    raise _bad_input()
                out.append(self._scale_one(tensor, per_device, inplace))
            return out
        raise _bad_input()

    def _scale_one(self, tensor: Any, per_device: Dict[Any, Any], inplace: bool) -> Any:
        if not compat.has_torch_amp:
            raise ValueError("Gradient scaling is not supported here: it needs a capable GPU "
                             "and torch>=1.9.0 (or disable mixed precision).")
        if not tensor.is_cuda:
            raise ValueError("Gradient scaling is only supported for CUDA tensors. To use "
                             "a PyTorch model on another device, disable mixed precision "
                             "(mixed_precision=False).")
        scale = per_device.get(tensor.device)
        if scale is None:
            scale = per_device[tensor.device] = self._scale.to(device=tensor.device)
        return tensor.mul_(scale) if inplace else tensor * scale

    def unscale(self, tensors: Iterable[Any]) -> bool:
        """Divide `tensors` (gradients) in place by the current scale, and
        record whether any of them holds an inf or NaN. Returns whether one was
        found since the last ``update`` (False when disabled)."""
        if not self._enabled:
            return False
        torch = compat.torch
        # 1/s computed in double precision, applied in single
        inv_scale = self._scale.double().reciprocal().float()
        by_device: Dict[Any, List[Any]] = {}
        for tensor in tensors:
            by_device.setdefault(tensor.device, []).append(tensor)
        fused = getattr(torch, "_amp_foreach_non_finite_check_and_unscale_", None)
        for device, group in by_device.items():
            found = torch.zeros((1,), device=device)
            inv = inv_scale.to(device=device)
            if fused is not None:
                fused(group, found, inv)
            else:  # pragma: no cover - every supported torch has the fused op
                _unscale_loop(torch, group, found, inv)
            if bool(found != 0):
                self._found_inf = True
        return self._found_inf

    def update(self) -> None:
        """Adapt the scale after an optimizer step (backoff after an overflow,
        growth after `growth_interval` clean steps) and clear ``found_inf``.
        Call it once per step."""
        if not self._enabled:
            return
        torch = compat.torch
        found = torch.full((1,), 1.0 if self._found_inf else 0.0, device=self._scale.device)
        fused = getattr(torch, "_amp_update_scale_", None)
        if fused is not None:
            fused(self._scale, self._growth_tracker, found, self._growth_factor,
                  self._backoff_factor, self._growth_interval)
        else:  # pragma: no cover - every supported torch has the fused op
            _update_loop(self._scale, self._growth_tracker, bool(found.item()),
                         self._growth_factor, self._backoff_factor, self._growth_interval)
        self._found_inf = False


def _bad_input() -> ValueError:
    return ValueError("Input to gradient scaling must be a Tensor or Iterable[Tensor]")


def _unscale_loop(torch: Any, tensors: List[Any], found: Any, inv_scale: Any) -> None:
    """What the fused unscale does, one tensor at a time: flag non-finite
    values (found <- 1), then multiply every tensor by `inv_scale`."""
    for tensor in tensors:
        if not bool(torch.isfinite(tensor).all()):
            found.fill_(1.0)
        tensor.mul_(inv_scale)


def _update_loop(scale: Any, tracker: Any, overflow: bool, growth: float, backoff: float,
                 interval: int) -> None:
    """What the fused update does: backoff and reset the counter after an
    overflow; else count the step and grow after `interval` clean steps."""
    if overflow:
        scale.mul_(backoff)
        tracker.zero_()
        return
    tracker.add_(1)
    if int(tracker.item()) >= interval:
        grown = scale * growth
        if bool(grown.isfinite().all()):
            scale.copy_(grown)
        tracker.zero_()


__all__ = ["PyTorchGradScaler"]
