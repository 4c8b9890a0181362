"""The Ops layer: pick, set and use the array backend.

``get_ops("numpy")`` builds a backend by name; ``use_ops`` switches the current
one for a block; models take the current ops when they are created.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Dict, Iterator, Optional, Type, Union

from . import _blis_arch

_blis_arch.configure()  # must run before blis is first imported (by numpy_ops)

from .cupy_ops import (CupyOps, GPUUnavailableError,  # noqa: E402  (importable without CuPy)
                       gpu_status)
from .numpy_ops import NumpyOps, get_num_threads, set_num_threads  # noqa: E402
from .ops import Ops, SizedGenerator  # noqa: E402
from ._param_server import ParamServer  # noqa: E402



class AppleOps(NumpyOps):
    """Thinc's name for its macOS backend (Apple's Accelerate gemm). thinc_fast
    has no Apple-specific kernels: this is the CPU backend under that name, so
    code that names it runs (on any platform)."""

    name = "apple"


class MPSOps(AppleOps):
    """Thinc's name for the Apple-GPU backend. Arrays stay NumPy arrays here (as
    in Thinc, where PyTorch moves them to the Metal device); thinc_fast runs the
    ops on the CPU, and ``device_type`` stays ``"cpu"`` so PyTorch wrappers do
    not ask for an "mps" device that this machine may lack."""

    name = "mps"


_OPS_BY_NAME: Dict[str, Type[Ops]] = {"numpy": NumpyOps, "cpu": NumpyOps, "base": Ops,
                                      "apple": AppleOps, "mps": MPSOps}
# The ops set in this context (set_current_ops, use_ops), None where none was:
# get_current_ops then gives the default NumpyOps. Thinc 9 names it the same.
context_ops: contextvars.ContextVar[Optional[Ops]] = contextvars.ContextVar("context_ops",
                                                                            default=None)
_default_ops = NumpyOps()
# Thinc's per-context CuPy memory pools, by allocator name ("pytorch", "tensorflow").
context_pools: contextvars.ContextVar[Dict[str, Any]] = contextvars.ContextVar(
    "thinc_fast_context_pools", default={})


def get_ops(name: str, **kwargs: Any) -> Ops:
    """A new backend by name: ``"numpy"`` (alias ``"cpu"``), ``"cupy"`` (alias
    ``"gpu"``; raises GPUUnavailableError without CuPy or a device) or ``"base"``."""
    if name in ("cupy", "gpu"):
        return CupyOps(**kwargs)
    try:
        cls = _OPS_BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"Unknown ops name {name!r}; available: {', '.join(sorted(_OPS_BY_NAME))}"
        ) from None
    return cls(**kwargs)


def prefer_gpu(gpu_id: int = 0) -> bool:
    """Use the GPU backend when CuPy and a device are there; returns whether it does."""
    if gpu_status() is not None:
        return False
    require_gpu(gpu_id)
    return True


def require_gpu(gpu_id: int = 0) -> bool:
    """Use the GPU backend, or raise GPUUnavailableError saying why not."""
    problem = gpu_status()
    if problem is not None:
        raise GPUUnavailableError(problem)
    import cupy  # pragma: no cover - needs a GPU

    cupy.cuda.Device(gpu_id).use()  # pragma: no cover
    set_current_ops(CupyOps(device_id=gpu_id))  # pragma: no cover
    return True  # pragma: no cover


def require_cpu() -> bool:
    """Make the CPU backend (``NumpyOps``) the current one; returns True."""
    set_current_ops(get_ops("cpu"))
    return True


def get_array_ops(array: Any) -> Ops:
    """The backend that owns `array`: CupyOps for CuPy arrays, else NumpyOps."""
    if type(array).__module__.startswith("cupy"):
        return CupyOps()
    return _default_ops


def get_current_ops() -> Ops:
    """The backend new models use (``NumpyOps`` unless changed)."""
    ops = context_ops.get()
    return _default_ops if ops is None else ops


def set_current_ops(ops: Ops) -> None:
    """Make `ops` the current backend."""
    if not isinstance(ops, Ops):
        raise TypeError(f"set_current_ops expects an Ops instance, got {type(ops).__name__}")
    context_ops.set(ops)


@contextlib.contextmanager
def use_ops(name: Union[str, Ops], **kwargs: Any) -> Iterator[Ops]:
    """Within the block, models are created with the backend `name`."""
    ops = name if isinstance(name, Ops) else get_ops(name, **kwargs)
    token = context_ops.set(ops)
    try:
        yield ops
    finally:
        context_ops.reset(token)


def blis_info() -> Dict[str, Any]:
    """blis's kernel configuration and how it was chosen, for bug reports."""
    info: Dict[str, Any] = dict(_blis_arch.configure())
    info["active"] = _blis_arch.active_arch()
    return info


__all__ = ["Ops", "NumpyOps", "CupyOps", "SizedGenerator", "get_ops", "get_current_ops",
           "set_current_ops", "use_ops",
           "set_num_threads", "get_num_threads", "blis_info", "prefer_gpu", "require_gpu",
           "get_array_ops", "AppleOps", "MPSOps", "context_ops", "context_pools", "require_cpu",
           "ParamServer",
           "gpu_status"]
