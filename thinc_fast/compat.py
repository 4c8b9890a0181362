"""Which optional libraries are there: Thinc's ``thinc.compat`` names.

Nothing heavy is imported when this module is imported. The flags that only need
to know whether a package is installed come from ``importlib.util.find_spec`` (and
``torch_version`` from the installed distribution's metadata); the names that need
the library itself (``torch``, ``has_torch_amp``, ``has_torch_cuda_gpu``, ``cupy``,
``has_cupy_gpu``, ``h5py``...) are computed on first access (PEP 562 module
``__getattr__``) and then cached as ordinary module attributes, so
``from thinc_fast.compat import has_torch`` never imports PyTorch, while
``from thinc_fast.compat import torch`` does.

CuPy and the GPU are detected by the backends (``thinc_fast.backends.cupy_ops``:
its ``cupy`` import and ``gpu_status()``); this module only reads that answer.

TensorFlow and MXNet support are not part of thinc_fast: ``has_tensorflow`` and
``has_mxnet`` stay False unless :func:`enable_tensorflow` / :func:`enable_mxnet`
(Thinc's deprecated opt-ins) are called.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import platform
import warnings
from typing import Any, Callable, Dict, Optional, Tuple


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or half-imported package
        return False


def _version(text: Optional[str]) -> Any:
    """``packaging.version.Version(text)`` ("0.0.0" when None); a tuple of the
    release numbers when ``packaging`` is not installed."""
    text = "0.0.0" if text is None else str(text)
    try:
        from packaging.version import Version
    except ImportError:  # pragma: no cover - packaging is nearly always there
        release = text.split("+")[0].split("-")[0]
        return tuple(int(part) if part.isdigit() else 0 for part in release.split(".")[:3])
    return Version(text)


def _dist_version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


# --------------------------------------------------- cheap, computed at import
has_torch: bool = _installed("torch")
torch_version = _version(_dist_version("torch") if has_torch else None)
has_blis: bool = _installed("blis")
has_os_signpost: bool = _installed("os_signpost")
# Thinc's AppleOps ships with Thinc on macOS; thinc_fast has no Apple backend, but
# the flag keeps Thinc's meaning (what the platform is).
has_apple_ops: bool = platform.system() == "Darwin"

tensorflow: Any = None
has_tensorflow: bool = False
has_tensorflow_gpu: bool = False
mxnet: Any = None
has_mxnet: bool = False


# ---------------------------------------------- lazy: computed on first access
def _cupy_names() -> Dict[str, Any]:
    from .backends.cupy_ops import cupy, gpu_status  # the backends own GPU detection

    if cupy is None:
        return {"cupy": None, "cupyx": None, "cublas": None, "has_cupy": False,
                "has_cupy_gpu": False, "cupy_version": _version(None),
                "cupy_from_dlpack": None}
    try:  # pragma: no cover - needs CuPy
        import cupy.cublas
        import cupyx
    except (ImportError, AttributeError):  # pragma: no cover
        cupyx = None
    return {  # pragma: no cover - needs CuPy
        "cupy": cupy,
        "cupyx": cupyx,
        "cublas": getattr(cupy, "cublas", None),
        "has_cupy": True,
        "has_cupy_gpu": gpu_status() is None,
        "cupy_version": _version(cupy.__version__),
        "cupy_from_dlpack": getattr(cupy, "from_dlpack", None) or getattr(cupy, "fromDlpack"),
    }


def _torch_names() -> Dict[str, Any]:
    names: Dict[str, Any] = {"torch": None, "has_torch_cuda_gpu": False, "has_torch_gpu": False}
    if not has_torch:
        return names
    try:
        import torch
        import torch.utils.dlpack  # noqa: F401
    except ImportError:  # pragma: no cover - installed but broken
        return names
    names["torch"] = torch
    names["has_torch_cuda_gpu"] = names["has_torch_gpu"] = torch.cuda.device_count() != 0
    return names


def _torch_mps_names() -> Dict[str, Any]:
    """MPS exists only on macOS: elsewhere these are False without importing torch."""
    torch = _get("torch") if has_apple_ops else None
    mps = getattr(getattr(torch, "backends", None), "mps", None)
    built = bool(mps is not None and mps.is_built())
    return {"has_torch_mps": built, "has_torch_mps_gpu": bool(built and mps.is_available())}


def _torch_amp_names() -> Dict[str, Any]:
    names: Dict[str, Any] = {"has_torch_amp": False}
    torch = _get("torch")
    if torch is None:
        return names
    try:
        amp_unavailable = torch.cuda.amp.common.amp_definitely_not_available()
    except AttributeError:  # pragma: no cover - a torch without the helper
        amp_unavailable = not torch.cuda.is_available()
    names["has_torch_amp"] = torch_version >= _version("1.9.0") and not amp_unavailable
    return names


def _optional_module(name: str) -> Callable[[], Dict[str, Any]]:
    def load() -> Dict[str, Any]:
        try:
            return {name: importlib.import_module(name)}
        except ImportError:
            return {name: None}
    return load


def _get(name: str) -> Any:
    return globals()[name] if name in globals() else __getattr__(name)


def _gpu_names() -> Dict[str, Any]:
    return {"has_gpu": bool(_get("has_cupy_gpu") or _get("has_torch_mps_gpu"))}


_LAZY: Dict[Tuple[str, ...], Callable[[], Dict[str, Any]]] = {
    ("cupy", "cupyx", "cublas", "has_cupy", "has_cupy_gpu", "cupy_version",
     "cupy_from_dlpack"): _cupy_names,
    ("torch", "has_torch_cuda_gpu", "has_torch_gpu"): _torch_names,
    ("has_torch_mps", "has_torch_mps_gpu"): _torch_mps_names,
    ("has_torch_amp",): _torch_amp_names,
    ("h5py",): _optional_module("h5py"),
    ("os_signpost",): _optional_module("os_signpost"),
    ("blis",): _optional_module("blis"),
    ("has_gpu",): _gpu_names,
}
_LAZY_BY_NAME = {name: load for names, load in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    load = _LAZY_BY_NAME.get(name)
    if load is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    values = load()
    for key, value in values.items():
        globals().setdefault(key, value)  # cached: __getattr__ is not asked again
    return globals()[name]


def __dir__():
    return sorted(set(globals()) | set(_LAZY_BY_NAME))


# ------------------------------------------------- Thinc's deprecated opt-ins
def enable_tensorflow() -> None:
    """Import TensorFlow and set ``has_tensorflow`` (Thinc's deprecated opt-in;
    thinc_fast has no TensorFlow wrapper)."""
    warnings.warn("Built-in TensorFlow support is deprecated in Thinc and not part of "
                  "thinc_fast; this only imports TensorFlow and sets the compat flags.",
                  DeprecationWarning)
    global tensorflow, has_tensorflow, has_tensorflow_gpu
    import tensorflow as tf
    import tensorflow.experimental.dlpack  # noqa: F401

    tensorflow = tf
    has_tensorflow = True
    has_tensorflow_gpu = len(tf.config.get_visible_devices("GPU")) > 0


def enable_mxnet() -> None:
    """Import MXNet and set ``has_mxnet`` (Thinc's deprecated opt-in; thinc_fast
    has no MXNet wrapper)."""
    warnings.warn("Built-in MXNet support is deprecated in Thinc and not part of "
                  "thinc_fast; this only imports MXNet and sets the compat flags.",
                  DeprecationWarning)
    global mxnet, has_mxnet
    import mxnet as mx

    mxnet = mx
    has_mxnet = True


__all__ = ["cupy", "cupyx", "torch", "tensorflow", "mxnet", "h5py", "os_signpost"]
