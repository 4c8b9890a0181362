"""Thinc's TensorFlow shim names. thinc_fast does not support TensorFlow: each
name exists so that imports work, and using it raises
:class:`~thinc_fast._unsupported.UnsupportedFrameworkError` (an ImportError)
that names the alternatives (PyTorchWrapper, or real Thinc)."""
from __future__ import annotations

from typing import Any, NoReturn

from .._unsupported import unsupported
from .shim import Shim


class TensorFlowShim(Shim):
    """Thinc's TensorFlow/Keras shim; constructing one raises."""

    def __init__(self, model: Any, config: Any = None, optimizer: Any = None) -> None:
        unsupported("TensorFlow", "TensorFlowShim")


class _KerasModelFns:
    """Stands in for Thinc's ``keras_model_fns`` registry (the catalogue of
    functions that rebuild Keras subclass models); using it raises."""

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        unsupported("TensorFlow", "keras_model_fns")

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("_"):  # probes by tools (copy, pickle, inspect) stay quiet
            raise AttributeError(name)
        unsupported("TensorFlow", f"keras_model_fns.{name}")

    def __repr__(self) -> str:
        return "<keras_model_fns: not available, thinc_fast does not support TensorFlow>"


keras_model_fns = _KerasModelFns()


def maybe_handshake_model(keras_model: Any) -> NoReturn:
    """Thinc's Keras subclass initialisation helper; calling it raises."""
    unsupported("TensorFlow", "maybe_handshake_model")


__all__ = ["TensorFlowShim", "keras_model_fns", "maybe_handshake_model"]
