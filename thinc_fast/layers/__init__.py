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
from .add import add
from .array_getitem import array_getitem, floats_getitem, ints_getitem
from .bidirectional import bidirectional
from .expand_window import expand_window
from .list2array import list2array
from .list2padded import list2padded
from .list2ragged import list2ragged
from .map_list import map_list
from .padded2list import padded2list
from .premap_ids import premap_ids
from .ragged2list import ragged2list
from .reduce_first import reduce_first
from .reduce_last import reduce_last
from .reduce_max import reduce_max
from .reduce_mean import reduce_mean
from .reduce_sum import reduce_sum
from .remap_ids import remap_ids, remap_ids_v2
from .resizable import resizable
from .siamese import siamese
from .strings2arrays import strings2arrays
from .tuplify import tuplify
from .uniqued import uniqued
from .with_array import with_array
from .with_array2d import with_array2d
from .with_cpu import with_cpu
from .with_flatten import with_flatten
from .with_flatten_v2 import with_flatten_v2
from .with_getitem import with_getitem
from .with_list import with_list
from .with_padded import with_padded
from .with_ragged import with_ragged
from .with_reshape import with_reshape
from .embed import Embed
from .hashembed import HashEmbed
from .lstm import LSTM, PyTorchLSTM
from .multisoftmax import MultiSoftmax
from .parametricattention import ParametricAttention
from .parametricattention_v2 import ParametricAttention_v2
from .sparselinear import SparseLinear, SparseLinear_v2
from .cauchysimilarity import CauchySimilarity
from .with_ranges import with_nvtx_range, with_signpost_interval

__all__ = ["chain", "chain_any", "clone", "noop", "concatenate", "Dropout", "LayerNorm", "Linear",
           "Maxout", "Relu", "residual", "Softmax", "Softmax_v2", "with_debug",
           "ClippedLinear", "Dish", "Gelu", "HardSigmoid", "HardSwish", "HardSwishMobilenet",
           "HardTanh", "Mish", "ReluK", "Sigmoid", "Swish", "Logistic", "sigmoid_activation",
           "softmax_activation",
           "add", "array_getitem", "floats_getitem", "ints_getitem", "bidirectional",
           "expand_window", "list2array", "list2padded", "list2ragged", "map_list",
           "padded2list", "premap_ids", "ragged2list", "reduce_first", "reduce_last",
           "reduce_max", "reduce_mean", "reduce_sum", "remap_ids", "remap_ids_v2", "resizable",
           "siamese", "strings2arrays", "tuplify", "uniqued", "with_array", "with_array2d",
           "with_cpu", "with_flatten", "with_flatten_v2", "with_getitem", "with_list",
           "with_padded", "with_ragged", "with_reshape",
           "Embed", "HashEmbed", "LSTM", "PyTorchLSTM", "MultiSoftmax", "ParametricAttention",
           "ParametricAttention_v2", "SparseLinear", "SparseLinear_v2",
           "CauchySimilarity", "with_nvtx_range", "with_signpost_interval"]

# PyTorch wrappers (torch is imported only when one is built) and Thinc's
# TensorFlow/MXNet names, which raise an error naming the alternatives.
from .pytorchwrapper import (PyTorchRNNWrapper, PyTorchWrapper, PyTorchWrapper_v2,  # noqa: E402
                             PyTorchWrapper_v3)
from .torchscriptwrapper import TorchScriptWrapper_v1, pytorch_to_torchscript_wrapper  # noqa: E402
from .tensorflowwrapper import TensorFlowWrapper, keras_subclass  # noqa: E402
from .mxnetwrapper import MXNetWrapper  # noqa: E402

__all__ += ["PyTorchWrapper", "PyTorchWrapper_v2", "PyTorchWrapper_v3", "PyTorchRNNWrapper",
            "TorchScriptWrapper_v1", "pytorch_to_torchscript_wrapper", "TensorFlowWrapper",
            "keras_subclass", "MXNetWrapper"]
