"""Thinc's MXNet shim name. thinc_fast does not support MXNet: ``MXNetShim``
exists so that imports work, and constructing one raises
:class:`~thinc_fast._unsupported.UnsupportedFrameworkError` (an ImportError)
that names the alternatives (PyTorchWrapper, or real Thinc)."""
from __future__ import annotations

from typing import Any

from .._unsupported import unsupported
from .shim import Shim


class MXNetShim(Shim):
    """Thinc's MXNet shim; constructing one raises."""

    def __init__(self, model: Any, config: Any = None, optimizer: Any = None) -> None:
        unsupported("MXNet", "MXNetShim")


__all__ = ["MXNetShim"]
