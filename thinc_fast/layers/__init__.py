"""Layers: functions that build a :class:`~thinc_fast.model.Model`."""
from .activations import Logistic, sigmoid_activation, softmax_activation
from .chain import chain, chain_any
from .clone import clone, noop
from .concatenate import concatenate
from .dense_activations import (ClippedLinear, Dish, Gelu, HardSigmoid, HardSwish,
                                HardSwishMobilenet, HardTanh, Mish, ReluK, Sigmoid, Swish)
from .dropout import Dropout
from .layernorm import LayerNorm
from .linear import Linear
from .maxout import Maxout
from .relu import Relu
from .residual import residual
from .softmax import Softmax, Softmax_v2
from .with_debug import with_debug

__all__ = ["chain", "clone", "noop", "concatenate", "Dropout", "LayerNorm", "Linear",
           "Maxout", "Relu", "residual", "Softmax", "Softmax_v2", "with_debug",
           "ClippedLinear", "Dish", "Gelu", "HardSigmoid", "HardSwish", "HardSwishMobilenet",
           "HardTanh", "Mish", "ReluK", "Sigmoid", "Swish", "Logistic", "sigmoid_activation",
           "softmax_activation"]
