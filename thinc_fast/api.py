"""The public facade: everything a user imports comes from here."""
from .backends import (CupyOps, NumpyOps, Ops, get_current_ops, get_ops, prefer_gpu,
                       require_gpu, set_current_ops, use_ops)
from .checkpoint import load_checkpoint, save_checkpoint
from .config import Config, ConfigValidationError, registry
from .data import fix_random_seed, minibatch, to_categorical
from .initializers import glorot_uniform_init, he_normal_init, zero_init
from .layers import (Dropout, LayerNorm, Linear, Maxout, Relu, Softmax, chain, clone,
                     concatenate, noop, residual)
from .loss import (CategoricalCrossentropy, CosineDistance, L2Distance, Loss,
                   SequenceCategoricalCrossentropy)
from .model import Model
from .model import (Shim, change_attr_values, deserialize_attr, serialize_attr,
                    set_dropout_rate, wrap_model_recursive)
from .layers import Softmax_v2, with_debug
from .layers import (ClippedLinear, Dish, Gelu, HardSigmoid, HardSwish, HardSwishMobilenet,
                     HardTanh, Logistic, Mish, ReluK, Sigmoid, Swish, sigmoid_activation,
                     softmax_activation)
from .initializers import (configure_normal_init, configure_uniform_init, glorot_normal_init,
                           he_uniform_init, lecun_normal_init, lecun_uniform_init, normal_init,
                           uniform_init)
from .util import (data_validation, get_array_module, get_width, has_cupy, is_cupy_array,
                   to_numpy, torch2xp, xp2torch)
from .optimizers import SGD, Adam, Optimizer, RAdam
from .schedules import (Schedule, compounding, constant, constant_then, cosine_decay,
                        cyclic_triangular, decaying, exponential_decay, join, piecewise,
                        piecewise_constant, plateau, slanted_triangular, warmup_cosine,
                        warmup_linear)

from .types import (ArgsKwargs, ArrayXd, Floats1d, Floats2d, Floats3d, Floats4d, FloatsXd,
                    Ints1d, Ints2d, Ints3d, Ints4d, Padded, Pairs, Ragged, Unserializable)
from .layers import (add, array_getitem, bidirectional, expand_window, floats_getitem,
                     ints_getitem, list2array, list2padded, list2ragged, map_list, padded2list,
                     premap_ids, ragged2list, reduce_first, reduce_last, reduce_max, reduce_mean,
                     reduce_sum, remap_ids, remap_ids_v2, resizable, siamese, strings2arrays,
                     tuplify, uniqued, with_array, with_array2d, with_cpu, with_flatten,
                     with_flatten_v2, with_getitem, with_list, with_padded, with_ragged,
                     with_reshape)
from .compat import enable_mxnet, enable_tensorflow
from .backends import (AppleOps, MPSOps, require_cpu, set_active_gpu, set_gpu_allocator,
                       use_pytorch_for_gpu_memory, use_tensorflow_for_gpu_memory)
from .layers import CauchySimilarity, with_nvtx_range, with_signpost_interval
from .util import DataValidationError
from .errors import ThincFastError
from .step import StepResult, apply_update, train_step
from .training import load_model
from .layers import (LSTM, Embed, HashEmbed, MultiSoftmax, ParametricAttention,
                     ParametricAttention_v2, PyTorchLSTM, SparseLinear, SparseLinear_v2)

