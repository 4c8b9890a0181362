"""Layers: functions that build a :class:`~thinc_fast.model.Model`."""
from .chain import chain
from .clone import clone, noop
from .concatenate import concatenate
from .dropout import Dropout
from .layernorm import LayerNorm
from .linear import Linear
from .maxout import Maxout
from .relu import Relu
from .residual import residual
from .softmax import Softmax

__all__ = ["chain", "clone", "noop", "concatenate", "Dropout", "LayerNorm", "Linear",
           "Maxout", "Relu", "residual", "Softmax"]
