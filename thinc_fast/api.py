"""The public facade: everything a user imports comes from here.

PyTorch interop is imported with the rest: torch itself is imported only when used.
Thinc's TensorFlow and MXNet names raise an error naming the alternatives when used.
"""
from .backends import (AppleOps, CupyOps, MPSOps, NumpyOps, Ops, get_current_ops, get_ops,
                       prefer_gpu, require_cpu, require_gpu, set_current_ops, use_ops)
from .checkpoint import load_checkpoint, save_checkpoint
from .compat import enable_mxnet, enable_tensorflow
from .config import Config, ConfigValidationError, registry
from .data import fix_random_seed, minibatch, to_categorical
from .devices import (set_active_gpu, set_gpu_allocator, use_pytorch_for_gpu_memory,
                      use_tensorflow_for_gpu_memory)
from .errors import ThincFastError
from .initializers import (configure_normal_init, configure_uniform_init, glorot_normal_init,
                           glorot_uniform_init, he_normal_init, he_uniform_init, lecun_normal_init,
                           lecun_uniform_init, normal_init, uniform_init, zero_init)
from .layers import (LSTM, CauchySimilarity, ClippedLinear, Dish, Dropout, Embed, Gelu,
                     HardSigmoid, HardSwish, HardSwishMobilenet, HardTanh, HashEmbed, LayerNorm,
                     Linear, Logistic, MXNetWrapper, Maxout, Mish, MultiSoftmax,
                     ParametricAttention, ParametricAttention_v2, PyTorchLSTM, PyTorchRNNWrapper,
                     PyTorchWrapper, PyTorchWrapper_v2, PyTorchWrapper_v3, Relu, ReluK, Sigmoid,
                     Softmax, Softmax_v2, SparseLinear, SparseLinear_v2, Swish, TensorFlowWrapper,
                     TorchScriptWrapper_v1, add, array_getitem, bidirectional, chain, clone,
                     concatenate, expand_window, floats_getitem, ints_getitem, keras_subclass,
                     list2array, list2padded, list2ragged, map_list, noop, padded2list, premap_ids,
                     pytorch_to_torchscript_wrapper, ragged2list, reduce_first, reduce_last,
                     reduce_max, reduce_mean, reduce_sum, remap_ids, remap_ids_v2, residual,
                     resizable, siamese, sigmoid_activation, softmax_activation, strings2arrays,
                     tuplify, uniqued, with_array, with_array2d, with_cpu, with_debug,
                     with_flatten, with_flatten_v2, with_getitem, with_list, with_nvtx_range,
                     with_padded, with_ragged, with_reshape, with_signpost_interval)
from .loss import (CategoricalCrossentropy, CosineDistance, L2Distance, Loss,
                   SequenceCategoricalCrossentropy, SummedCrossentropy)
from .model import (Model, Shim, change_attr_values, deserialize_attr, serialize_attr,
                    set_dropout_rate, wrap_model_recursive)
from .optimizers import SGD, Adam, Optimizer, RAdam
from .schedules import (Schedule, compounding, constant, constant_then, cosine_decay,
                        cyclic_triangular, decaying, exponential_decay, join, piecewise,
                        piecewise_constant, plateau, slanted_triangular, warmup_cosine,
                        warmup_linear)
from .shims import (MXNetShim, PyTorchGradScaler, PyTorchShim, TensorFlowShim, TorchScriptShim,
                    keras_model_fns, maybe_handshake_model)
from .step import StepResult, apply_update, train_step
from .training import load_model
from .types import (ArgsKwargs, ArrayXd, Floats1d, Floats2d, Floats3d, Floats4d, FloatsXd, Ints1d,
                    Ints2d, Ints3d, Ints4d, Padded, Pairs, Ragged, Unserializable)
from .util import (DataValidationError, data_validation, get_array_module,
                   get_torch_default_device, get_width, has_cupy, is_cupy_array, mxnet2xp,
                   tensorflow2xp, to_numpy, torch2xp, xp2mxnet, xp2tensorflow, xp2torch)

__all__ = [
    "train_step", "apply_update", "StepResult", "SummedCrossentropy", "load_model",
    "ThincFastError",
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
    # PyTorch interop; Thinc's TensorFlow/MXNet names
    "PyTorchGradScaler", "PyTorchShim", "TensorFlowShim", "keras_model_fns", "MXNetShim",
    "TorchScriptShim", "maybe_handshake_model", "tensorflow2xp", "xp2tensorflow", "mxnet2xp",
    "xp2mxnet", "get_torch_default_device", "PyTorchWrapper", "PyTorchRNNWrapper",
    "TensorFlowWrapper", "keras_subclass", "MXNetWrapper", "PyTorchWrapper_v2",
    "PyTorchWrapper_v3", "TorchScriptWrapper_v1", "pytorch_to_torchscript_wrapper",
]