__all__ = [
    "train_step", "apply_update", "StepResult", "load_model", "ThincFastError",
    "Model", "Ops", "NumpyOps", "CupyOps", "get_ops", "use_ops", "get_current_ops",
    "set_current_ops",
    "prefer_gpu", "require_gpu",
    "Linear", "Relu", "Softmax", "Dropout", "LayerNorm", "Maxout",
    "chain", "residual", "concatenate", "clone", "noop",
    "Adam", "SGD", "RAdam", "Optimizer",
    "Loss", "CategoricalCrossentropy", "SequenceCategoricalCrossentropy", "L2Distance",
    "CosineDistance",
    "Schedule", "constant", "constant_then", "decaying", "compounding", "warmup_linear",
    "slanted_triangular", "cyclic_triangular", "cosine_decay", "warmup_cosine",
    "exponential_decay", "piecewise", "piecewise_constant", "join", "plateau",
    "Config", "ConfigValidationError", "registry",
    "save_checkpoint", "load_checkpoint",
    "minibatch", "to_categorical", "fix_random_seed",
    "glorot_uniform_init", "he_normal_init", "zero_init",
    "Shim", "change_attr_values", "set_dropout_rate", "wrap_model_recursive", "serialize_attr",
    "deserialize_attr", "Softmax_v2", "with_debug", "glorot_normal_init", "he_uniform_init",
    "lecun_normal_init", "lecun_uniform_init", "normal_init", "uniform_init",
    "configure_normal_init", "configure_uniform_init", "data_validation", "get_array_module",
    "get_width", "has_cupy", "is_cupy_array", "to_numpy", "torch2xp", "xp2torch",
    "ClippedLinear", "Dish", "Gelu", "HardSigmoid", "HardSwish", "HardSwishMobilenet", "HardTanh",
    "Logistic", "Mish", "ReluK", "Sigmoid", "Swish", "sigmoid_activation", "softmax_activation",
    "Ragged", "Padded", "ArgsKwargs", "Unserializable", "enable_mxnet", "enable_tensorflow",
    "Pairs", "Floats1d", "Floats2d", "Floats3d", "Floats4d", "FloatsXd", "Ints1d", "Ints2d",
    "Ints3d", "Ints4d", "ArrayXd",
    "add", "array_getitem", "bidirectional", "expand_window", "floats_getitem", "ints_getitem",
    "list2array", "list2padded", "list2ragged", "map_list", "padded2list", "premap_ids",
    "ragged2list", "reduce_first", "reduce_last", "reduce_max", "reduce_mean", "reduce_sum",
    "remap_ids", "remap_ids_v2", "resizable", "siamese", "strings2arrays", "tuplify", "uniqued",
    "with_array", "with_array2d", "with_cpu", "with_flatten", "with_flatten_v2", "with_getitem",
    "with_list", "with_padded", "with_ragged", "with_reshape",
    "Embed", "HashEmbed", "LSTM", "PyTorchLSTM", "MultiSoftmax", "ParametricAttention",
    "ParametricAttention_v2", "SparseLinear", "SparseLinear_v2",
    "AppleOps", "MPSOps", "require_cpu", "set_active_gpu", "set_gpu_allocator",
    "use_pytorch_for_gpu_memory", "use_tensorflow_for_gpu_memory", "CauchySimilarity",
    "with_nvtx_range", "with_signpost_interval", "DataValidationError",
]

# PyTorch interop (torch is imported only when used) and Thinc's TensorFlow/MXNet
# names, which raise an error naming the alternatives when used.
from .shims import (MXNetShim, PyTorchGradScaler, PyTorchShim, TensorFlowShim,  # noqa: E402
                    TorchScriptShim, keras_model_fns, maybe_handshake_model)
from .util import (get_torch_default_device, mxnet2xp, tensorflow2xp, xp2mxnet,  # noqa: E402
                   xp2tensorflow)
from .layers import (MXNetWrapper, PyTorchRNNWrapper, PyTorchWrapper,  # noqa: E402
                     PyTorchWrapper_v2, PyTorchWrapper_v3, TensorFlowWrapper,
                     TorchScriptWrapper_v1, keras_subclass, pytorch_to_torchscript_wrapper)

__all__ += [
    "PyTorchGradScaler", "PyTorchShim", "TensorFlowShim", "keras_model_fns", "MXNetShim",
    "TorchScriptShim", "maybe_handshake_model", "tensorflow2xp", "xp2tensorflow", "mxnet2xp",
    "xp2mxnet", "get_torch_default_device", "PyTorchWrapper", "PyTorchRNNWrapper",
    "TensorFlowWrapper", "keras_subclass", "MXNetWrapper", "PyTorchWrapper_v2",
    "PyTorchWrapper_v3", "TorchScriptWrapper_v1", "pytorch_to_torchscript_wrapper",
]
