"""Thinc's TensorFlow layer names. thinc_fast does not support TensorFlow:
calling one raises :class:`~thinc_fast._unsupported.UnsupportedFrameworkError`
(an ImportError) that names the alternatives (PyTorchWrapper, or real Thinc)."""
from __future__ import annotations

from typing import Any, Callable, Dict, NoReturn, Optional, Tuple, Type

from .._unsupported import unsupported
from ..model import Model


def TensorFlowWrapper(tensorflow_model: Any, convert_inputs: Optional[Callable] = None,
                      convert_outputs: Optional[Callable] = None, optimizer: Optional[Any] = None,
                      model_class: Type[Model] = Model,
                      model_name: str = "tensorflow") -> NoReturn:
    """Thinc's TensorFlow/Keras model wrapper; calling it raises."""
    unsupported("TensorFlow", "TensorFlowWrapper")


def keras_subclass(name: str, X: Any, Y: Any, input_shape: Tuple[int, ...],
                   compile_args: Optional[Dict[str, Any]] = None) -> NoReturn:
    """Thinc's decorator for serializable Keras subclass models; calling it raises."""
    unsupported("TensorFlow", "keras_subclass")


__all__ = ["TensorFlowWrapper", "keras_subclass"]
