"""Thinc's ``thinc.backends._custom_kernels`` names, backed by thinc_fast's own
CUDA sources (``src/cuda/kernels.cu``).

``KERNELS_LIST`` names the kernels; ``KERNELS`` is an object whose
``get_function(name)`` compiles (once per device) and returns one of them, or
None without a usable GPU; ``compile_mmh()`` returns the MurmurHash3 kernel
behind ``CupyOps.hash`` (None without a GPU). Importable without CuPy.
"""
from typing import Any, List, Optional

from ._cuda import KERNEL_NAMES, get_kernel
from .cupy_ops import gpu_status

KERNELS_LIST: List[str] = list(KERNEL_NAMES)


class _KernelModule:
    """The compiled kernels of kernels.cu, looked up by name."""

    def get_function(self, name: str) -> Any:
        if name not in KERNEL_NAMES:
            raise KeyError(f"no CUDA kernel named {name!r}; known: {', '.join(KERNELS_LIST)}")
        return get_kernel(name)


KERNELS: Optional[_KernelModule] = _KernelModule() if gpu_status() is None else None


def compile_mmh() -> Any:
    """The MurmurHash3 kernel (``thf_hash_u64``), or None without a GPU."""
    if gpu_status() is not None:
        return None
    return get_kernel("thf_hash_u64")
