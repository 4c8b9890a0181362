"""The TensorFlow and MXNet names of Thinc's API, kept as stubs that explain.

Thinc 9 still ships (deprecated) TensorFlow and MXNet wrappers; thinc_fast
supports PyTorch only. So that code written for Thinc imports cleanly, every
TensorFlow/MXNet name exists here, and using one (calling the function,
constructing the shim) raises :class:`UnsupportedFrameworkError` saying what
to use instead. The error is an ``ImportError``, which is what Thinc raises
when the framework is not installed, so ``except ImportError`` fallbacks keep
working.

This module imports nothing, so any module may use it.
"""
from typing import Any, NoReturn

_ADVICE = {
    "TensorFlow": (
        "Wrap a PyTorch model instead (thinc_fast.api.PyTorchWrapper_v3), or, to keep the "
        "TensorFlow model, use real Thinc: pip install 'thinc>=9.1,<9.2' tensorflow, then "
        "call thinc.api.enable_tensorflow()."),
    "MXNet": (
        "Wrap a PyTorch model instead (thinc_fast.api.PyTorchWrapper_v3), or, to keep the "
        "MXNet model, use real Thinc: pip install 'thinc>=9.1,<9.2' mxnet, then call "
        "thinc.api.enable_mxnet()."),
}


class UnsupportedFrameworkError(ImportError):
    """Raised when a TensorFlow or MXNet feature of Thinc's API is used."""


def unsupported(framework: str, what: str) -> NoReturn:
    """Raise :class:`UnsupportedFrameworkError` for `what` of `framework`."""
    raise UnsupportedFrameworkError(
        f"{what} is not available: thinc_fast does not support {framework}. "
        f"{_ADVICE[framework]}")


def _stub(framework: str, name: str, doc: str) -> Any:
    def stub(*args: Any, **kwargs: Any) -> NoReturn:
        unsupported(framework, name)

    stub.__name__ = stub.__qualname__ = name
    stub.__doc__ = (f"{doc}\n\nthinc_fast does not support {framework}: calling this raises "
                    "UnsupportedFrameworkError (an ImportError) naming the alternatives.")
    return stub


xp2tensorflow = _stub("TensorFlow", "xp2tensorflow",
                      "Thinc's NumPy/CuPy array -> TensorFlow tensor conversion.")
tensorflow2xp = _stub("TensorFlow", "tensorflow2xp",
                      "Thinc's TensorFlow tensor -> NumPy/CuPy array conversion.")
xp2mxnet = _stub("MXNet", "xp2mxnet", "Thinc's NumPy/CuPy array -> MXNet NDArray conversion.")
mxnet2xp = _stub("MXNet", "mxnet2xp", "Thinc's MXNet NDArray -> NumPy/CuPy array conversion.")

__all__ = ["UnsupportedFrameworkError", "unsupported", "xp2tensorflow", "tensorflow2xp",
           "xp2mxnet", "mxnet2xp"]
