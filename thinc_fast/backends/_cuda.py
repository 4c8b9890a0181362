"""Loads the CUDA kernels of ``src/cuda/*.cu`` once per device (cupy.RawModule)."""
import threading
from pathlib import Path
from typing import Any, Dict, Tuple

KERNEL_NAMES = ("thf_bias_relu", "thf_bias_add", "thf_relu_backward", "thf_colsum_inc",
                "thf_softmax_rows", "thf_sumsq", "thf_adam", "thf_sgd",
                # sequences, hashing and embeddings
                "thf_hash_u64", "thf_seq2col", "thf_backprop_seq2col", "thf_gather_add",
                "thf_reduce_sum", "thf_reduce_max", "thf_backprop_reduce_sum",
                "thf_backprop_reduce_max")
_modules: Dict[int, Any] = {}
_kernels: Dict[Tuple[int, str], Any] = {}
_lock = threading.Lock()


def cuda_source_path() -> Path:
    """Where kernels.cu is: package data of an installed thinc_fast
    (thinc_fast/_cuda/), or src/cuda/ of a source checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_cuda" / "kernels.cu", package.parent / "src" / "cuda" / "kernels.cu"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("thinc_fast's CUDA sources (kernels.cu) are missing from this install")


def cuda_source() -> str:
    """The kernels' CUDA source."""
    return cuda_source_path().read_text(encoding="utf8")


def get_kernel(name: str) -> Any:
    """The compiled kernel `name` for the current device (compiled on first use).

    The kernel objects are kept per device: CuPy's ``RawModule.get_function``
    makes a new ``RawKernel`` at every call, which then looks its module up in
    CuPy's cache at every launch."""
    import cupy

    device = cupy.cuda.Device().id
    kernel = _kernels.get((device, name))
    if kernel is not None:
        return kernel
    with _lock:
        module = _modules.get(device)
        if module is None:
            module = cupy.RawModule(code=cuda_source(), options=("--std=c++11",),
                                    name_expressions=None)
            _modules[device] = module
        kernel = _kernels[(device, name)] = module.get_function(name)
    return kernel


def launch_shape(n: int, threads: int = 256, max_blocks: int = 4096) -> Tuple[Tuple[int], Tuple[int]]:
    blocks = max(1, min(max_blocks, (n + threads - 1) // threads))
    return (blocks,), (threads,)
