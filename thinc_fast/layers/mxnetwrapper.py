"""Thinc's MXNet layer name. thinc_fast does not support MXNet: calling
``MXNetWrapper`` (also registered as "MXNetWrapper.v1", as in Thinc) raises
:class:`~thinc_fast._unsupported.UnsupportedFrameworkError` (an ImportError)
that names the alternatives (PyTorchWrapper, or real Thinc)."""
from __future__ import annotations

from typing import Any, Callable, NoReturn, Optional, Type

from .._builtins import builtin
from .._unsupported import unsupported
from ..model import Model


@builtin("layers", "MXNetWrapper.v1")
def MXNetWrapper(mxnet_model: Any, convert_inputs: Optional[Callable] = None,
                 convert_outputs: Optional[Callable] = None, model_class: Type[Model] = Model,
                 model_name: str = "mxnet") -> NoReturn:
    """Thinc's MXNet model wrapper; calling it raises."""
    unsupported("MXNet", "MXNetWrapper")


__all__ = ["MXNetWrapper"]
