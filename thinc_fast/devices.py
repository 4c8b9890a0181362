"""Which GPU the process computes on, and whose allocator CuPy uses: Thinc's
``set_active_gpu``, ``set_gpu_allocator``, ``use_pytorch_for_gpu_memory`` and
``use_tensorflow_for_gpu_memory``.

They sit above the backends (which pick the array library) and ``compat``
(which says whether PyTorch is there), and both are asked here.
"""
from typing import Any

from . import compat
from .backends import CupyOps, context_pools, get_current_ops, gpu_status


def set_active_gpu(gpu_id: int) -> Any:
    """Make GPU `gpu_id` the current CUDA device of CuPy (and of PyTorch, when it
    sees a CUDA device); returns CuPy's ``Device``. Raises ValueError without a GPU."""
    problem = gpu_status()
    if problem is not None:
        raise ValueError(f"No CUDA GPU devices detected: {problem}")
    import cupy  # pragma: no cover - needs a GPU

    device = cupy.cuda.Device(gpu_id)  # pragma: no cover
    device.use()  # pragma: no cover
    if compat.has_torch_cuda_gpu:  # pragma: no cover
        compat.torch.cuda.set_device(gpu_id)
    return device  # pragma: no cover


def set_gpu_allocator(allocator: str) -> None:
    """Let CuPy take its GPU memory from another framework's allocator, so the
    two do not each keep a pool of free memory: ``"pytorch"`` or ``"tensorflow"``
    (the latter is not supported by thinc_fast and raises)."""
    if allocator == "pytorch":
        use_pytorch_for_gpu_memory()
    elif allocator == "tensorflow":
        use_tensorflow_for_gpu_memory()
    else:
        raise ValueError(f"Invalid 'gpu_allocator' argument: {allocator!r}. Available "
                         f"allocators are: 'pytorch', 'tensorflow'")


def use_pytorch_for_gpu_memory() -> None:
    """Route CuPy's GPU allocations through PyTorch's caching allocator (a no-op
    unless the current backend is the GPU one, as in Thinc, where PyTorch's
    default device follows the current ops). Raises ImportError without PyTorch."""
    if not compat.has_torch:
        raise ImportError("use_pytorch_for_gpu_memory needs PyTorch: pip install torch")
    if not isinstance(get_current_ops(), CupyOps):
        return
    torch = compat.torch  # pragma: no cover - needs a GPU
    import cupy  # pragma: no cover - needs a GPU

    def malloc(size: int) -> Any:  # pragma: no cover - needs a GPU
        # a uint8 tensor owns the memory; CuPy's UnownedMemory keeps it alive
        block = torch.empty((size,), dtype=torch.uint8, device="cuda")
        memory = cupy.cuda.UnownedMemory(block.data_ptr(), size, block)
        return cupy.cuda.MemoryPointer(memory, 0)

    pools = context_pools.get()  # pragma: no cover
    if "pytorch" not in pools:  # pragma: no cover
        pools["pytorch"] = cupy.cuda.MemoryPool(allocator=malloc)
    cupy.cuda.set_allocator(pools["pytorch"].malloc)  # pragma: no cover


def use_tensorflow_for_gpu_memory() -> None:
    """Thinc routes CuPy's memory through TensorFlow here; thinc_fast has no
    TensorFlow support, so this raises naming the alternatives."""
    raise NotImplementedError(
        "thinc_fast does not support TensorFlow, so it cannot route GPU memory through it: "
        "use set_gpu_allocator('pytorch'), or real Thinc (pip install thinc tensorflow)")


__all__ = ["set_active_gpu", "set_gpu_allocator", "use_pytorch_for_gpu_memory",
           "use_tensorflow_for_gpu_memory"]
